"""ExplanationExplorer driven from pytest: set control values, check what it computed against the package."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import numpy as np
import pytest
import torch
from PIL import Image

from fer_explain.analysis.regions import dataset_landmarks
from fer_explain.data.dataset import FaceDataset
from fer_explain.faces.regions import remove_region
from fer_explain.models import create_model
from fer_explain.train import load_checkpoint
from fer_explain.widgets import METHODS, PREDICTED, ExplanationExplorer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def explorer(synthetic_test, tiny_checkpoint) -> ExplanationExplorer:
    return ExplanationExplorer(synthetic_test, {"tiny": tiny_checkpoint})


def _direct_probs(model: torch.nn.Module, meta: dict, x01: torch.Tensor) -> torch.Tensor:
    """The model's softmax on [0, 1] pixels (C, H, W), normalised with the checkpoint's mean/std."""
    mean = torch.tensor(meta["input"]["mean"]).view(-1, 1, 1)
    std = torch.tensor(meta["input"]["std"]).view(-1, 1, 1)
    with torch.no_grad():
        return model(((x01 - mean) / std)[None]).softmax(dim=1)[0]


def _pixels(manifest, row: int, size: int = 48) -> torch.Tensor:
    ds = FaceDataset(manifest, size=size, channels=1, cache_dir=False, progress=False)
    return torch.from_numpy(ds.pixels(row)).float() / 255.0


def test_first_update_shows_sample_zero(explorer, synthetic_test, tiny_checkpoint) -> None:
    assert explorer.last_error is None
    model, meta = load_checkpoint(tiny_checkpoint)
    torch.testing.assert_close(explorer.last_probs, _direct_probs(model, meta, _pixels(synthetic_test, 0)))
    assert bytes(explorer.input_image.value).startswith(PNG_MAGIC)
    assert bytes(explorer.overlay_image.value).startswith(PNG_MAGIC)
    assert list(explorer.prob_bars) == list(meta["classes"])
    assert explorer.prob_bars[meta["classes"][2]].value == pytest.approx(float(explorer.last_probs[2]))


def test_changing_the_sample_gives_the_models_softmax_on_that_sample(explorer, synthetic_test,
                                                                     tiny_checkpoint) -> None:
    model, meta = load_checkpoint(tiny_checkpoint)
    before = explorer.last_probs.clone()
    explorer.sample.value = 7
    assert explorer.last_error is None
    expected = _direct_probs(model, meta, _pixels(synthetic_test, 7))
    torch.testing.assert_close(explorer.last_probs, expected)
    assert not torch.equal(explorer.last_probs, before)
    assert synthetic_test.df["image"].iat[7] in explorer.sample_label.value
    # a forward through the normalising FaceDataset (what training used) agrees too
    ds = FaceDataset(synthetic_test, size=48, channels=1, normalize=(meta["input"]["mean"], meta["input"]["std"]),
                     cache_dir=False, progress=False)
    with torch.no_grad():
        torch.testing.assert_close(explorer.last_probs, model(ds[7][0][None]).softmax(1)[0])


def test_every_method_runs_and_is_reported(explorer) -> None:
    assert "CAM" not in explorer.method.options  # deep_emotion is not CAM-able
    for label in explorer.method.options:
        explorer.method.value = label
        assert explorer.last_error is None, label
        exp = explorer.last_explanation
        assert exp.method == METHODS[label]
        assert tuple(exp.maps.shape) == (1, 48, 48)
        assert explorer.caption.value.startswith(label)


def test_target_dropdown_sets_the_explained_class(explorer) -> None:
    explorer.target.value = 4
    assert explorer.last_explanation.targets.tolist() == [4]
    explorer.target.value = PREDICTED
    assert explorer.last_explanation.targets.tolist() == [int(explorer.last_probs.argmax())]


def test_occlusion_sliders_reach_the_explanation(explorer) -> None:
    explorer.method.value = "Occlusion"
    explorer.window.value = 12
    explorer.stride.value = 6
    assert explorer.last_error is None
    params = explorer.last_explanation.params
    assert (params["window"], params["stride"]) == (12, 6)
    first = explorer.last_explanation.maps.clone()
    explorer.window.value = 4  # the stride follows: a stride above the window is refused by Occlusion
    assert explorer.last_error is None, explorer.last_error
    assert explorer.stride.value == 4
    assert (explorer.last_explanation.params["window"], explorer.last_explanation.params["stride"]) == (4, 4)
    assert not torch.equal(first, explorer.last_explanation.maps)


def test_mouth_toggle_repredicts_on_the_face_without_the_mouth(explorer, synthetic_test, tiny_checkpoint) -> None:
    model, meta = load_checkpoint(tiny_checkpoint)
    explorer.sample.value = 3
    plain = explorer.last_probs.clone()
    explorer.region_toggles["mouth"].value = True
    assert explorer.last_error is None
    lm = dataset_landmarks(synthetic_test, 48)[3]
    x01 = _pixels(synthetic_test, 3)
    masked, mask = remove_region(x01[None], lm[None], "mouth", baseline="zero", margin=explorer.region_margin)
    assert mask.sum() > 20  # the mouth covers pixels at 48 x 48
    torch.testing.assert_close(explorer.last_input, masked[0])
    torch.testing.assert_close(explorer.last_probs, _direct_probs(model, meta, masked[0]))
    assert not torch.equal(explorer.last_probs, plain)
    assert float(explorer.last_input[0][mask[0]].abs().max()) == 0.0
    # two regions at once, then back to the plain face
    explorer.region_toggles["eyes"].value = True
    both, _ = remove_region(masked, lm[None], "eyes", margin=explorer.region_margin)
    torch.testing.assert_close(explorer.last_probs, _direct_probs(model, meta, both[0]))
    explorer.region_toggles["mouth"].value = False
    explorer.region_toggles["eyes"].value = False
    torch.testing.assert_close(explorer.last_probs, plain)


def test_region_table_has_one_share_per_region(explorer) -> None:
    explorer.method.value = "Saliency"  # positive everywhere, so every share is defined
    table = explorer.last_region_table
    assert list(table.index) == ["eyes", "nose", "mouth"]
    assert ((table["mass"] > 0) & (table["mass"] < 1)).all()
    assert "mouth" in explorer.region_html.value


def test_uploading_a_photo_detects_the_face_and_explains_it(explorer) -> None:
    skdata = pytest.importorskip("skimage.data")
    buf = io.BytesIO()
    Image.fromarray(skdata.astronaut()).save(buf, format="png")
    content = buf.getvalue()
    explorer.upload.value = ({"name": "astronaut.png", "type": "image/png", "size": len(content),
                              "content": memoryview(content), "last_modified": datetime.now(timezone.utc)},)
    assert explorer.last_error is None, explorer.last_error
    assert explorer.input_source.value == "upload"
    res = explorer.uploaded.landmarks
    assert res.source == "detected"
    x, y, w, _h = res.box
    assert 100 < x < 300 and 20 < y < 200 and 60 < w < 250  # Eileen Collins' face, upper middle
    assert tuple(explorer.last_input.shape) == (1, 48, 48)
    lm = explorer.last_landmarks
    # brows, eyes, nose and mouth (points 18-68) lie inside the 48 x 48 face (dlib's box may cut the chin)
    assert lm.shape == (68, 2) and (lm[17:] > -0.5).all() and (lm[17:] < 47.5).all()
    assert explorer.last_region_table is not None
    assert "astronaut.png" in explorer.sample_label.value
    # the probabilities are the model's on the cropped face, and the mouth toggle works on it too
    loaded = explorer.model()
    torch.testing.assert_close(explorer.last_probs, loaded.predict(explorer.last_input[None])[0])
    explorer.region_toggles["mouth"].value = True
    assert explorer.last_error is None
    assert float(explorer.last_input.abs().sum()) < float(explorer.uploaded.face(loaded.input)[0].abs().sum())
    # back to the dataset
    explorer.input_source.value = "dataset"
    assert tuple(explorer.last_input.shape) == (1, 48, 48) and explorer.last_error is None


def test_switching_checkpoints_updates_methods_classes_and_size(synthetic_test, tiny_checkpoint) -> None:
    torch.manual_seed(0)
    densenet = create_model("densenet_bc", num_classes=7)  # CAM-able, 64 x 64 input
    ex = ExplanationExplorer(synthetic_test, {"tiny": tiny_checkpoint, "densenet": densenet})
    ex.method.value = "Saliency"
    ex.target.value = 5
    ex.checkpoint.value = "densenet"
    assert ex.last_error is None
    assert "CAM" in ex.method.options
    assert ex.method.value == "Saliency" and ex.target.value == 5  # kept across the switch
    assert tuple(ex.last_input.shape) == (1, 64, 64)
    ex.method.value = "CAM"
    assert ex.last_explanation.method == "cam" and ex.last_error is None
    assert ex.last_region_table is not None  # landmarks follow the input size
    ex.checkpoint.value = "tiny"
    assert "CAM" not in ex.method.options and ex.method.value == "Grad-CAM"


def test_clear_errors(synthetic_test, tiny_checkpoint, tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown region"):
        ExplanationExplorer(synthetic_test, {"tiny": tiny_checkpoint}, regions=("mouth", "chin"))
    with pytest.raises(FileNotFoundError, match="nope"):
        ExplanationExplorer(synthetic_test, {"missing": tmp_path / "nope"})
    ex = ExplanationExplorer(synthetic_test, {"tiny": tiny_checkpoint})
    ex.input_source.value = "upload"  # nothing uploaded: the error is shown, not raised
    assert isinstance(ex.last_error, ValueError) and "no photo uploaded" in ex.status.value
    ex.input_source.value = "dataset"
    assert ex.last_error is None and ex.status.value == ""


def test_widget_tree_holds_the_controls(explorer) -> None:
    def walk(w):
        yield w
        for c in getattr(w, "children", ()):
            yield from walk(c)

    inside = {id(w) for w in walk(explorer.widget)}
    for control in (explorer.sample, explorer.upload, explorer.checkpoint, explorer.method, explorer.target,
                    explorer.window, explorer.stride, *explorer.region_toggles.values(), explorer.overlay_image):
        assert id(control) in inside
    assert np.isclose(sum(b.value for b in explorer.prob_bars.values()), 1.0, atol=1e-5)
