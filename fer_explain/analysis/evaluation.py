"""Evaluation tables from plain arrays: accuracy, confusion matrices, predictions, run summaries,
cross-dataset matrices and transfer-learning gains.

Every function takes numpy arrays, torch tensors or plain sequences of integer class indices
(``0 .. C-1`` in the order of ``classes``) and returns numpy arrays or pandas objects; none of them
needs a model or a dataset.

Conventions
-----------
* "Per-class accuracy" is the recall of the class: correct predictions of class ``c`` divided by the
  number of samples whose true class is ``c`` -- the diagonal of the row-normalised confusion matrix
  (the seeds' "normalized confusion matrix").
* A class with no samples has per-class accuracy ``NaN`` in tables, and a row of zeros in a
  row-normalised confusion matrix.
* Relative transfer gain follows seed 001 (Huang et al. 2023, the paragraph citing Table 4):
  ``(accuracy with pretrained model - accuracy without) / accuracy without``; with their numbers,
  ``(83.37 - 65.67) / 65.67 = 26.95 %``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from fer_explain.confusion import normalize_rows
from fer_explain.labels import EMOTIONS

if TYPE_CHECKING:
    from fer_explain.data.manifest import Manifest

__all__ = [
    "accuracy_vs_frequency",
    "class_distribution_table",
    "confusion",
    "cross_dataset_matrix",
    "evaluation_table",
    "normalize_rows",
    "prediction_table",
    "relative_gain",
    "summarize_runs",
    "transfer_table",
]


# --------------------------------------------------------------------------- helpers
def _to_numpy(x: Any) -> np.ndarray:
    """A numpy array from an array, a (CPU or GPU) tensor or a sequence."""
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _labels(y: Any, name: str, num_classes: int | None = None) -> np.ndarray:
    """Validate a 1-D vector of integer class indices (in ``[0, num_classes)`` when given)."""
    arr = _to_numpy(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of class indices, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if num_classes is not None and arr.size:
        bad = np.flatnonzero((arr < 0) | (arr >= num_classes))
        if bad.size:
            raise ValueError(
                f"{name}[{bad[0]}] = {arr[bad[0]]} is not a class index in [0, {num_classes}) "
                f"({bad.size} such value(s))"
            )
    return arr


def _pair(y_true: Any, y_pred: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    t = _labels(y_true, "y_true", num_classes)
    p = _labels(y_pred, "y_pred", num_classes)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    return t, p


# --------------------------------------------------------------------------- confusion and accuracy
def confusion(
    y_true: Any,
    y_pred: Any,
    num_classes: int,
    normalize: Literal["true"] | None = None,
) -> np.ndarray:
    """Confusion matrix ``cm[i, j]`` = number of samples of true class ``i`` predicted as ``j``.

    Args:
        y_true, y_pred: integer class indices in ``[0, num_classes)``.
        num_classes: ``C``; the matrix is ``C x C`` even when some classes never occur.
        normalize: ``None`` for raw counts (int64; row ``i`` sums to the number of samples of class
            ``i``) or ``"true"`` to divide each row by its sum (float64; rows sum to 1, so the
            diagonal is the per-class accuracy). A row of a class with no samples is all zeros.
    """
    if normalize not in (None, "true"):
        raise ValueError(f"normalize must be None or 'true', got {normalize!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    t, p = _pair(y_true, y_pred, num_classes)
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return normalize_rows(cm) if normalize == "true" else cm


def evaluation_table(y_true: Any, y_pred: Any, classes: Sequence[str]) -> pd.DataFrame:
    """Per-class accuracy (recall) and support, plus overall and mean-per-class rows.

    Returns a DataFrame indexed by ``emotion`` (the class names, then ``"overall"`` and
    ``"mean_per_class"``) with columns

    * ``support`` -- number of samples of the class (``overall``: all samples; ``mean_per_class``:
      number of classes that have samples);
    * ``correct`` -- correctly predicted samples;
    * ``accuracy`` -- ``correct / support`` (``NaN`` for a class without samples); ``overall`` is
      the plain accuracy, ``mean_per_class`` the unweighted mean over classes with samples
      (balanced accuracy).
    """
    classes = list(classes)
    cm = confusion(y_true, y_pred, len(classes))
    support = cm.sum(axis=1)
    correct = np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(support > 0, correct / np.maximum(support, 1), np.nan)
    n = int(support.sum())
    present = support > 0
    table = pd.DataFrame({"support": support, "correct": correct, "accuracy": acc}, index=classes)
    table.loc["overall"] = [n, int(correct.sum()), correct.sum() / n if n else np.nan]
    table.loc["mean_per_class"] = [
        int(present.sum()),
        int(correct[present].sum()),
        float(acc[present].mean()) if present.any() else np.nan,
    ]
    table["support"] = table["support"].astype(np.int64)
    table["correct"] = table["correct"].astype(np.int64)
    table.index.name = "emotion"
    return table


def prediction_table(
    probs: Any,
    y_true: Any | None,
    classes: Sequence[str],
    ids: Sequence[Hashable] | None = None,
) -> pd.DataFrame:
    """One row per sample: true and predicted class, confidence and every class probability.

    Args:
        probs: ``(N, C)`` class probabilities (softmax outputs) in the order of ``classes``.
        y_true: ``(N,)`` true class indices, or ``None`` when unknown (no ``true``/``correct``
            columns then).
        classes: the ``C`` class names.
        ids: optional ``(N,)`` sample identifiers (image paths, manifest rows) used as the index.

    Columns: ``true``, ``pred`` (class names), ``correct`` (bool), ``confidence`` (probability of
    the predicted class) and ``p_<class>`` for each class.
    """
    classes = list(classes)
    p = _to_numpy(probs).astype(np.float64, copy=False)
    if p.ndim != 2 or p.shape[1] != len(classes):
        raise ValueError(f"probs must have shape (N, {len(classes)}) for classes {classes}, got {p.shape}")
    n = p.shape[0]
    pred = p.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    names = np.asarray(classes, dtype=object)
    data: dict[str, Any] = {}
    if y_true is not None:
        t = _labels(y_true, "y_true", len(classes))
        if t.size != n:
            raise ValueError(f"y_true has {t.size} labels but probs has {n} rows")
        data["true"] = names[t]
        data["pred"] = names[pred]
        data["correct"] = t == pred
    else:
        data["pred"] = names[pred]
    data["confidence"] = p[np.arange(n), pred] if n else np.zeros(0)
    for i, c in enumerate(classes):
        data[f"p_{c}"] = p[:, i]
    index = None
    if ids is not None:
        ids = list(ids)
        if len(ids) != n:
            raise ValueError(f"ids has {len(ids)} entries but probs has {n} rows")
        index = pd.Index(ids, name="id")
    return pd.DataFrame(data, index=index)


# --------------------------------------------------------------------------- accuracy vs frequency
def _named_vector(x: Any, name: str) -> pd.Series:
    if isinstance(x, pd.DataFrame):
        raise TypeError(f"{name} must be a Series, a dict or an array, not a DataFrame (pick a column)")
    if isinstance(x, pd.Series):
        return x.astype(np.float64)
    if isinstance(x, Mapping):
        return pd.Series(dict(x), dtype=np.float64)
    arr = _to_numpy(x).astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return pd.Series(arr)


def accuracy_vs_frequency(per_class_acc: Any, train_counts: Any) -> tuple[pd.DataFrame, float, float]:
    """How per-class accuracy follows the number of training images per class (seed 001).

    Seed 001 observes that "the classification accuracy is positively correlated with the number
    of images in the dataset" (fewest disgust images -> lowest accuracy, most happy images ->
    highest). This puts both in one table and measures the correlation.

    Args:
        per_class_acc: per-class accuracies, a Series/dict keyed by class name (e.g.
            ``evaluation_table(...)["accuracy"]``; the ``overall``/``mean_per_class`` rows are
            ignored) or an array in class order.
        train_counts: training images per class, keyed or ordered the same way (e.g.
            ``manifest.class_distribution()["train"]``; a ``total`` row is ignored).

    Returns:
        ``(table, pearson_r, spearman_rho)``: the table has columns ``train_count``,
        ``frequency`` (share of the training set) and ``accuracy``, one row per class, sorted by
        count; classes whose accuracy is NaN (no test samples) are left out of the correlations.
        A correlation is NaN with fewer than two classes or when either variable is constant.
    """
    from scipy import stats

    acc = _named_vector(per_class_acc, "per_class_acc")
    counts = _named_vector(train_counts, "train_counts")
    summary_rows = {"overall", "mean_per_class", "total"}
    acc = acc.drop([k for k in acc.index if k in summary_rows])
    counts = counts.drop([k for k in counts.index if k in summary_rows])
    if isinstance(acc.index, pd.RangeIndex) != isinstance(counts.index, pd.RangeIndex):
        # one is keyed by name, the other positional: use the named index for both
        if len(acc) != len(counts):
            raise ValueError(f"per_class_acc has {len(acc)} classes but train_counts has {len(counts)}")
        if isinstance(acc.index, pd.RangeIndex):
            acc.index = counts.index
        else:
            counts.index = acc.index
    missing = [k for k in acc.index if k not in counts.index]
    if missing:
        raise KeyError(f"classes {missing} have an accuracy but no training count; counts cover {list(counts.index)}")
    counts = counts.reindex(acc.index)
    table = pd.DataFrame(
        {"train_count": counts.astype(np.int64), "frequency": counts / counts.sum(), "accuracy": acc}
    )
    table.index.name = "emotion"
    table = table.sort_values("train_count", kind="stable")
    valid = table.dropna(subset=["accuracy"])
    r = rho = float("nan")
    if len(valid) >= 2 and valid["accuracy"].nunique() > 1 and valid["train_count"].nunique() > 1:
        r = float(stats.pearsonr(valid["train_count"], valid["accuracy"])[0])
        rho = float(stats.spearmanr(valid["train_count"], valid["accuracy"])[0])
    return table, r, rho


# --------------------------------------------------------------------------- dataset tables
def class_distribution_table(
    manifests: Mapping[str, Manifest],
    split: str | Sequence[str] | None = None,
    normalize: bool = False,
) -> pd.DataFrame:
    """Images per emotion for several datasets side by side (seed 001 Table 1, seed 003 Table II).

    Args:
        manifests: dataset name -> :class:`~fer_explain.data.manifest.Manifest`; the names become
            the columns, in the order given.
        split: count only these split(s) (e.g. ``"train"``); ``None`` counts every row.
        normalize: give each dataset's share of images per class instead of counts.

    Rows are the canonical emotions any dataset's label space holds (canonical order) plus
    ``total``. A class outside a dataset's label space (e.g. contempt in a 7-class dataset,
    neutral in seed 001's Asian dataset) is ``<NA>``, not 0.
    """
    if not manifests:
        raise ValueError("manifests is empty: pass {dataset name: Manifest}")
    union = {c for m in manifests.values() for c in m.label_space.classes}
    rows = [c for c in EMOTIONS if c in union]
    columns: dict[str, pd.Series] = {}
    for name, m in manifests.items():
        df = m.df
        if split is not None:
            splits = [split] if isinstance(split, str) else list(split)
            present = set(df["split"].unique())
            missing = [s for s in splits if s not in present]
            if missing:
                raise KeyError(f"dataset {name!r}: split(s) {missing} not present; present: {sorted(present)}")
            df = df[df["split"].isin(splits)]
        counts = df["label"].value_counts()
        col = pd.Series(
            [int(counts.get(c, 0)) if c in m.label_space.classes else pd.NA for c in rows],
            index=rows,
            dtype="Int64",
        )
        col.loc["total"] = int(col.sum())
        columns[name] = col
    table = pd.DataFrame(columns)
    table.index.name = "emotion"
    table.columns.name = "dataset"
    if normalize:
        table = table.astype("Float64") / table.loc["total"].astype("Float64")
    return table


# --------------------------------------------------------------------------- repeated runs
def summarize_runs(accuracies: Sequence[float] | np.ndarray) -> pd.Series:
    """Mean, sample standard deviation (ddof=1), best and worst of repeated runs.

    Seed 002 reports the best of five runs; reporting the mean and sd beside it shows how much of
    that number is run-to-run luck. ``sd`` is NaN for a single run.

    Returns a float Series with ``n``, ``mean``, ``sd``, ``best`` (max), ``worst`` (min).
    """
    a = _to_numpy(accuracies).astype(np.float64).ravel()
    if a.size == 0:
        raise ValueError("accuracies is empty: pass the accuracy of at least one run")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"accuracies contain non-finite values: {a.tolist()}")
    return pd.Series(
        {
            "n": a.size,
            "mean": float(a.mean()),
            "sd": float(a.std(ddof=1)) if a.size > 1 else float("nan"),
            "best": float(a.max()),
            "worst": float(a.min()),
        },
        name="runs",
        dtype=np.float64,
    )


# --------------------------------------------------------------------------- cross-dataset / transfer
def cross_dataset_matrix(results: Mapping[tuple[str, str], float]) -> pd.DataFrame:
    """Train-on-A x test-on-B accuracy matrix (seed 001 Tables 2-3, seed 002's cross-dataset runs).

    Args:
        results: ``{(train_dataset, test_dataset): accuracy}``.

    Returns a float DataFrame with one row per training dataset (index ``trained on``) and one
    column per test dataset (columns ``tested on``), in first-seen order; pairs not given are NaN.
    The diagonal, when present, is the within-dataset accuracy.
    """
    if not results:
        raise ValueError("results is empty: pass {(train_name, test_name): accuracy}")
    rows: list[str] = []
    cols: list[str] = []
    for key in results:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise TypeError(f"results keys must be (train_name, test_name) pairs, got {key!r}")
        tr, te = key
        if tr not in rows:
            rows.append(tr)
        if te not in cols:
            cols.append(te)
    table = pd.DataFrame(np.nan, index=pd.Index(rows, name="trained on"), columns=pd.Index(cols, name="tested on"))
    for (tr, te), acc in results.items():
        table.loc[tr, te] = float(acc)
    return table


def relative_gain(scratch_acc: Any, finetuned_acc: Any) -> Any:
    """Relative accuracy gain of fine-tuning a pretrained model over training from scratch.

    Seed 001 (Huang et al. 2023, text citing Table 4): the RAF-DB validation accuracy "increased by
    26.95% ([(accuracy with pretrained model - accuracy without pretrained model) / accuracy
    without pretrained model] x 100%)", i.e. ``(finetuned - scratch) / scratch``; Table 4 gives
    83.37 % with and 65.67 % without, and ``(83.37 - 65.67) / 65.67 = 0.2695``.

    Both accuracies must be in the same unit (fractions or percents); the result is a fraction
    (multiply by 100 for percent). Works elementwise on arrays.
    """
    s = np.asarray(scratch_acc, dtype=np.float64)
    f = np.asarray(finetuned_acc, dtype=np.float64)
    if np.any(s <= 0):
        raise ValueError(f"scratch_acc must be positive to compute a relative gain, got {scratch_acc!r}")
    gain = (f - s) / s
    return float(gain) if gain.ndim == 0 else gain


def transfer_table(
    scratch: Mapping[str, float],
    finetuned: Mapping[str, float],
    pretrained_on: str | Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Scratch vs fine-tuned accuracy per target dataset, with absolute and relative gain (seed 001 Table 4).

    Args:
        scratch: target dataset -> accuracy of a model trained on it from scratch.
        finetuned: target dataset -> accuracy after pretraining elsewhere and fine-tuning on it.
        pretrained_on: the pretraining dataset (one name, or one per target) for a ``pretrained_on``
            column.

    Returns a DataFrame indexed by ``target`` with ``scratch``, ``finetuned``, ``absolute_gain``
    (``finetuned - scratch``) and ``relative_gain`` (:func:`relative_gain`).
    """
    missing = [k for k in scratch if k not in finetuned]
    extra = [k for k in finetuned if k not in scratch]
    if missing or extra:
        raise KeyError(
            f"scratch and finetuned must name the same targets; only in scratch: {missing}, only in finetuned: {extra}"
        )
    targets = list(scratch)
    s = np.array([float(scratch[k]) for k in targets])
    f = np.array([float(finetuned[k]) for k in targets])
    table = pd.DataFrame(
        {"scratch": s, "finetuned": f, "absolute_gain": f - s, "relative_gain": relative_gain(s, f)},
        index=pd.Index(targets, name="target"),
    )
    if pretrained_on is not None:
        if isinstance(pretrained_on, str):
            table.insert(0, "pretrained_on", pretrained_on)
        else:
            lacking = [k for k in targets if k not in pretrained_on]
            if lacking:
                raise KeyError(f"pretrained_on has no entry for target(s) {lacking}")
            table.insert(0, "pretrained_on", [pretrained_on[k] for k in targets])
    return table
