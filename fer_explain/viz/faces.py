"""Grids of faces, each titled with its label and optionally with a mask (e.g. the synthetic faces'
ground-truth evidence or a face region) drawn over it in one colour."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from fer_explain.viz.overlay import _numpy, to_display_image

__all__ = ["face_grid"]


def face_grid(images: Any, masks: Any = None, labels: Sequence[Any] | None = None,
              classes: Sequence[str] | None = None, ncols: int = 8, cell_size: float = 1.3,
              mask_color: tuple[float, float, float] = (1.0, 0.15, 0.1), mask_alpha: float = 0.55,
              title: str | None = None) -> Figure:
    """A grid of faces (row-major, ``ncols`` per row), each titled with its label; with ``masks``
    ``(N, H, W)`` (bool or ``[0, 1]``) each mask is drawn in ``mask_color`` over its face.

    ``images``: ``(N, H, W)``, ``(N, H, W, 3)`` or ``(N, 1|3, H, W)``, uint8 or float in ``[0, 1]``
    (numpy or torch). ``labels``: class indices (named through ``classes``) or names.
    """
    import matplotlib.pyplot as plt

    imgs = [to_display_image(im) for im in (_numpy(images) if hasattr(images, "detach") else images)]
    n = len(imgs)
    if n == 0:
        raise ValueError("face_grid: no images")
    if masks is not None:
        masks = _numpy(masks).astype(np.float64)
        if masks.shape[0] != n or masks.shape[1:] != imgs[0].shape[:2]:
            raise ValueError(f"masks must be ({n}, H, W) matching the images {imgs[0].shape[:2]}, got {masks.shape}")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries for {n} images")
    cols = max(1, min(int(ncols), n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cell_size * cols, cell_size * rows + (0.4 if title else 0.1)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        img = imgs[i]
        if masks is not None:
            a = np.clip(masks[i], 0, 1)[..., None] * mask_alpha
            img = img * (1 - a) + np.asarray(mask_color)[None, None] * a
        ax.imshow(img, vmin=0, vmax=1, interpolation="nearest")
        if labels is not None:
            lab = labels[i]
            name = classes[int(lab)] if classes is not None and not isinstance(lab, str) else str(lab)
            ax.set_title(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
