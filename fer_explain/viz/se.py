"""Feature maps of the most excited channels per Squeeze-and-Excitation block (seed 001 Figs. 6-7, 9-10).

:func:`plot_se_maps` draws the grid; :func:`se_panel` picks one sample's maps out of
:func:`fer_explain.explain.se_block_maps`'s batch result as its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from fer_explain.viz.overlay import _minmax, _numpy, overlay, to_display_image, upsample

if TYPE_CHECKING:
    from fer_explain.explain.se_maps import SEBlockMaps

__all__ = ["plot_se_maps", "se_panel"]


def plot_se_maps(
    feature_maps: Mapping[str, Any],
    weights: Mapping[str, Any],
    title: str | None = None,
    top_k: int | None = None,
    image: Any | None = None,
    channel_ids: Mapping[str, Any] | None = None,
    cmap: str = "viridis",
    cell_size: float = 1.4,
    on_face: bool = False,
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
        on_face: upsample each channel map (bilinear) to the face's size and draw it over the face with
            seed 002's overlay (:func:`~fer_explain.viz.overlay.overlay`: map x 0.4 + face x 0.5, JET), so
            the face region a channel responds to can be read; needs ``image``.

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

    if on_face and image is None:
        raise ValueError("on_face=True needs the input face: pass image=")
    face = to_display_image(image) if image is not None else None
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
            if j < len(maps) and on_face:
                ax.imshow(overlay(face, upsample(maps[j], face.shape[:2])))
            elif j < len(maps):
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


def se_panel(blocks: Sequence[SEBlockMaps], index: int, top_k: int | None = None) -> dict[str, dict[str, Any]]:
    """Sample ``index``'s strongest channels per SE block as :func:`plot_se_maps` keyword arguments
    (``feature_maps``, ``weights``, ``channel_ids``), blocks in forward order.

    ``blocks`` is what :func:`fer_explain.explain.se_block_maps` returns for a batch (each block's
    ``top_maps``, ``top_weights`` and ``top_channels``); ``top_k`` keeps the first ``top_k`` of them::

        blocks, _ = se_block_maps(model, x, top_k=4)
        fig = plot_se_maps(**se_panel(blocks, 0), image=faces[0])
    """
    if not blocks:
        raise ValueError("se_panel: no SE blocks given")
    n = int(blocks[0].top_maps.shape[0])
    if not -n <= index < n:
        raise IndexError(f"sample {index} out of range for a batch of {n}")
    k = slice(None) if top_k is None else slice(0, int(top_k))
    return {
        "feature_maps": {b.name: b.top_maps[index, k] for b in blocks},
        "weights": {b.name: b.top_weights[index, k] for b in blocks},
        "channel_ids": {b.name: b.top_channels[index, k] for b in blocks},
    }
