"""fer_explain.data.face_batch: rows of a dataset as one batch (model input, labels, display pixels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from fer_explain.data.dataset import FaceDataset
from fer_explain.data.face_batch import FaceBatch, batch_of
from fer_explain.data.synthetic import SyntheticFaceConfig, write_synthetic

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> FaceDataset:
    manifest = write_synthetic(SyntheticFaceConfig(n=14, size=32, seed=4), tmp_path_factory.mktemp("synth"),
                               progress=False)
    return FaceDataset(manifest, size=48, channels=1, normalize=(0.5, 0.25), cache_dir=False, progress=False)


def test_rows_by_index_and_by_mask(tiny_dataset: FaceDataset) -> None:
    ds = tiny_dataset
    batch = batch_of(ds, [3, 0])
    assert isinstance(batch, FaceBatch) and len(batch) == 2
    assert batch.x.shape == (2, 1, 48, 48) and batch.images.shape == (2, 48, 48)
    assert batch.images.dtype == np.uint8 and batch.rows.tolist() == [3, 0]
    assert torch.allclose(batch.x[0, 0], (torch.from_numpy(batch.images[0]).float() / 255 - 0.5) / 0.25, atol=1e-5)
    assert batch.labels.dtype == torch.long and batch.labels.tolist() == [int(ds[3][1]), int(ds[0][1])]
    assert batch_of(ds, range(3)).rows.tolist() == [0, 1, 2]
    mask = np.zeros(len(ds), dtype=bool)
    mask[[1, 5]] = True
    assert batch_of(ds, mask).rows.tolist() == [1, 5]
    with pytest.raises(ValueError, match="no rows selected"):
        batch_of(ds, np.zeros(len(ds), dtype=bool))
    with pytest.raises(ValueError, match="one entry per row"):
        batch_of(ds, np.ones(3, dtype=bool))


def test_a_dataset_without_pixels_is_shown_min_max_scaled() -> None:
    x = torch.stack([torch.linspace(-1, 1, 16).reshape(1, 4, 4), torch.zeros(3, 4, 4)[:1] + 2.0])
    rgb = torch.rand(2, 3, 4, 4)
    grey = batch_of(TensorDataset(x, torch.tensor([2, 5])), [0, 1])
    assert grey.images.shape == (2, 4, 4) and grey.images[0].min() == 0 and grey.images[0].max() == 255
    assert (grey.images[1] == 0).all()  # a constant image: no division by zero
    colour = batch_of(TensorDataset(rgb, torch.tensor([0, 1])), [1])
    assert colour.images.shape == (1, 4, 4, 3) and colour.labels.tolist() == [1]
