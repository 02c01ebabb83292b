"""Feature maps of the most excited channels per Squeeze-and-Excitation block (seed 001 Figs. 6-7, 9-10)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from fer_explain.viz.overlay import _minmax, _numpy, to_display_image

__all__ = ["plot_se_maps"]


def plot_se_maps(
    feature_maps: Mapping[str, Any],
    weights: Mapping[str, Any],
    title: str | None = None,
    top_k: int | None = None,
    image: Any | None = None,
    channel_ids: Mapping[str, Any] | None = None,
    cmap: str = "viridis",
    cell_size: float = 1.4,
) -> Figure:
    """A grid: one row per SE block, its channel maps sorted by excitation weight (largest first).

    Args:
        feature_maps: block name -> ``(k, h, w)`` channel maps of one sample (e.g. the SE block's
            output), rows in the mapping's order.
        weights: block name -> ``(k,)`` excitation weights of the same channels.
        title: figure title.
        top_k: show at most this many channels per block (the largest weights); default all ``k``.
        image: optional input face drawn in a first column.
        channel_ids: block name -> ``(k,)`` original channel numbers, when the maps are already a
            selection of the block's channels (titles then show those numbers).
        cmap: colour map; each channel map is min-max normalised on its own.

    Each channel panel is titled ``"ch <id> w=<weight>"``; each row's first panel has the block
    name as its y label.
    """
    import matplotlib.pyplot as plt

    if not feature_maps:
        raise ValueError("feature_maps is empty: pass {block name: (k, h, w) array}")
    missing = [b for b in feature_maps if b not in weights]
    if missing:
        raise KeyError(f"no weights for block(s) {missing}; weights has {list(weights)}")
    rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    for block, fm in feature_maps.items():
        maps = _numpy(fm).astype(np.float64)
        w = _numpy(weights[block]).astype(np.float64).ravel()
        if maps.ndim != 3:
            raise ValueError(f"feature_maps[{block!r}] must be (k, h, w), got shape {maps.shape}")
        if w.shape[0] != maps.shape[0]:
            raise ValueError(f"block {block!r}: {maps.shape[0]} maps but {w.shape[0]} weights")
        ids = np.arange(maps.shape[0]) if channel_ids is None or block not in channel_ids else _numpy(
            channel_ids[block]).ravel()
        if ids.shape[0] != maps.shape[0]:
            raise ValueError(f"block {block!r}: {maps.shape[0]} maps but {ids.shape[0]} channel ids")
        order = np.argsort(-w, kind="stable")
        if top_k is not None:
            order = order[:top_k]
        rows.append((block, maps[order], w[order], ids[order]))

    first = 1 if image is not None else 0
    ncols = first + max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(cell_size * ncols, cell_size * len(rows) + 0.5),
                             squeeze=False)
    for r, (block, maps, w, ids) in enumerate(rows):
        if image is not None:
            axes[r, 0].imshow(to_display_image(image))
            if r == 0:
                axes[r, 0].set_title("input", fontsize="small")
        for c in range(first, ncols):
            ax = axes[r, c]
            j = c - first
            if j < len(maps):
                ax.imshow(_minmax(maps[j]), cmap=cmap, vmin=0.0, vmax=1.0)
                ax.set_title(f"ch {int(ids[j])} w={w[j]:.2f}", fontsize="x-small")
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(block, fontsize="small")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
