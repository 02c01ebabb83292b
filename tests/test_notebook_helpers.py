"""fer_explain.notebook_helpers: the small public helpers the notebook series calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fer_explain import notebook_helpers as nbh
from fer_explain.data.dataset import FaceDataset
from fer_explain.data.synthetic import SyntheticFaceConfig, generate, write_synthetic
from fer_explain.explain import GradCAM, Saliency, se_block_maps
from fer_explain.models import create_model

torch.set_num_threads(1)

META = {"input": {"size": 48, "channels": 1, "mean": [0.5], "std": [0.25], "normalization": "model"}}


def test_model_inputs_normalises_converts_channels_and_resizes() -> None:
    img = np.full((2, 48, 48), 255, dtype=np.uint8)
    img[1] = 0
    x = nbh.model_inputs(img, META)
    assert x.shape == (2, 1, 48, 48)
    assert torch.allclose(x[0], torch.full((1, 48, 48), 2.0))      # (1 - 0.5) / 0.25
    assert torch.allclose(x[1], torch.full((1, 48, 48), -2.0))
    rgb = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    rgb[..., 1] = 255                                               # pure green: luma 0.587
    g = nbh.model_inputs(rgb, {"size": 64, "channels": 1, "mean": [0.0], "std": [1.0]})
    assert g.shape == (1, 1, 64, 64)
    assert torch.allclose(g, torch.full_like(g, 0.587), atol=1e-5)
    grey_to_rgb = nbh.model_inputs(np.full((40, 40), 51, np.uint8), {"size": 40, "channels": 3, "mean": [0, 0, 0],
                                                                   "std": [1, 1, 1]})
    assert grey_to_rgb.shape == (1, 3, 40, 40) and torch.allclose(grey_to_rgb, torch.full_like(grey_to_rgb, 0.2))


def test_input_block_from_model_and_bad_metadata() -> None:
    model = create_model("deep_emotion")
    block = nbh.input_block(model)
    assert block["size"] == model.input_spec.size and block["channels"] == 1
    with pytest.raises(ValueError, match="input lacks"):
        nbh.input_block({"architecture": "x"})


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory):
    return write_synthetic(SyntheticFaceConfig(n=14, size=32, seed=4), tmp_path_factory.mktemp("synth"), progress=False)


def test_checkpoint_dataset_and_batch_of(tiny_manifest) -> None:
    ds = nbh.checkpoint_dataset(tiny_manifest, META, split=None, cache_dir=False)
    assert isinstance(ds, FaceDataset) and ds.size == 48 and len(ds) == 14
    batch = nbh.batch_of(ds, [3, 0])
    assert batch.x.shape == (2, 1, 48, 48) and batch.images.shape == (2, 48, 48)
    assert batch.images.dtype == np.uint8
    assert torch.allclose(batch.x[0, 0], (torch.from_numpy(batch.images[0]).float() / 255 - 0.5) / 0.25, atol=1e-5)
    assert batch.labels.tolist() == [int(ds[3][1]), int(ds[0][1])]
    mask = np.zeros(len(ds), dtype=bool)
    mask[[1, 5]] = True
    assert nbh.batch_of(ds, mask).rows.tolist() == [1, 5]
    with pytest.raises(ValueError, match="no rows selected"):
        nbh.batch_of(ds, np.zeros(len(ds), dtype=bool))


def test_region_mask_dict_puts_the_mouth_where_the_landmarks_are() -> None:
    faces = generate(SyntheticFaceConfig(n=3, size=48, seed=1))
    masks = nbh.region_mask_dict(faces.landmarks, 48, regions=("mouth", "eyes"), margin=1)
    assert list(masks) == ["mouth", "eyes"]
    assert masks["mouth"].shape == (3, 48, 48) and masks["mouth"].dtype == torch.bool
    mouth_rows = masks["mouth"].any(2).float().argmax(1)   # first row of the mouth mask
    eye_rows = masks["eyes"].any(2).float().argmax(1)
    assert bool((mouth_rows > eye_rows).all())


def test_explanation_scores_table() -> None:
    torch.manual_seed(0)
    model = create_model("se_resnet18", num_classes=7, in_chans=1, width=0.125, input_size=32).eval()
    faces = generate(SyntheticFaceConfig(n=4, size=32, seed=2))
    x = nbh.model_inputs(faces.images, model)
    exps = {"gradcam": GradCAM(model).attribute(x), "saliency": Saliency(model).attribute(x)}
    table = nbh.explanation_scores(model, x, exps, masks=faces.evidence_dilated(1), n_steps=4)
    assert list(table.index) == ["gradcam", "saliency"]
    assert list(table.columns) == ["deletion_auc", "insertion_auc", "pointing_game", "relevance_mass"]
    values = table.to_numpy()
    assert np.all((values >= 0) & (values <= 1))
    assert "pointing_game" not in nbh.explanation_scores(model, x, exps, n_steps=2).columns


def test_se_panel_matches_plot_se_maps_arguments() -> None:
    model = create_model("se_resnet18", num_classes=7, in_chans=1, width=0.125, input_size=32).eval()
    blocks, _ = se_block_maps(model, torch.randn(2, 1, 32, 32), top_k=3)
    panel = nbh.se_panel(blocks, 1, top_k=2)
    assert set(panel) == {"feature_maps", "weights", "channel_ids"}
    first = blocks[0].name
    assert panel["weights"][first].shape == (2,)
    assert torch.equal(panel["channel_ids"][first], blocks[0].top_channels[1, :2])
    with pytest.raises(IndexError):
        nbh.se_panel(blocks, 5)


def test_recipe_table_lists_sources() -> None:
    table = nbh.recipe_table("seed004")
    assert table.loc["lr", "source"] == "paper" and table.loc["lr", "value"] == "0.005"
    from fer_explain.train import get_recipe

    assert nbh.recipe_table(get_recipe("seed004", epochs=2)).loc["epochs", "source"] == "override"


def test_environment_helpers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FER_EXPLAIN_TEST_FLAG", raising=False)
    assert nbh.env_flag("FER_EXPLAIN_TEST_FLAG", default=True) is True
    monkeypatch.setenv("FER_EXPLAIN_TEST_FLAG", "Yes")
    assert nbh.env_flag("FER_EXPLAIN_TEST_FLAG") is True
    monkeypatch.setenv("FER_EXPLAIN_TEST_FLAG", "maybe")
    with pytest.raises(ValueError, match="FER_EXPLAIN_TEST_FLAG='maybe'"):
        nbh.env_flag("FER_EXPLAIN_TEST_FLAG")
    monkeypatch.setenv("FER_EXPLAIN_TEST_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="FER_EXPLAIN_TEST_DIR"):
        nbh.env_path("FER_EXPLAIN_TEST_DIR")
    monkeypatch.setenv("FER_EXPLAIN_TEST_DIR", str(tmp_path))
    assert nbh.env_path("FER_EXPLAIN_TEST_DIR") == tmp_path
    monkeypatch.setenv("FER_EXPLAIN_DEVICE", "cpu")
    assert nbh.env_device() == "cpu"


def test_real_manifests_builds_only_the_datasets_that_are_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in nbh.DATASET_ENV.values():
        monkeypatch.delenv(var, raising=False)
    assert nbh.real_manifests() == {}
    for folder, n in (("happy", 2), ("sad", 1)):
        (tmp_path / folder).mkdir()
        for i in range(n):
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / folder / f"{i}.png")
    monkeypatch.setenv("FER_EXPLAIN_IMAGEFOLDER_DIR", str(tmp_path))
    found = nbh.real_manifests({"imagefolder": {"folder_to_label": {"happy": "happiness", "sad": "sadness"}}})
    assert list(found) == ["imagefolder"]
    assert sorted(found["imagefolder"].df["label"]) == ["happiness", "happiness", "sadness"]
    assert nbh.dataset_dirs().set_index("dataset").loc["imagefolder", "folder"] == str(tmp_path)


def test_face_grid_and_save_figure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    faces = generate(SyntheticFaceConfig(n=5, size=32, seed=3))
    fig = nbh.face_grid(faces.images, masks=faces.evidence, labels=faces.labels, classes=faces.label_space.classes,
                        ncols=3)
    visible = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(visible) == 5
    assert visible[0].get_title() == faces.label_space.classes[faces.labels[0]]
    with pytest.raises(ValueError, match="masks must be"):
        nbh.face_grid(faces.images, masks=faces.evidence[:2])

    monkeypatch.delenv(nbh.FIGURES_ENV, raising=False)
    assert nbh.save_figure(fig, "grid") is None
    monkeypatch.setenv(nbh.FIGURES_ENV, str(tmp_path / "figs"))
    path = nbh.save_figure(fig, "grid")
    assert path == tmp_path / "figs" / "grid.png" and path.stat().st_size > 0
    with pytest.raises(ValueError, match="may only contain"):
        nbh.save_figure(fig, "../escape", folder=tmp_path)
    plt.close(fig)


