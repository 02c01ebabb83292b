"""Confusion-matrix heatmaps (seed 001 Fig. 8, seed 002 Fig. 5, seed 004 Figs. 8-10)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fer_explain.confusion import normalize_rows

__all__ = ["plot_confusion"]


def plot_confusion(
    cm: np.ndarray,
    classes: Sequence[str],
    normalize: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
    cmap: str = "Blues",
    annotate: bool = True,
    colorbar: bool = True,
) -> Figure:
    """A labelled, annotated heatmap of a confusion matrix (rows: true class, columns: predicted).

    Args:
        cm: ``(C, C)`` matrix, ``cm[i, j]`` = samples of true class ``i`` predicted as ``j``, as
            returned by :func:`fer_explain.analysis.evaluation.confusion`.
        classes: the ``C`` class names, used as tick labels on both axes.
        normalize: divide each row by its sum (:func:`fer_explain.confusion.normalize_rows`; rows of a class
            without samples are NaN and left blank) and
            annotate with two decimals on a fixed 0-1 colour scale; ``False`` shows the raw counts.
            A matrix that is already row-normalised is unchanged by normalising again.
        title: axes title; default ``"normalized confusion matrix"`` or ``"confusion matrix"``.
        ax: draw into this Axes instead of a new Figure.
        cmap, annotate, colorbar: passed to :func:`seaborn.heatmap`.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    m = np.asarray(cm)
    classes = list(classes)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"cm must be a square (C, C) matrix, got shape {m.shape}")
    if m.shape[0] != len(classes):
        raise ValueError(f"cm is {m.shape[0]} x {m.shape[1]} but {len(classes)} class names were given: {classes}")
    if normalize:
        data = normalize_rows(m)
        fmt, vmin, vmax = ".2f", 0.0, 1.0
    else:
        data = m
        integral = np.issubdtype(m.dtype, np.integer) or np.all(m == np.round(m))
        fmt, vmin, vmax = ("d" if integral else ".2f"), None, None
        if integral:
            data = m.astype(np.int64)
    own_figure = ax is None
    if ax is None:
        side = 1.5 + 0.6 * len(classes)
        fig, ax = plt.subplots(figsize=(side + 1.5, side))
    else:
        fig = ax.figure  # type: ignore[assignment]
    sns.heatmap(
        data,
        annot=annotate,
        fmt=fmt,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        cbar=colorbar,
        square=True,
        xticklabels=classes,
        yticklabels=classes,
        ax=ax,
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title if title is not None else ("normalized confusion matrix" if normalize else "confusion matrix"))
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")
    ax.tick_params(axis="y", labelrotation=0)
    if own_figure:
        fig.tight_layout()
    return fig  # type: ignore[return-value]
