"""The steps the notebook series calls, at their homes in the package (the old ``notebook_helpers``
grab-bag is gone: CheckpointInput, data.face_batch, faces.regions, explain.metrics, viz, train.recipes,
data.sources and env)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fer_explain.data.dataset import FaceDataset
from fer_explain.data.face_batch import batch_of
from fer_explain.data.sources import DATASET_ENV, dataset_dirs, real_manifests
from fer_explain.data.synthetic import SyntheticFaceConfig, generate, write_synthetic
from fer_explain.explain import GradCAM, Saliency, se_block_maps
from fer_explain.explain.metrics import explanation_scores
from fer_explain.faces.regions import list_regions, region_mask_dict
from fer_explain.models import create_model
from fer_explain.train.inputs import CheckpointInput
from fer_explain.train.recipes import get_recipe, recipe_table
from fer_explain.viz import se_panel

torch.set_num_threads(1)

META = {"input": {"size": 48, "channels": 1, "mean": [0.5], "std": [0.25], "normalization": "model"}}


# --- a checkpoint's input, as the notebooks take it ------------------------------------------------


def test_checkpoint_input_prepares_images_as_the_notebooks_call_it() -> None:
    img = np.full((2, 48, 48), 255, dtype=np.uint8)
    img[1] = 0
    x = CheckpointInput.from_checkpoint(META).prepare(img)
    assert x.shape == (2, 1, 48, 48)
    assert torch.allclose(x[0], torch.full((1, 48, 48), 2.0))      # (1 - 0.5) / 0.25
    assert torch.allclose(x[1], torch.full((1, 48, 48), -2.0))
    model = create_model("deep_emotion")
    inp = CheckpointInput.from_checkpoint({}, model)                # the model's input_spec fills the block
    assert inp.size == model.input_spec.size and inp.channels == 1
    assert inp.black().shape == (1, 1, 1)
    with pytest.raises(ValueError, match="input lacks"):
        CheckpointInput.from_checkpoint({"architecture": "x"})


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory):
    return write_synthetic(SyntheticFaceConfig(n=14, size=32, seed=4), tmp_path_factory.mktemp("synth"), progress=False)


def test_checkpoint_dataset_then_batch_of(tiny_manifest) -> None:
    ds = CheckpointInput.from_checkpoint(META).dataset(tiny_manifest, cache_dir=False)
    assert isinstance(ds, FaceDataset) and ds.size == 48 and len(ds) == 14
    batch = batch_of(ds, [3, 0])
    assert batch.x.shape == (2, 1, 48, 48) and batch.images.shape == (2, 48, 48)
    assert torch.allclose(batch.x[0, 0], (torch.from_numpy(batch.images[0]).float() / 255 - 0.5) / 0.25, atol=1e-5)


# --- regions, metrics, figures, recipes ------------------------------------------------------------


def test_region_mask_dict_puts_the_mouth_where_the_landmarks_are() -> None:
    faces = generate(SyntheticFaceConfig(n=3, size=48, seed=1))
    masks = region_mask_dict(faces.landmarks, 48, regions=("mouth", "eyes"), margin=1)
    assert list(masks) == ["mouth", "eyes"]
    assert masks["mouth"].shape == (3, 48, 48) and masks["mouth"].dtype == torch.bool
    mouth_rows = masks["mouth"].any(2).float().argmax(1)   # first row of the mouth mask
    eye_rows = masks["eyes"].any(2).float().argmax(1)
    assert bool((mouth_rows > eye_rows).all())
    assert list(region_mask_dict(faces.landmarks, 48)) == list_regions()
    assert list(region_mask_dict(faces.landmarks, 48, region_set="seed002")) == list_regions("seed002")


def test_explanation_scores_table() -> None:
    torch.manual_seed(0)
    model = create_model("se_resnet18", num_classes=7, in_chans=1, width=0.125, input_size=32).eval()
    faces = generate(SyntheticFaceConfig(n=4, size=32, seed=2))
    x = CheckpointInput.from_model(model).prepare(faces.images)
    exps = {"gradcam": GradCAM(model).attribute(x), "saliency": Saliency(model).attribute(x)}
    table = explanation_scores(model, x, exps, masks=faces.evidence_dilated(1), n_steps=4)
    assert list(table.index) == ["gradcam", "saliency"] and table.index.name == "method"
    assert list(table.columns) == ["deletion_auc", "insertion_auc", "pointing_game", "relevance_mass"]
    values = table.to_numpy()
    assert np.all((values >= 0) & (values <= 1))
    assert "pointing_game" not in explanation_scores(model, x, exps, n_steps=2).columns


def test_se_panel_matches_plot_se_maps_arguments() -> None:
    model = create_model("se_resnet18", num_classes=7, in_chans=1, width=0.125, input_size=32).eval()
    blocks, _ = se_block_maps(model, torch.randn(2, 1, 32, 32), top_k=3)
    panel = se_panel(blocks, 1, top_k=2)
    assert set(panel) == {"feature_maps", "weights", "channel_ids"}
    first = blocks[0].name
    assert list(panel["weights"]) == [b.name for b in blocks]
    assert panel["weights"][first].shape == (2,)
    assert torch.equal(panel["channel_ids"][first], blocks[0].top_channels[1, :2])
    with pytest.raises(IndexError):
        se_panel(blocks, 5)
    with pytest.raises(ValueError, match="no SE blocks"):
        se_panel([], 0)


def test_recipe_table_lists_sources() -> None:
    table = recipe_table("seed004")
    assert table.loc["lr", "source"] == "paper" and table.loc["lr", "value"] == "0.005"
    assert not {"name", "sources", "notes"} & set(table.index)
    assert recipe_table(get_recipe("seed004", epochs=2)).loc["epochs", "source"] == "override"


# --- real datasets from environment variables -------------------------------------------------------


def test_real_manifests_builds_only_the_datasets_that_are_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in DATASET_ENV.values():
        monkeypatch.delenv(var, raising=False)
    assert real_manifests() == {}
    assert (dataset_dirs()["folder"] == "").all()
    for folder, n in (("happy", 2), ("sad", 1)):
        (tmp_path / folder).mkdir()
        for i in range(n):
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / folder / f"{i}.png")
    monkeypatch.setenv("FER_EXPLAIN_IMAGEFOLDER_DIR", str(tmp_path))
    found = real_manifests({"imagefolder": {"folder_to_label": {"happy": "happiness", "sad": "sadness"}}})
    assert list(found) == ["imagefolder"]
    assert sorted(found["imagefolder"].df["label"]) == ["happiness", "happiness", "sadness"]
    assert dataset_dirs().set_index("dataset").loc["imagefolder", "folder"] == str(tmp_path)


def test_one_variable_per_adapter() -> None:
    from fer_explain.data.sources import ADAPTERS

    assert list(DATASET_ENV) == list(ADAPTERS)
    assert DATASET_ENV["fer2013"] == "FER_EXPLAIN_FER2013_DIR"


# --- the deprecated module -------------------------------------------------------------------------
