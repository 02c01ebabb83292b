"""CheckpointInput: the one place a checkpoint's input is decided, and every path using it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_explain.data.transforms import EvalView, evaluation_view, get_transform
from fer_explain.explain import make_explainer
from fer_explain.models import create_model
from fer_explain.train import list_shipped, load_checkpoint, shipped_checkpoint
from fer_explain.train.inputs import CheckpointInput


def test_every_recipe_view_is_its_evaluation_pipeline() -> None:
    x = torch.rand(1, 48, 48)
    for name, opts in [("seed001", {}), ("seed002", {}), ("seed002", {"scale": (0.5, 0.7)}), ("seed003", {}),
                       ("seed004", {}), ("none", {})]:
        view = evaluation_view(name, 48, **opts)
        torch.testing.assert_close(view.transform()(x), get_transform(name, 48, train=False, **opts)(x))
    assert evaluation_view("seed002", 48) == EvalView(48, 51)
    assert evaluation_view("seed001", 48) == EvalView(48, 55)
    assert evaluation_view("seed004", 48).is_identity


@pytest.mark.parametrize("view", [EvalView(48, 51), EvalView(48, 55), EvalView(64, 80)])
def test_map_points_follows_the_pixels(view: EvalView) -> None:
    """A bright 3x3 blob moved by the view lands where map_points says (within half a pixel)."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        cx, cy = rng.integers(12, view.size - 12, size=2)
        img = torch.zeros(1, view.size, view.size)
        img[0, cy - 1:cy + 2, cx - 1:cx + 2] = 1.0
        out = view.transform()(img)[0].numpy()
        ys, xs = np.mgrid[: view.size, : view.size]
        w = out.clip(0)
        centroid = np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])
        np.testing.assert_allclose(view.map_points(np.array([cx, cy], float)), centroid, atol=0.5)


def test_resolution_order_and_errors() -> None:
    model = create_model("vgg_fer", in_chans=1, width=0.25, input_size=48)
    meta = {"input": {"size": 48, "channels": 1, "mean": [0.4], "std": [0.2]}, "recipe": {"transform": "seed002"}}
    inp = CheckpointInput.from_checkpoint(meta, model)
    assert (inp.size, inp.mean, inp.std, inp.view) == (48, (0.4,), (0.2,), EvalView(48, 51))
    # the model's input_spec fills what the block lacks; no recipe = the face as it is
    inp = CheckpointInput.from_checkpoint({"input": {"std": [0.25]}}, model)
    assert (inp.size, inp.mean, inp.std, inp.view.is_identity) == (48, (0.5,), (0.25,), True)
    with pytest.raises(ValueError, match=r"'ck\.json'.*input lacks \['size', 'channels'"):
        CheckpointInput.from_checkpoint({"path": "ck.json", "input": {"mean": [0.5], "std": [0.5]}})
    torch.testing.assert_close(CheckpointInput.from_checkpoint(meta).black(), torch.full((1, 1, 1), -2.0))


def test_prepare_applies_the_view_and_normalisation() -> None:
    meta = {"input": {"size": 48, "channels": 1, "mean": [0.5], "std": [0.5]}, "recipe": {"transform": "seed002"}}
    inp = CheckpointInput.from_checkpoint(meta)
    faces = torch.rand(2, 1, 48, 48)
    expected = (get_transform("seed002", 48, train=False)(faces) - 0.5) / 0.5
    torch.testing.assert_close(inp.prepare(faces), expected)
    # uint8 (N, H, W) at another size: resized to 48 first
    x = inp.prepare(np.full((1, 96, 96), 255, np.uint8))
    assert x.shape == (1, 1, 48, 48) and torch.allclose(x, torch.ones_like(x))


@pytest.fixture(scope="module")
def synthetic_manifest_small():
    """16 faces of the default synthetic set's test split, every emotion."""
    from fer_explain.data.synthetic import default_synthetic_manifest

    m = default_synthetic_manifest().select(split="test")
    return m.replace(m.df.groupby("label", sort=False).head(3).iloc[:16])


@pytest.mark.parametrize("name", list_shipped())
def test_every_path_gives_identical_logits(name: str, synthetic_manifest_small) -> None:
    """evaluate, the explainers, the report's dataset and the explorer feed a face identically."""
    from fer_explain.train import evaluate
    from fer_explain.widgets.common import FaceSource, load_model

    model, meta = load_checkpoint(shipped_checkpoint(name))
    inp = CheckpointInput.from_checkpoint(meta, model)
    manifest = synthetic_manifest_small
    ds = inp.dataset(manifest)
    ev = evaluate(model, ds, batch_size=64, label_space=meta.get("classes"), target_space=manifest.label_space,
                  progress=False)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    exp = make_explainer("gradcam", model, input_size=inp.size, black=inp.black()).attribute(x)
    loaded = load_model((model, meta))
    faces = FaceSource(manifest)
    explorer_probs = loaded.predict(faces.images(np.arange(len(ds)), loaded.input))
    with torch.no_grad():
        logits = model.eval()(x)
    np.testing.assert_allclose(exp.probs.numpy(), logits.softmax(1).numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(explorer_probs.numpy(), logits.softmax(1).numpy(), rtol=0, atol=1e-6)
    assert list(meta["classes"]) == list(manifest.classes)
    np.testing.assert_allclose(ev.probs, logits.softmax(1).numpy(), rtol=0, atol=1e-6)


def test_report_scores_the_same_tensors_as_evaluate(synthetic_manifest_small, tmp_path) -> None:
    """write_report's predictions are evaluate's, on a checkpoint whose view is not the identity."""
    from fer_explain.analysis.report import write_report
    from fer_explain.train import evaluate

    name = "fer2013/vgg_fer"
    model, meta = load_checkpoint(shipped_checkpoint(name))
    inp = CheckpointInput.from_checkpoint(meta, model)
    assert not inp.view.is_identity
    manifest = synthetic_manifest_small
    path = manifest.save(tmp_path / "m")
    written = write_report(shipped_checkpoint(name), path, tmp_path / "report", split=None, max_samples=None,
                           methods=("gradcam",), max_explain=8, n_examples=2, tsne_max=16, progress=False)
    ev = evaluate(model, inp.dataset(manifest), batch_size=64, label_space=meta["classes"],
                  target_space=manifest.label_space, progress=False)
    import pandas as pd

    pred = pd.read_csv(written["predictions"])
    probs = pred[[c for c in pred.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(probs, ev.probs, rtol=0, atol=1e-5)
