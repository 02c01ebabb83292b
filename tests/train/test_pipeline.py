"""train_from_manifest / evaluate_checkpoint on a tiny image manifest (CPU, seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_explain.labels import BASIC7
from fer_explain.train import load_checkpoint


def test_train_from_manifest_builds_datasets_fits_and_saves(tmp_path, tiny_manifest, same_weights) -> None:
    from fer_explain.train import train_from_manifest

    path = tiny_manifest
    res = train_from_manifest(path, "deep_emotion", "seed004", tmp_path / "out" / "de", epochs=1, batch_size=7,
                              cache_dir=False, progress=False, notes="tiny test")
    assert len(res.history) == 1 and res.steps == 3 and not np.isnan(res.history["val_acc"].iloc[0])
    model, meta = load_checkpoint(tmp_path / "out" / "de", expected_arch="deep_emotion", expected_classes="basic7")
    same_weights(res.model, model)
    from fer_explain.data.manifest import Manifest

    assert meta["manifest_hash"] == Manifest.load(path).content_hash()
    assert meta["input"]["size"] == 48 and meta["input"]["channels"] == 1
    assert meta["recipe"]["name"] == "seed004" and meta["recipe"]["epochs"] == 1 and meta["notes"] == "tiny test"
    # transfer from that checkpoint onto the same manifest: head kept (same label space), only the head learns
    res2 = train_from_manifest(path, "deep_emotion", "quick", tmp_path / "out" / "tr", epochs=1, batch_size=7,
                               cache_dir=False, progress=False, init_from=tmp_path / "out" / "de", trainable="head")
    assert torch.equal(res2.model.fc1.weight, model.fc1.weight)
    assert not torch.equal(res2.model.classifier.weight, model.classifier.weight)
    # evaluate the checkpoint on the validation split, as the CLI does
    from fer_explain.train import evaluate_checkpoint

    ev = evaluate_checkpoint(tmp_path / "out" / "de", path, split="val", cache_dir=False, progress=False)
    assert ev.confusion.sum() == 7 and ev.classes == BASIC7.classes
    assert ev.accuracy == pytest.approx(res.history["val_acc"].iloc[0])


def test_train_from_manifest_honours_runs(tmp_path, tiny_manifest, same_weights) -> None:
    from fer_explain.train import train_from_manifest

    out = tmp_path / "out" / "de"
    res = train_from_manifest(tiny_manifest, "deep_emotion", "seed004", out, epochs=1, batch_size=7, runs=3, seed=10,
                              cache_dir=False, progress=False, notes="three runs")
    runs = [load_checkpoint(f"{out}.run{i}", expected_arch="deep_emotion") for i in range(3)]
    assert [meta["recipe"]["seed"] for _, meta in runs] == [10, 11, 12]  # seed, seed + 1, ...
    scores = [meta["history"][0]["val_acc"] for _, meta in runs]
    model, meta = load_checkpoint(out, expected_classes="basic7")
    extra = meta["extra"]
    assert extra["runs"] == 3 and extra["scores"] == scores
    assert extra["mean"] == pytest.approx(np.mean(scores)) and extra["std"] == pytest.approx(np.std(scores, ddof=1))
    assert scores[extra["best_run"]] == max(scores)  # the best of N
    same_weights(model, runs[extra["best_run"]][0])  # the best run is the checkpoint
    same_weights(res.model, model)
    assert res.best_value == max(scores)
    # the manifest pipeline's metadata is kept on the best-run checkpoint
    from fer_explain.data.manifest import Manifest

    assert meta["manifest_hash"] == Manifest.load(tiny_manifest).content_hash()
    assert meta["input"]["size"] == 48 and meta["extra"]["train_split"] == "train"
    assert meta["notes"] == "three runs; best of 3 runs (val_acc)"
    assert meta["recipe"]["runs"] == 3 and meta["recipe"]["seed"] == 10
    # run 0 is the single run with the same seed: the model is built and trained under that seed
    single = train_from_manifest(tiny_manifest, "deep_emotion", "seed004", tmp_path / "single", epochs=1,
                                 batch_size=7, runs=1, seed=10, cache_dir=False, progress=False)
    same_weights(single.model, runs[0][0])
    # runs differ from each other (another seed builds another model)
    assert not torch.equal(runs[0][0].classifier.weight, runs[1][0].classifier.weight)


@pytest.mark.parametrize("tta", ["flip", "tencrop"])
def test_evaluate_checkpoint_tta_averages_the_views(tmp_path, tiny_manifest, tta) -> None:
    """Test-time augmentation changes the reported score only: the probabilities are the mean over the
    views that EvalView.tta_transform gives, computed here by hand from the single-view pipeline."""
    from fer_explain.train import evaluate_checkpoint, train_from_manifest
    from fer_explain.train.inputs import CheckpointInput

    out = tmp_path / "vgg"
    res = train_from_manifest(tiny_manifest, "vgg_fer", "seed002", out, epochs=1, batch_size=7, size=32, lr=1e-4,
                              model_args={"width": 0.0625, "input_size": 32}, cache_dir=False, progress=False)
    plain = evaluate_checkpoint(out, tiny_manifest, split="val", cache_dir=False, progress=False)
    aug = evaluate_checkpoint(out, tiny_manifest, split="val", cache_dir=False, progress=False, tta=tta)
    model, meta = load_checkpoint(out)
    inp = CheckpointInput.from_checkpoint(meta, model)
    assert not inp.view.is_identity  # seed 002's view: resize, then centre crop
    from fer_explain.data.manifest import Manifest

    faces = inp.dataset(Manifest.load(tiny_manifest).select(split="val"), normalized=False, cache_dir=False)
    x = torch.stack([faces[i][0] for i in range(len(faces))])  # the single evaluation view, [0, 1]
    if tta == "flip":
        views = [x, x.flip(-1)]
    else:  # the corner and centre crops of the resized face, and their mirrors
        from torchvision.transforms import v2

        raw = torch.stack([torch.from_numpy(faces.pixels(i)).float() / 255 for i in range(len(faces))])
        big = v2.Resize((inp.view.resize, inp.view.resize), antialias=True)(raw)
        views = list(v2.TenCrop(inp.size)(big))
    with torch.no_grad():
        want = torch.stack([model.eval()(inp.standardize(v)).softmax(-1) for v in views]).mean(0)
    assert np.allclose(aug.probs, want.numpy(), atol=1e-5)
    assert plain.probs.shape == aug.probs.shape and not np.allclose(plain.probs, aug.probs)
    assert len(res.history) == 1
