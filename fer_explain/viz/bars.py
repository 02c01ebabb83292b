"""Per-region charts: accuracy (or any score) per face region and a region x emotion heatmap
(seed 002 Tables 6-7, "which face region carries which emotion")."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fer_explain.labels import EMOTIONS

__all__ = ["plot_region_bars", "plot_region_contribution", "plot_region_emotion_heatmap"]


def _region_indexed(table: pd.DataFrame, region_col: str) -> pd.DataFrame:
    if region_col in table.columns:
        if table[region_col].duplicated().any():
            dup = table.loc[table[region_col].duplicated(), region_col].tolist()
            raise ValueError(f"column {region_col!r} repeats region(s) {dup}; one row per region expected")
        return table.set_index(region_col)
    return table


def plot_region_bars(
    table: pd.DataFrame,
    value: str = "accuracy",
    chance: float | None = None,
    error: str | None = None,
    region_col: str = "region",
    title: str | None = None,
    ax: Axes | None = None,
    annotate: bool = True,
) -> Figure:
    """One bar per face region (in the table's row order) with an optional chance line.

    Args:
        table: one row per region, the region names in a ``region_col`` column or as the index.
        value: the column to plot (e.g. ``"accuracy"``).
        chance: draw a dashed horizontal line at this value, labelled ``"chance (<value>)"`` (e.g.
            ``1 / num_classes``, or the majority-class rate).
        error: optional column of error-bar half-widths (e.g. the sd over runs).
        annotate: write each bar's value above it.
    """
    import matplotlib.pyplot as plt

    t = _region_indexed(table, region_col)
    for col in (value, error):
        if col is not None and col not in t.columns:
            raise KeyError(f"column {col!r} not in table; columns: {list(t.columns)}")
    regions = [str(r) for r in t.index]
    vals = t[value].to_numpy(dtype=np.float64)
    err = t[error].to_numpy(dtype=np.float64) if error else None
    own_figure = ax is None
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(regions), 4.0))
    else:
        fig = ax.figure  # type: ignore[assignment]
    bars = ax.bar(regions, vals, yerr=err, capsize=3 if err is not None else 0, color="tab:blue", label=value)
    if annotate:
        ax.bar_label(bars, labels=[f"{v:.2f}" if np.isfinite(v) else "" for v in vals], fontsize="small",
                     padding=2)
    if chance is not None:
        line = ax.axhline(chance, color="red", linestyle="--", linewidth=1, label=f"chance ({chance:.2f})")
        ax.legend(handles=[bars, line], fontsize="small")
    ax.set_xlabel("region")
    ax.set_ylabel(value)
    ax.set_title(title if title is not None else f"{value} per region")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")
    top = np.nanmax(np.append(vals + (err if err is not None else 0), chance if chance is not None else np.nan))
    if np.isfinite(top) and top > 0:
        ax.set_ylim(0, top * 1.12)
    if own_figure:
        fig.tight_layout()
    return fig  # type: ignore[return-value]


def plot_region_emotion_heatmap(
    table: pd.DataFrame,
    value: str | None = None,
    region_col: str = "region",
    emotion_col: str = "emotion",
    title: str | None = None,
    ax: Axes | None = None,
    cmap: str = "viridis",
    fmt: str = ".2f",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """Heatmap of a score per (region, emotion): rows regions, columns emotions.

    Args:
        table: either wide (index = regions, columns = emotions) or long with ``region_col``,
            ``emotion_col`` and a ``value`` column (pivoted here).
        value: the value column of a long table.
        vmin, vmax: colour range (default: the data's range).

    Emotion columns that are canonical names are put in canonical order; others keep theirs.
    Row order is kept. Annotated with ``fmt``; axis labels ``"emotion"`` and ``"region"``.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    if region_col in table.columns and emotion_col in table.columns:
        if value is None:
            rest = [c for c in table.columns if c not in (region_col, emotion_col)]
            if len(rest) != 1:
                raise ValueError(f"a long table needs value=<column>; candidates: {rest}")
            value = rest[0]
        if value not in table.columns:
            raise KeyError(f"column {value!r} not in table; columns: {list(table.columns)}")
        rows = list(dict.fromkeys(table[region_col]))
        wide = table.pivot(index=region_col, columns=emotion_col, values=value).reindex(rows)
    else:
        wide = _region_indexed(table, region_col)
    canon = [e for e in EMOTIONS if e in wide.columns]
    other = [c for c in wide.columns if c not in EMOTIONS]
    wide = wide[canon + other].astype(np.float64)
    own_figure = ax is None
    if ax is None:
        fig, ax = plt.subplots(figsize=(2.5 + 0.9 * wide.shape[1], 1.5 + 0.55 * wide.shape[0]))
    else:
        fig = ax.figure  # type: ignore[assignment]
    sns.heatmap(wide, annot=True, fmt=fmt, cmap=cmap, vmin=vmin, vmax=vmax, ax=ax,
                xticklabels=[str(c) for c in wide.columns], yticklabels=[str(r) for r in wide.index])
    ax.set_xlabel("emotion")
    ax.set_ylabel("region")
    ax.set_title(title if title is not None else (f"{value} per region and emotion" if value else "region x emotion"))
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")
    ax.tick_params(axis="y", labelrotation=0)
    if own_figure:
        fig.tight_layout()
    return fig  # type: ignore[return-value]


def plot_region_contribution(
    table: pd.DataFrame,
    value: str = "accuracy",
    chance: float | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Bar chart of accuracy per region with a chance line (seed 002 Table 6 as a figure).

    ``table`` is the first output of :func:`fer_explain.analysis.train_region_models` (one bar per region, drawn with
    :func:`plot_region_bars`), a long table of :func:`fer_explain.analysis.evaluate_region_occlusion`
    (``region``/``mode`` columns: grouped bars, one colour per mode), or the wide table of
    :func:`fer_explain.analysis.compare_padding` (one colour per variant column). ``chance`` draws a dashed line (e.g.
    ``1 / num_classes``).
    """
    import matplotlib.pyplot as plt

    if "mode" in table.columns and "region" in table.columns:
        wide = table.pivot(index="region", columns="mode", values=value)
        order = [r for r in dict.fromkeys(table["region"])]
        wide = wide.reindex(order)
    elif value in table.columns:
        return plot_region_bars(table, value=value, chance=chance, title=title or f"{value} per face region", ax=ax)
    else:
        wide = table.select_dtypes("number").drop(columns=["n_test", "n"], errors="ignore")
        if wide.shape[1] == 0:
            raise KeyError(f"no {value!r} column and no numeric columns to plot; columns: {list(table.columns)}")
    own = ax is None
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(wide) + 0.3 * wide.shape[1], 4.0))
    else:
        fig = ax.figure  # type: ignore[assignment]
    n_groups, n_series = wide.shape
    width = 0.8 / max(n_series, 1)
    xs = np.arange(n_groups)
    handles = []
    for j, col in enumerate(wide.columns):
        handles.append(ax.bar(xs + (j - (n_series - 1) / 2) * width, wide[col].to_numpy(dtype=float), width,
                              label=str(col)))
    if chance is not None:
        handles.append(ax.axhline(chance, color="red", linestyle="--", linewidth=1, label=f"chance ({chance:.2f})"))
    ax.set_xticks(xs)
    ax.set_xticklabels([str(r) for r in wide.index], rotation=30, ha="right", rotation_mode="anchor")
    ax.set_xlabel("region")
    ax.set_ylabel(value)
    ax.set_title(title or f"{value} per face region")
    ax.legend(fontsize="small")
    top = np.nanmax(np.append(wide.to_numpy(dtype=float).ravel(), chance if chance is not None else np.nan))
    if np.isfinite(top) and top > 0:
        ax.set_ylim(0, top * 1.12)
    if own:
        fig.tight_layout()
    return fig  # type: ignore[return-value]
