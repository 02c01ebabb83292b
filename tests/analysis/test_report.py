"""Tests of fer_explain.analysis.report: a tiny checkpoint trained here -> every promised file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from fer_explain.analysis.report import explanation_samples, write_report
from fer_explain.data.synthetic import SyntheticFaceConfig, write_synthetic
from fer_explain.train import train_from_manifest

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def synthetic_manifest(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("synth")
    write_synthetic(SyntheticFaceConfig(n=200, size=48, seed=0), root, progress=False)
    return str(root / "manifest.csv")


def _train(manifest: str, out: str, model: str, channels: int | None = None, **model_args) -> str:
    train_from_manifest(manifest, model, "quick", out_checkpoint=out, epochs=1, cache_dir=False, progress=False,
                        channels=channels, model_args=model_args or None)
    return out


EXPECTED = ["evaluation", "confusion", "confusion_normalized", "predictions", "tsne", "history",
            "confusion_png", "confusion_normalized_png", "tsne_png", "training_curves_png", "explanations_png",
            "region_emotion_gradcam", "region_emotion_occlusion", "region_masking", "region_emotion_png",
            "occlusion_png", "summary"]


def test_write_report_deep_emotion(synthetic_manifest: str, tmp_path) -> None:
    ckpt = _train(synthetic_manifest, str(tmp_path / "ckpt" / "de"), "deep_emotion")
    out = tmp_path / "report"
    written = write_report(ckpt, synthetic_manifest, out, split="test", max_samples=30, methods=("gradcam", "occlusion"),
                           max_explain=8, n_examples=3, tsne_max=30, progress=False)
    missing = [k for k in EXPECTED if k not in written]
    assert not missing, f"not written: {missing}; written: {sorted(written)}"
    assert "se_maps_png" not in written  # Deep-Emotion has no SE block
    for key, path in written.items():
        assert path.parent == out and path.is_file() and path.stat().st_size > 0, key
    classes = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    ev = pd.read_csv(written["evaluation"], index_col=0)
    assert list(ev.columns) == ["support", "correct", "accuracy"]
    assert list(ev.index) == classes + ["overall", "mean_per_class"]
    assert ev.loc["overall", "support"] == 30
    cm = pd.read_csv(written["confusion"], index_col=0)
    assert list(cm.columns) == classes and cm.to_numpy().sum() == 30
    cmn = pd.read_csv(written["confusion_normalized"], index_col=0)
    assert ((cmn.sum(axis=1) - 1).abs() < 1e-9).all()
    pred = pd.read_csv(written["predictions"], index_col=0)
    assert list(pred.columns[:4]) == ["true", "pred", "correct", "confidence"]
    assert [c for c in pred.columns if c.startswith("p_")] == [f"p_{c}" for c in classes] and len(pred) == 30
    tsne = pd.read_csv(written["tsne"])
    assert list(tsne.columns) == ["x", "y", "label"] and len(tsne) == 30
    hist = pd.read_csv(written["history"])
    assert {"epoch", "train_loss", "train_acc"} <= set(hist.columns) and len(hist) == 1
    for method in ("gradcam", "occlusion"):
        t = pd.read_csv(written[f"region_emotion_{method}"], index_col=0)
        assert list(t.index) == ["eyes", "nose", "mouth"]
        assert set(t.columns) <= set(classes) and len(t.columns) >= 1
    masking = pd.read_csv(written["region_masking"], index_col=0)
    assert list(masking.index) == ["eyes", "nose", "mouth"]
    summary = json.loads(written["summary"].read_text())
    assert summary["n"] == 30 and 0 <= summary["accuracy"] <= 1
    assert summary["architecture"] == "deep_emotion"
    assert set(summary["files"]) == set(written) - {"summary"}
    # the 8 explained faces: the selection of explanation_samples, across the emotions, not the first rows
    rows = summary["explained_rows"]
    assert summary["n_explained"] == len(rows) == 8
    true_idx = pred["true"].map(classes.index).to_numpy()
    pred_idx = pred["pred"].map(classes.index).to_numpy()
    assert rows == explanation_samples(true_idx, pred_idx, 8, seed=0).tolist()
    assert pred["true"].iloc[rows].nunique() == min(7, pred["true"].nunique())
    assert rows != list(range(8))


def test_explanation_samples_span_emotions_and_outcomes() -> None:
    # sorted by class, as a manifest often is: 30 anger faces first, then 30 of each other class
    labels = np.repeat(np.arange(7), 30)
    rng = np.random.default_rng(1)
    preds = np.where(rng.random(len(labels)) < 0.6, labels, (labels + 1) % 7)
    chosen = explanation_samples(labels, preds, 14, seed=0)
    assert len(chosen) == 14 and len(set(chosen.tolist())) == 14
    assert sorted(np.bincount(labels[chosen], minlength=7).tolist()) == [2] * 7  # two of each emotion
    right = preds[chosen] == labels[chosen]
    assert right.sum() == 7  # one right and one wrong per emotion
    assert set(right[:7]) == {True, False}  # even the first faces shown mix both
    assert len(set(labels[chosen[:7]].tolist())) == 7
    np.testing.assert_array_equal(chosen, explanation_samples(labels, preds, 14, seed=0))  # deterministic
    assert not np.array_equal(chosen, explanation_samples(labels, preds, 14, seed=1))
    # a class with only right (or only wrong) answers still gives faces; n larger than the data: all of it
    all_right = explanation_samples(labels, labels, 7, seed=0)
    assert sorted(labels[all_right].tolist()) == list(range(7))
    everything = explanation_samples(labels[:5], preds[:5], 50)
    assert sorted(everything.tolist()) == [0, 1, 2, 3, 4]
    assert explanation_samples([], [], 5).tolist() == []
    with pytest.raises(ValueError, match="differ in length"):
        explanation_samples([0, 1], [0], 2)


def test_write_report_se_model_writes_se_maps(synthetic_manifest: str, tmp_path) -> None:
    ckpt = _train(synthetic_manifest, str(tmp_path / "se"), "se_resnet18", channels=1, width=0.0625, input_size=48)
    written = write_report(ckpt, synthetic_manifest, tmp_path / "r", max_samples=20, methods=("gradcam",),
                           max_explain=8, n_examples=2, tsne_max=20, progress=False)
    assert written["se_maps_png"].stat().st_size > 0
    assert "region_emotion_gradcam" in written and "region_emotion_occlusion" not in written
    with pytest.raises(ValueError, match="unknown explanation method"):
        write_report(ckpt, synthetic_manifest, tmp_path / "r2", methods=("lime",))


# --- seed 004's occlusion figure, and reading an explain run ----------------------------------------------
def _deep() -> str:
    from fer_explain.train import shipped_checkpoint

    return str(shipped_checkpoint("synthetic/deep_emotion"))


@pytest.fixture(scope="module")
def scored_faces(tmp_path_factory):
    """120 test faces of the synthetic default and whether the shipped Deep-Emotion gets each right."""
    from fer_explain.data.synthetic import default_synthetic_manifest
    from fer_explain.train import evaluate, load_checkpoint
    from fer_explain.train.inputs import CheckpointInput

    m = default_synthetic_manifest()
    faces = m.replace(m.df[m.df["split"] == "test"].iloc[:120])
    model, meta = load_checkpoint(_deep())
    res = evaluate(model, CheckpointInput.from_checkpoint(meta, model).dataset(faces, cache_dir=False), progress=False)
    return faces, np.asarray(res.preds) == np.asarray(res.labels), tmp_path_factory.mktemp("scored")


def test_occlusion_figure_is_seed004s_on_the_true_label(scored_faces, tmp_path, monkeypatch) -> None:
    """On faces the model gets wrong the true-label flip map differs from the predicted-class one: the
    figure must draw the former (seed 004: a patch counts when the prediction becomes wrong)."""
    import fer_explain.viz
    from fer_explain.explain import SlidingOcclusion
    from fer_explain.explain.occlusion import seed004_occlusion
    from fer_explain.train import load_checkpoint
    from fer_explain.train.inputs import CheckpointInput

    faces, right, folder = scored_faces
    wrong = faces.replace(faces.df[~right].iloc[:6])
    assert len(wrong) == 6, "the shipped model gets fewer than 6 of 120 faces wrong"
    path = wrong.save(folder / "wrong")
    drawn = {}
    real = fer_explain.viz.plot_occlusion

    def spy(image, examples, importance_map, **kw):
        drawn.update(map=np.asarray(importance_map), **kw)
        return real(image, examples, importance_map, **kw)

    monkeypatch.setattr(fer_explain.viz, "plot_occlusion", spy)
    written = write_report(_deep(), path, tmp_path / "r", max_samples=None, methods=("gradcam",), max_explain=3,
                           n_examples=1, tsne_max=6, progress=False)
    assert written["occlusion_png"].stat().st_size > 0 and "seed 004" in drawn["title"]
    row = json.loads(written["summary"].read_text())["explained_rows"][0]
    model, meta = load_checkpoint(_deep())
    inp = CheckpointInput.from_checkpoint(meta, model)
    x, label = inp.dataset(wrong, cache_dir=False)[row]
    x = x[None]
    assert drawn["true_label"] == meta["classes"][int(label)]
    window = 48 // 6
    truth = seed004_occlusion(model, window, window // 2, baseline=inp.black()).attribute(x, labels=[int(label)])
    np.testing.assert_allclose(drawn["map"], truth.extras["flip_map"][0].numpy())
    on_prediction = SlidingOcclusion(model, window=window, stride=window // 2, baseline=inp.black()).attribute(x)
    assert int(on_prediction.targets[0]) != int(label)  # the face is one the model gets wrong
    assert not np.allclose(drawn["map"], on_prediction.extras["flip_map"][0].numpy())


def test_report_from_an_explain_run_equals_the_direct_report(scored_faces, tmp_path) -> None:
    """Faces the model gets right (so the run's true-label maps are the report's predicted-class maps), every
    face explained: the tables read from the run equal those computed by the report itself."""
    from fer_explain.analysis.dataset_explain import explain_dataset

    faces, right, folder = scored_faces
    ok = faces.df[right]
    path = faces.replace(ok.groupby("label").head(2).iloc[:10]).save(folder / "right")
    run_dir = tmp_path / "explain"
    explain_dataset(_deep(), path, run_dir, methods=("gradcam", "occlusion", "regions"), shard_size=4, progress=False)
    kw = {"max_samples": None, "max_explain": 10, "n_examples": 3, "tsne_max": 10, "progress": False}
    direct = write_report(_deep(), path, tmp_path / "direct", methods=("gradcam", "occlusion"), **kw)
    via = write_report(_deep(), path, tmp_path / "via", explain_dir=run_dir, **kw)
    assert sorted(via) == sorted(direct)
    for key in ("region_emotion_gradcam", "region_emotion_occlusion", "region_masking"):
        pd.testing.assert_frame_equal(pd.read_csv(via[key], index_col=0), pd.read_csv(direct[key], index_col=0),
                                      check_exact=False, rtol=1e-4, atol=1e-6)
    for key in ("evaluation", "predictions", "confusion"):
        assert via[key].read_bytes() == direct[key].read_bytes()
    s_via, s_direct = (json.loads(w["summary"].read_text()) for w in (via, direct))
    assert s_via["methods"] == ["gradcam", "occlusion"] and s_via["explained_rows"] == s_direct["explained_rows"]
    assert s_via["explain_dir"] == str(run_dir) and s_via["explained_target"] == "label"
    assert s_via["region_tables_faces"] == 10


def test_report_refuses_an_explain_run_of_other_inputs(scored_faces, tmp_path, capsys) -> None:
    from fer_explain.analysis.dataset_explain import explain_dataset
    from fer_explain.analysis.explain_output import ExplainOutputError
    from fer_explain.cli import main
    from fer_explain.train import shipped_checkpoint

    faces, _, folder = scored_faces
    six = faces.replace(faces.df.iloc[:6]).save(folder / "six")
    five = faces.replace(faces.df.iloc[:5]).save(folder / "five")
    run_dir = tmp_path / "explain"
    explain_dataset(_deep(), six, run_dir, methods=("gradcam",), landmarks="none", progress=False)
    with pytest.raises(ExplainOutputError, match=f"explain run {run_dir} was made with another manifest split"):
        write_report(_deep(), five, tmp_path / "a", explain_dir=run_dir, progress=False)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ExplainOutputError, match=f"explain run {run_dir} holds no maps of \\['occlusion'\\]"):
        write_report(_deep(), six, tmp_path / "b", methods=("gradcam", "occlusion"), explain_dir=run_dir,
                     progress=False)
    se = str(shipped_checkpoint("synthetic/se_resnet18"))
    assert main(["report", se, str(six), "--out", str(tmp_path / "c"), "--explain-dir", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"explain run {run_dir} was made with another checkpoint" in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()
    assert main(["report", se, str(six), "--out", str(tmp_path / "d"), "--explain-dir", str(tmp_path / "nope")]) == 2
    assert f"explain output folder {tmp_path / 'nope'} does not exist" in capsys.readouterr().err
