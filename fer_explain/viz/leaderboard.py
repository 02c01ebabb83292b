"""The known-answer leaderboard as a heatmap: one panel per model, methods down, variants across."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["plot_leaderboard_heatmap"]

LOWER_IS_BETTER: frozenset[str] = frozenset({"deletion_auc", "randomization_spearman"})
"""Metrics whose colour scale is reversed (a low value is good)."""


def plot_leaderboard_heatmap(
    table: pd.DataFrame,
    metric: str = "pointing_game",
    models: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    annotate: bool = True,
    title: str | None = None,
) -> Figure:
    """A method x variant heatmap of one metric of a leaderboard table, one panel per model.

    Args:
        table: rows with ``model``, ``variant``, ``method`` and ``metric`` columns (one row per
            triple), e.g. ``leaderboard.csv``.
        metric: the column to show (``pointing_game``, ``relevance_mass``, ``rank_accuracy``, ...).
        models, variants, methods: which to show and in what order (default: the table's order of
            first appearance). A (method, variant) cell without a row stays blank.
        annotate: write each cell's value.
        title: the figure's title (default: the metric's name).

    Colours run from 0 to 1 for the share metrics (``RdYlGn``; reversed for deletion AUC and the
    randomisation Spearman, where low is good).
    """
    import matplotlib.pyplot as plt

    need = {"model", "variant", "method", metric}
    missing = sorted(need - set(table.columns))
    if missing:
        raise KeyError(f"leaderboard table lacks columns {missing}; columns: {list(table.columns)}")
    if table[["model", "variant", "method"]].duplicated().any():
        raise ValueError("the table repeats a (model, variant, method) row; one row per triple expected")
    models = list(models) if models is not None else list(dict.fromkeys(table["model"].astype(str)))
    variants = list(variants) if variants is not None else list(dict.fromkeys(table["variant"].astype(str)))
    methods = list(methods) if methods is not None else list(dict.fromkeys(table["method"].astype(str)))
    if not models or not variants or not methods:
        raise ValueError("nothing to plot: the table has no rows")
    cmap = "RdYlGn_r" if metric in LOWER_IS_BETTER else "RdYlGn"
    fig, axes = plt.subplots(1, len(models), figsize=(1.6 + 1.3 * len(variants) * len(models), 0.8 + 0.34 * len(methods)),
                             squeeze=False, sharey=True)
    image = None
    for ax, model in zip(axes[0], models):
        sub = table[table["model"].astype(str) == model]
        grid = sub.pivot(index="method", columns="variant", values=metric).reindex(index=methods, columns=variants)
        values = grid.to_numpy(dtype=np.float64)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(variants)), variants, rotation=30, ha="right")
        ax.set_yticks(range(len(methods)), methods)
        ax.set_title(model)
        if annotate:
            for i in range(len(methods)):
                for j in range(len(variants)):
                    if np.isfinite(values[i, j]):
                        ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=list(axes[0]), fraction=0.03, pad=0.02, label=metric)
    fig.suptitle(title or metric.replace("_", " "))
    return fig
