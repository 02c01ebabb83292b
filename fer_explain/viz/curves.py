"""Training curves: loss and accuracy per epoch (seed 004 Fig. 14, seed 003's training plots)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["plot_training_curves"]

_PANELS: tuple[tuple[str, str, str], ...] = (("loss", "train_loss", "val_loss"), ("accuracy", "train_acc", "val_acc"))


def plot_training_curves(
    history: pd.DataFrame | Sequence[Mapping[str, Any]],
    title: str | None = None,
    mark_best: bool = True,
) -> Figure:
    """Two side-by-side axes, ``loss`` and ``accuracy``, with train and validation curves per epoch.

    Args:
        history: a DataFrame (or a list of per-epoch dicts) with columns ``epoch``, ``train_loss``,
            ``val_loss``, ``train_acc``, ``val_acc``. Any of the four curves may be missing or NaN
            (e.g. no validation set, or validation every few epochs); ``epoch`` defaults to
            ``1..len(history)``. At least one curve must be present.
        title: figure title.
        mark_best: draw a dotted vertical line at the epoch with the highest ``val_acc`` (legend
            entry ``"best val (epoch E)"``) on both axes.

    Legend entries are ``"train"`` and ``"val"`` for the curves present.
    """
    import matplotlib.pyplot as plt

    df = history if isinstance(history, pd.DataFrame) else pd.DataFrame(list(history))
    known = [c for _, tr, va in _PANELS for c in (tr, va)]
    present = [c for c in known if c in df.columns and df[c].notna().any()]
    if not present:
        raise ValueError(f"history has none of the columns {known} (with values); got {list(df.columns)}")
    epoch = df["epoch"].to_numpy() if "epoch" in df.columns else np.arange(1, len(df) + 1)

    best_epoch = None
    if mark_best and "val_acc" in present:
        best_epoch = epoch[int(np.nanargmax(df["val_acc"].to_numpy(dtype=np.float64)))]

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (name, tr, va) in zip(axes, _PANELS):
        drawn = False
        for col, label, style in ((tr, "train", "-"), (va, "val", "--")):
            if col in present:
                y = df[col].to_numpy(dtype=np.float64)
                ok = np.isfinite(y)
                ax.plot(epoch[ok], y[ok], style, marker="o", markersize=3, label=label)
                drawn = True
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best val (epoch {best_epoch})")
        if not drawn:
            ax.text(0.5, 0.5, f"no {name} recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        if drawn:
            ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
