"""Occlusion figures in the style of seed 004 (Deep-Emotion) Figs. 11-13.

Seed 004 zeroes an ``N x N`` patch slid with stride ``s`` and re-predicts: Fig. 11 shows nine such
occluded copies of a face with the model's prediction on each (a wrong prediction marks the patch
as important), Figs. 12-13 the resulting map of important regions beside the face. This module
draws both from arrays the caller already has (e.g. an occlusion explainer's outputs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from fer_explain.viz.overlay import _class_name, _minmax, _numpy, overlay, to_display_image

__all__ = ["plot_occlusion"]


def plot_occlusion(
    image: Any,
    occluded_examples: Sequence[tuple[Any, Any, float]],
    importance_map: Any | None,
    true_label: Any | None = None,
    classes: Sequence[str] | None = None,
    ncols: int = 3,
    title: str | None = None,
    overlay_map: bool = True,
    cmap: str = "jet",
    cell_size: float = 1.8,
) -> Figure:
    """The face, its occluded copies with their predictions, and the importance map.

    Layout (one row of panels): the original image on the left, the occluded copies in a grid of
    ``ncols`` columns (seed 004 Fig. 11 shows 3 x 3), the importance map on the right (Figs. 12-13).

    Args:
        image: the un-occluded face, ``(H, W)`` or ``(H, W, 3)``, uint8 or float in ``[0, 1]``.
        occluded_examples: ``(occluded_image, predicted_label, probability)`` triples; the label
            is a class name or an index into ``classes``.
        importance_map: ``(H, W)`` map (e.g. how often occluding a pixel flips the prediction), or
            ``None`` to leave the panel out.
        true_label: the face's true (or originally predicted) class; occluded copies predicted as
            something else get a red title, like seed 004's wrong predictions.
        classes: class names for integer labels.
        overlay_map: draw the map over the face with :func:`~fer_explain.viz.overlay.overlay`;
            ``False`` draws the normalised map alone.

    Panel titles: ``"original"`` (``"original\\n<true>"`` with a true label),
    ``"<pred> (<p>)"`` per occluded copy, ``"important regions"`` for the map.
    """
    import matplotlib.pyplot as plt

    names = list(classes) if classes is not None else []
    examples = list(occluded_examples)
    if not examples and importance_map is None:
        raise ValueError("nothing to draw: pass occluded_examples and/or importance_map")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    img = to_display_image(image)
    true_name = None if true_label is None else _class_name(true_label, names)

    k = len(examples)
    grid_cols = min(ncols, k) if k else 0
    grid_rows = max(1, math.ceil(k / ncols)) if k else 1
    total_cols = 1 + grid_cols + (importance_map is not None)
    fig = plt.figure(figsize=(cell_size * (total_cols + 0.2), cell_size * grid_rows + 0.6))
    gs = fig.add_gridspec(grid_rows, total_cols)

    ax = fig.add_subplot(gs[:, 0])
    ax.imshow(img)
    ax.set_title("original" + (f"\n{true_name}" if true_name else ""), fontsize="small")
    axes = [ax]

    for i, example in enumerate(examples):
        if len(example) != 3:
            raise ValueError(f"occluded_examples[{i}] must be (image, predicted_label, probability)")
        occ, pred, prob = example
        pred_name = _class_name(pred, names)
        ax = fig.add_subplot(gs[i // ncols, 1 + i % ncols])
        ax.imshow(to_display_image(occ))
        wrong = true_name is not None and pred_name != true_name
        ax.set_title(f"{pred_name} ({float(prob):.2f})", fontsize="small", color="red" if wrong else "black")
        axes.append(ax)

    if importance_map is not None:
        m = _numpy(importance_map)
        ax = fig.add_subplot(gs[:, -1])
        if overlay_map:
            ax.imshow(overlay(img, m, cmap=cmap))
        else:
            if m.shape != img.shape[:2]:
                raise ValueError(f"importance_map is {m.shape} but the image is {img.shape[:2]}")
            ax.imshow(_minmax(m), cmap=cmap, vmin=0.0, vmax=1.0)
        ax.set_title("important regions", fontsize="small")
        axes.append(ax)

    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
