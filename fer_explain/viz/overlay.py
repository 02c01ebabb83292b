"""Heatmap overlays on face images and grids of explanations side by side.

The overlay follows seed 002 (Sec. 4.3, eq. 3): the map is coloured with the JET colour map and
blended as ``result = heatmap x 0.4 + image x 0.5``. Here both terms are floats in ``[0, 1]``
(seed 002 works on OpenCV uint8 images with ``COLORMAP_JET``; matplotlib's ``"jet"`` is the same
blue -> green -> red ramp up to small rounding of the knots).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["explanation_grid", "overlay", "to_display_image", "upsample"]


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def to_display_image(image: Any) -> np.ndarray:
    """An image as float RGB ``(H, W, 3)`` in ``[0, 1]``.

    Accepts ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or channel-first ``(1|3, H, W)`` arrays or
    tensors; uint8 is divided by 255, floats must already lie in ``[0, 1]`` (undo any mean/std
    normalisation first). Grey is repeated to three channels.
    """
    img = _numpy(image)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = np.moveaxis(img, 0, -1)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"image must be (H, W), (H, W, 1|3) or (1|3, H, W), got shape {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    if img.dtype == bool or not np.issubdtype(img.dtype, np.number):
        raise TypeError(f"image must be uint8 or float, got dtype {img.dtype}")
    img = img.astype(np.float64)
    if not np.all(np.isfinite(img)):
        raise ValueError("image contains NaN or infinite values")
    lo, hi = float(img.min()), float(img.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(
            f"float image values must lie in [0, 1], got [{lo:.3g}, {hi:.3g}]; "
            "undo the mean/std normalisation or pass uint8"
        )
    return np.clip(img, 0.0, 1.0)


def _minmax(heatmap: np.ndarray) -> np.ndarray:
    h = heatmap.astype(np.float64)
    h = np.nan_to_num(h, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(h.min()), float(h.max())
    return (h - lo) / (hi - lo) if hi > lo else np.zeros_like(h)


def overlay(
    image: Any,
    heatmap: Any,
    alpha_map: float = 0.4,
    alpha_image: float = 0.5,
    cmap: str = "jet",
    normalize: bool = True,
) -> np.ndarray:
    """Blend a coloured heatmap onto an image: ``alpha_map * cmap(h) + alpha_image * image``.

    The defaults are seed 002's eq. 3 (``heatmap x 0.4 + image x 0.5``, JET colours).

    Args:
        image: ``(H, W)`` grey or ``(H, W, 3)`` RGB, uint8 or float in ``[0, 1]`` (see
            :func:`to_display_image`).
        heatmap: ``(H, W)`` attribution map at the image's resolution.
        alpha_map, alpha_image: blend weights of the coloured map and of the image.
        cmap: matplotlib colour map name.
        normalize: min-max normalise the heatmap to ``[0, 1]`` first (so its largest value is the
            top colour; a constant map becomes all zeros, the bottom colour; NaNs count as 0).
            With ``False`` the map must already lie in ``[0, 1]``; values outside are clipped.

    Returns:
        float64 RGB ``(H, W, 3)`` clipped to ``[0, 1]``.
    """
    import matplotlib

    img = to_display_image(image)
    h = _numpy(heatmap)
    if h.ndim == 3 and h.shape[0] == 1:
        h = h[0]
    if h.ndim != 2:
        raise ValueError(f"heatmap must be (H, W), got shape {h.shape}")
    if h.shape != img.shape[:2]:
        raise ValueError(
            f"heatmap is {h.shape[0]}x{h.shape[1]} but the image is {img.shape[0]}x{img.shape[1]}; "
            "upsample the map to the image size first (Explanation.maps already are)"
        )
    h = _minmax(h) if normalize else np.clip(np.nan_to_num(h.astype(np.float64)), 0.0, 1.0)
    colour = matplotlib.colormaps[cmap](h)[..., :3]
    return np.clip(alpha_map * colour + alpha_image * img, 0.0, 1.0)


def upsample(heatmap: Any, size: tuple[int, int]) -> np.ndarray:
    """A coarse ``(h, w)`` map resized bilinearly (align_corners=False, as Grad-CAM does) to ``size = (H, W)``."""
    import torch
    import torch.nn.functional as F

    t = torch.as_tensor(np.asarray(_numpy(heatmap), dtype=np.float32))[None, None]
    return F.interpolate(t, size=tuple(int(v) for v in size), mode="bilinear", align_corners=False)[0, 0].numpy()


def _class_name(label: Any, classes: Sequence[str]) -> str:
    if isinstance(label, str):
        return label
    i = int(label)
    if not 0 <= i < len(classes):
        raise ValueError(f"label index {i} is out of range for classes {list(classes)}")
    return classes[i]


def explanation_grid(
    images: Any,
    maps_by_method: Mapping[str, Any],
    true_labels: Sequence[Any] | Any | None,
    pred_labels: Sequence[Any] | Any,
    probs: Any,
    classes: Sequence[str],
    overlay_maps: bool = True,
    alpha_map: float = 0.4,
    alpha_image: float = 0.5,
    cmap: str = "jet",
    cell_size: float = 2.0,
) -> Figure:
    """Rows = samples, columns = the image then one attribution map per method.

    Args:
        images: ``(N, H, W)``, ``(N, H, W, 3)`` or channel-first ``(N, 1|3, H, W)``, uint8 or float
            in ``[0, 1]``.
        maps_by_method: method name -> ``(N, H, W)`` maps (e.g. ``{"gradcam": exp.maps}``), in
            column order.
        true_labels: ``(N,)`` class indices or names, or ``None``.
        pred_labels: ``(N,)`` class indices or names.
        probs: ``(N, C)`` class probabilities (the predicted class's is shown) or ``(N,)`` the
            probability of the prediction.
        classes: class names for indices.
        overlay_maps: draw each map as :func:`overlay` on the image (seed 002 eq. 3 by default);
            ``False`` draws the min-max normalised map alone with ``cmap``.

    The image column's titles read ``"pred <name> (<p>)\\ntrue <name>"``; the method columns are
    titled with the method name on the first row.
    """
    import matplotlib.pyplot as plt

    imgs = _numpy(images)
    if imgs.ndim == 4 and imgs.shape[1] in (1, 3) and imgs.shape[-1] not in (1, 3):
        imgs = np.moveaxis(imgs, 1, -1)
    if imgs.ndim not in (3, 4):
        raise ValueError(f"images must be (N, H, W[, C]), got shape {imgs.shape}")
    n = imgs.shape[0]
    if n == 0:
        raise ValueError("images is empty")
    classes = list(classes)
    maps = {name: _numpy(m) for name, m in maps_by_method.items()}
    for name, m in maps.items():
        if m.shape != (n, *imgs.shape[1:3]):
            raise ValueError(f"maps for method {name!r} have shape {m.shape}, expected {(n, *imgs.shape[1:3])}")
    preds = list(pred_labels)
    if len(preds) != n:
        raise ValueError(f"pred_labels has {len(preds)} entries for {n} images")
    trues = None if true_labels is None else list(true_labels)
    if trues is not None and len(trues) != n:
        raise ValueError(f"true_labels has {len(trues)} entries for {n} images")
    p = _numpy(probs).astype(np.float64)
    if p.shape not in ((n,), (n, len(classes))):
        raise ValueError(f"probs must be ({n},) or ({n}, {len(classes)}), got {p.shape}")

    ncols = 1 + len(maps)
    fig, axes = plt.subplots(n, ncols, figsize=(cell_size * ncols, cell_size * n + 0.4), squeeze=False)
    for i in range(n):
        pred_name = _class_name(preds[i], classes)
        if p.ndim == 1:
            prob = float(p[i])
        else:
            prob = float(p[i, classes.index(pred_name)])
        img = to_display_image(imgs[i])
        ax = axes[i, 0]
        ax.imshow(img)
        head = f"pred {pred_name} ({prob:.2f})"
        if trues is not None:
            true_name = _class_name(trues[i], classes)
            head += f"\ntrue {true_name}"
            colour = "black" if true_name == pred_name else "red"
        else:
            colour = "black"
        ax.set_title(head, fontsize="small", color=colour)
        for j, (name, m) in enumerate(maps.items(), start=1):
            ax = axes[i, j]
            if overlay_maps:
                ax.imshow(overlay(img, m[i], alpha_map=alpha_map, alpha_image=alpha_image, cmap=cmap))
            else:
                ax.imshow(_minmax(m[i]), cmap=cmap, vmin=0.0, vmax=1.0)
            if i == 0:
                ax.set_title(name, fontsize="small")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
