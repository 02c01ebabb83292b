"""Evaluation tables on hand-made arrays: every number checked against a hand count or numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fer_explain.analysis.evaluation import (
    accuracy_vs_frequency,
    class_distribution_table,
    confusion,
    cross_dataset_matrix,
    evaluation_table,
    normalize_rows,
    prediction_table,
    relative_gain,
    summarize_runs,
    transfer_table,
)
from fer_explain.data.manifest import make_manifest
from fer_explain.labels import BASIC7

CLASSES = ["anger", "disgust", "fear"]
# class 0: 3 samples (2 right), class 1: 2 samples (0 right), class 2: 1 sample (1 right)
Y_TRUE = np.array([0, 0, 0, 1, 1, 2])
Y_PRED = np.array([0, 0, 2, 0, 2, 2])


def test_confusion_raw_counts_and_rows_sum_to_class_counts() -> None:
    cm = confusion(Y_TRUE, Y_PRED, 3)
    expected = np.array([[2, 0, 1], [1, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(cm, expected)
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(Y_TRUE, minlength=3))
    assert cm.dtype == np.int64


def test_confusion_normalized_rows_sum_to_one_and_empty_rows_are_nan() -> None:
    cm = confusion(Y_TRUE, Y_PRED, 4, normalize="true")  # class 3 has no samples: its recall is undefined
    np.testing.assert_allclose(cm[:3].sum(axis=1), 1.0)
    assert np.isnan(cm[3]).all()
    np.testing.assert_allclose(cm[0], [2 / 3, 0, 1 / 3, 0])
    np.testing.assert_allclose(normalize_rows(confusion(Y_TRUE, Y_PRED, 4)), cm)


def test_confusion_accepts_tensors_and_rejects_bad_labels() -> None:
    cm = confusion(torch.tensor(Y_TRUE), torch.tensor(Y_PRED), 3)
    np.testing.assert_array_equal(cm, confusion(Y_TRUE, Y_PRED, 3))
    with pytest.raises(ValueError, match=r"y_pred\[1\] = 3"):
        confusion([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="y_true has 2 labels but y_pred has 1"):
        confusion([0, 1], [0], 3)
    with pytest.raises(ValueError, match="normalize"):
        confusion([0], [0], 3, normalize="pred")  # type: ignore[arg-type]


def test_evaluation_table_values() -> None:
    t = evaluation_table(Y_TRUE, Y_PRED, CLASSES + ["happiness"])
    assert list(t.index) == ["anger", "disgust", "fear", "happiness", "overall", "mean_per_class"]
    assert t.loc["anger", "support"] == 3 and t.loc["anger", "correct"] == 2
    assert t.loc["anger", "accuracy"] == pytest.approx(2 / 3)
    assert t.loc["disgust", "accuracy"] == 0.0
    assert t.loc["fear", "accuracy"] == 1.0
    assert np.isnan(t.loc["happiness", "accuracy"])  # no samples
    assert t.loc["overall", "support"] == 6 and t.loc["overall", "accuracy"] == pytest.approx(3 / 6)
    assert t.loc["mean_per_class", "accuracy"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    # per-class accuracy is the diagonal of the row-normalised confusion matrix
    cm = confusion(Y_TRUE, Y_PRED, 3, normalize="true")
    np.testing.assert_allclose(t["accuracy"].iloc[:3], np.diag(cm))


def test_prediction_table() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    t = prediction_table(probs, [0, 1], CLASSES, ids=["a.png", "b.png"])
    assert list(t.index) == ["a.png", "b.png"]
    assert list(t.columns) == ["true", "pred", "correct", "confidence", "p_anger", "p_disgust", "p_fear"]
    assert t.loc["a.png", "pred"] == "anger" and bool(t.loc["a.png", "correct"])
    assert t.loc["b.png", "true"] == "disgust" and t.loc["b.png", "pred"] == "fear"
    assert not bool(t.loc["b.png", "correct"])
    np.testing.assert_allclose(t["confidence"], [0.7, 0.6])
    np.testing.assert_allclose(t["p_disgust"], [0.2, 0.3])
    no_truth = prediction_table(torch.tensor(probs), None, CLASSES)
    assert "true" not in no_truth.columns and list(no_truth["pred"]) == ["anger", "fear"]
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        prediction_table(probs[:, :2], [0, 1], CLASSES)


def test_accuracy_vs_frequency_monotone_gives_correlation_one() -> None:
    counts = pd.Series({"anger": 100, "disgust": 10, "fear": 50, "total": 160})
    acc = pd.Series({"anger": 0.9, "disgust": 0.2, "fear": 0.5, "overall": 0.7})
    table, r, rho = accuracy_vs_frequency(acc, counts)
    assert list(table.index) == ["disgust", "fear", "anger"]  # sorted by count
    assert rho == pytest.approx(1.0)
    assert r == pytest.approx(np.corrcoef([100, 10, 50], [0.9, 0.2, 0.5])[0, 1])
    np.testing.assert_allclose(table["frequency"].sum(), 1.0)
    # exactly linear -> Pearson r = 1 too
    _, r_lin, rho_lin = accuracy_vs_frequency(np.array([0.1, 0.2, 0.3]), np.array([10, 20, 30]))
    assert r_lin == pytest.approx(1.0) and rho_lin == pytest.approx(1.0)


def test_accuracy_vs_frequency_drops_nan_and_reports_constant_as_nan() -> None:
    table, r, _ = accuracy_vs_frequency([0.2, np.nan, 0.8], [10, 20, 30])
    assert len(table) == 3 and r == pytest.approx(1.0)
    _, r2, rho2 = accuracy_vs_frequency([0.5, 0.5], [1, 2])
    assert np.isnan(r2) and np.isnan(rho2)
    with pytest.raises(KeyError, match="no training count"):
        accuracy_vs_frequency({"anger": 0.5, "fear": 0.4}, {"anger": 3})


def test_summarize_runs_against_numpy() -> None:
    runs = [0.61, 0.64, 0.59, 0.66, 0.62]
    s = summarize_runs(runs)
    assert s["n"] == 5
    assert s["mean"] == pytest.approx(np.mean(runs))
    assert s["sd"] == pytest.approx(np.std(runs, ddof=1))
    assert s["best"] == 0.66 and s["worst"] == 0.59
    assert np.isnan(summarize_runs([0.5])["sd"])
    with pytest.raises(ValueError, match="empty"):
        summarize_runs([])


def test_relative_gain_reproduces_seed001_table4() -> None:
    # seed 001 (Huang et al. 2023), Table 4: RAF-DB 65.67 % without / 83.37 % with pretraining;
    # the text reports a 26.95 % increase = (with - without) / without.
    assert relative_gain(65.67, 83.37) == pytest.approx(0.2695, abs=5e-5)
    assert relative_gain(0.6567, 0.8337) == pytest.approx(relative_gain(65.67, 83.37))
    np.testing.assert_allclose(relative_gain(np.array([0.5, 0.4]), np.array([0.6, 0.2])), [0.2, -0.5])
    with pytest.raises(ValueError, match="positive"):
        relative_gain(0.0, 0.5)


def test_transfer_table() -> None:
    t = transfer_table({"rafdb": 0.6567}, {"rafdb": 0.8337}, pretrained_on="affectnet")
    assert list(t.columns) == ["pretrained_on", "scratch", "finetuned", "absolute_gain", "relative_gain"]
    assert t.loc["rafdb", "absolute_gain"] == pytest.approx(0.177)
    assert round(100 * t.loc["rafdb", "relative_gain"], 2) == 26.95
    with pytest.raises(KeyError, match="only in scratch"):
        transfer_table({"rafdb": 0.6, "jaffe": 0.5}, {"rafdb": 0.8})


def test_cross_dataset_matrix_seed001_table2() -> None:
    m = cross_dataset_matrix(
        {("affectnet", "rafdb"): 0.7737, ("rafdb", "affectnet"): 0.426, ("affectnet", "affectnet"): 0.5654}
    )
    assert list(m.index) == ["affectnet", "rafdb"] and list(m.columns) == ["rafdb", "affectnet"]
    assert m.index.name == "trained on" and m.columns.name == "tested on"
    assert m.loc["affectnet", "rafdb"] == 0.7737 and m.loc["rafdb", "affectnet"] == 0.426
    assert np.isnan(m.loc["rafdb", "rafdb"])


def _manifest(labels: list[str], splits: list[str], name: str, label_space: object = "basic7"):
    rows = [{"dataset": name, "image": f"{i}.png", "label": lab, "split": sp}
            for i, (lab, sp) in enumerate(zip(labels, splits))]
    return make_manifest(rows, root="/nonexistent", label_space=label_space, name=name)


def test_class_distribution_table_combines_datasets() -> None:
    a = _manifest(["anger", "anger", "happiness", "neutral"], ["train", "train", "test", "train"], "a")
    b = _manifest(["anger", "contempt", "contempt"], ["train", "train", "test"], "b", label_space="basic8")
    c = _manifest(["fear"], ["train"], "c", label_space=BASIC7.without("neutral"))
    t = class_distribution_table({"a": a, "b": b, "c": c})
    assert list(t.columns) == ["a", "b", "c"]
    assert list(t.index) == [*BASIC7.classes, "contempt", "total"]
    assert t.loc["anger", "a"] == 2 and t.loc["happiness", "a"] == 1 and t.loc["total", "a"] == 4
    assert t.loc["contempt", "b"] == 2 and t.loc["total", "b"] == 3
    assert pd.isna(t.loc["contempt", "a"])  # not in a's label space
    assert pd.isna(t.loc["neutral", "c"]) and t.loc["disgust", "c"] == 0
    train = class_distribution_table({"a": a, "b": b}, split="train")
    assert train.loc["total", "a"] == 3 and train.loc["happiness", "a"] == 0
    share = class_distribution_table({"a": a}, normalize=True)
    assert float(share.loc["anger", "a"]) == pytest.approx(0.5)
    with pytest.raises(KeyError, match="split"):
        class_distribution_table({"a": a}, split="val")
