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
