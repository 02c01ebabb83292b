"""Confusion-matrix arithmetic shared by training, analyses, figures and widgets: one row normalisation.

It sits at the bottom of the package (beside :mod:`fer_explain.labels`) so that ``train``'s
``EvalResult``, ``analysis``'s tables, ``viz``'s heatmaps and the confusion explorer all normalise
the same way. Convention: a row whose class has no samples is **NaN** (its recall is undefined, not
zero); figures leave such cells blank.
"""

from __future__ import annotations

import numpy as np

__all__ = ["normalize_rows"]


def normalize_rows(cm: np.ndarray) -> np.ndarray:
    """Divide each row of a square confusion matrix by its sum (float64); rows that sum to zero become NaN."""
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square (C, C), got shape {cm.shape}")
    sums = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, sums, out=np.full_like(cm, np.nan), where=sums != 0)
