"""Scoring attribution maps against binary ground-truth masks, as plain tensor functions (captum style).

Its one job: given maps ``(N, H, W)`` and masks ``(N, H, W)`` (bool), say how well each map falls on
its mask. Nothing here runs a model or knows an explainer, so the same functions score a Grad-CAM map,
a population map or a reference map::

    >>> sel = top_fraction(maps, 0.15)                  # the top 15 % of each map's heat
    >>> mask_iou(sel, masks), mask_f1(sel, masks)       # (N,) each, NaN where the mask is empty
    >>> mask_iou(otsu_binarize(maps), masks)            # Otsu's threshold instead
    >>> pointing_hits(maps, masks)                      # 1 where the map's maximum lies in the mask

Binarising
----------
:func:`top_fraction` keeps exactly ``round(fraction * H * W)`` pixels (at least one), the highest
values first; ties (a flat map, the zeros of a ReLU'd Grad-CAM) are broken by a seeded random order,
so no image region is favoured. :func:`otsu_binarize` keeps the pixels above Otsu's threshold of each
map, computed as :func:`skimage.filters.threshold_otsu` does (256 bins between the map's minimum and
maximum, the threshold at a bin centre; a constant map keeps nothing).

Scores
------
``IoU = |S & M| / |S | M|`` and ``F1 = 2 |S & M| / (|S| + |M|)`` (the Dice coefficient) of a selection
``S`` and a mask ``M``; both are NaN where the mask is empty (no ground truth, e.g. neutral). The
pointing game is :func:`fer_explain.explain.metrics.pointing_game`'s rule on bare tensors: 1 when the
map's first maximum lies in the mask, NaN for an empty mask.

Reference maps
--------------
:func:`random_maps` (uniform noise: the chance level), :func:`gaussian_maps` (a centred Gaussian blob:
the centre bias) and :func:`ideal_maps` (the mask itself: the ceiling of a protocol; under
``top_fraction`` it is ``min(|M|, k) / max(|M|, k)``, below 1 whenever the mask is not exactly ``k``
pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "OTSU_BINS",
    "gaussian_maps",
    "ideal_maps",
    "mask_f1",
    "mask_iou",
    "otsu_binarize",
    "otsu_threshold",
    "pointing_hits",
    "random_maps",
    "top_fraction",
]

OTSU_BINS = 256
"""Histogram bins of :func:`otsu_threshold` (skimage's default)."""


def _maps(maps: Any, name: str = "maps") -> Tensor:
    t = torch.as_tensor(np.asarray(maps) if not isinstance(maps, Tensor) else maps).detach().cpu()
    if t.dim() == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() != 3:
        raise ValueError(f"{name} must be (N, H, W), got shape {tuple(t.shape)}")
    t = t.double()
    if not torch.isfinite(t).all():
        bad = torch.nonzero(~torch.isfinite(t).flatten(1).all(1)).flatten()[:10].tolist()
        raise ValueError(f"{name} of sample(s) {bad} hold NaN/inf")
    return t


def _masks(masks: Any, like: Tensor | None = None, name: str = "masks") -> Tensor:
    m = torch.as_tensor(np.asarray(masks) if not isinstance(masks, Tensor) else masks).detach().cpu()
    if m.dim() == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.dim() != 3:
        raise ValueError(f"{name} must be (N, H, W), got shape {tuple(m.shape)}")
    if like is not None and m.shape != like.shape:
        raise ValueError(f"{name} have shape {tuple(m.shape)} but the maps are {tuple(like.shape)}")
    return m.bool()


# --------------------------------------------------------------------------- binarising
def top_fraction(maps: Any, fraction: float = 0.15, seed: int = 0) -> Tensor:
    """``(N, H, W)`` bool: each map's ``round(fraction * H * W)`` highest pixels (at least one).

    Ties are broken by a random order drawn from a generator seeded with ``seed`` (the same order for
    every call with the same shape and seed).
    """
    if not 0 < float(fraction) <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    full = _maps(maps)
    v = full.flatten(1)
    n, hw = v.shape
    k = max(1, round(float(fraction) * hw))
    out = torch.zeros((n, hw), dtype=torch.bool)
    if n:
        gen = torch.Generator().manual_seed(int(seed))
        shuffle = torch.rand((n, hw), generator=gen).argsort(dim=1)  # the tie-breaking order
        by_value = v.gather(1, shuffle).argsort(dim=1, descending=True, stable=True)
        out.scatter_(1, shuffle.gather(1, by_value[:, :k]), True)
    return out.view(full.shape)


def otsu_threshold(maps: Any, bins: int = OTSU_BINS) -> Tensor:
    """Otsu's threshold of each map, ``(N,)`` float64, as :func:`skimage.filters.threshold_otsu`
    computes it (``bins`` bins between the map's minimum and maximum; a constant map gives its value)."""
    if int(bins) < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    v = _maps(maps).flatten(1)
    n = v.shape[0]
    lo, hi = v.min(1).values, v.max(1).values
    span = (hi - lo).clamp_min(torch.finfo(torch.float64).tiny)
    idx = ((v - lo[:, None]) / span[:, None] * bins).floor().long().clamp(0, bins - 1)
    hist = torch.zeros((n, bins), dtype=torch.float64).scatter_add_(1, idx, torch.ones_like(v))
    edges = lo[:, None] + span[:, None] * torch.arange(bins + 1, dtype=torch.float64)[None] / bins
    centres = (edges[:, :-1] + edges[:, 1:]) / 2
    w1 = hist.cumsum(1)
    w2 = hist.flip(1).cumsum(1).flip(1)
    m1 = (hist * centres).cumsum(1) / w1.clamp_min(1e-300)
    m2 = (hist * centres).flip(1).cumsum(1).flip(1) / w2.clamp_min(1e-300)
    between = w1[:, :-1] * w2[:, 1:] * (m1[:, :-1] - m2[:, 1:]) ** 2
    t = centres.gather(1, between.argmax(1, keepdim=True))[:, 0]
    return torch.where(hi > lo, t, lo)


def otsu_binarize(maps: Any, bins: int = OTSU_BINS) -> Tensor:
    """``(N, H, W)`` bool: the pixels of each map above its :func:`otsu_threshold` (none for a constant map)."""
    v = _maps(maps)
    return v > otsu_threshold(v, bins)[:, None, None]


# --------------------------------------------------------------------------- scores
def mask_iou(selection: Any, masks: Any) -> Tensor:
    """Intersection over union of boolean selections and masks, ``(N,)`` float64; NaN for an empty mask."""
    s = _masks(selection, name="selection").flatten(1)
    m = _masks(masks, _masks(selection), "masks").flatten(1)
    inter = (s & m).sum(1).double()
    union = (s | m).sum(1).double()
    return torch.where(m.any(1), inter / union.clamp_min(1), torch.full_like(inter, float("nan")))


def mask_f1(selection: Any, masks: Any) -> Tensor:
    """F1 (Dice) ``2 |S & M| / (|S| + |M|)``, ``(N,)`` float64; NaN for an empty mask."""
    s = _masks(selection, name="selection").flatten(1)
    m = _masks(masks, _masks(selection), "masks").flatten(1)
    inter = (s & m).sum(1).double()
    total = (s.sum(1) + m.sum(1)).double()
    return torch.where(m.any(1), 2 * inter / total.clamp_min(1), torch.full_like(inter, float("nan")))


def pointing_hits(maps: Any, masks: Any) -> Tensor:
    """1.0 where the map's (first) maximum lies inside the mask, else 0.0; NaN for an empty mask, ``(N,)``."""
    v = _maps(maps)
    m = _masks(masks, v).flatten(1)
    hit = m.gather(1, v.flatten(1).argmax(1, keepdim=True))[:, 0].double()
    return torch.where(m.any(1), hit, torch.full_like(hit, float("nan")))


# --------------------------------------------------------------------------- reference maps
def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    h, w = (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {(h, w)}")
    return h, w


def random_maps(n: int, size: int | Sequence[int], seed: int = 0) -> Tensor:
    """``(n, H, W)`` float32 uniform noise in [0, 1) from a generator seeded with ``seed``: the chance level."""
    h, w = _hw(size)
    return torch.rand((int(n), h, w), generator=torch.Generator().manual_seed(int(seed)))


def gaussian_maps(n: int, size: int | Sequence[int], sigma: float = 0.25) -> Tensor:
    """``(n, H, W)`` float32 copies of a Gaussian blob centred on the image, standard deviation ``sigma``
    times the image side (per axis): the centre bias every face crop has."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 (a fraction of the image side), got {sigma}")
    h, w = _hw(size)
    y = (torch.arange(h, dtype=torch.float64) - (h - 1) / 2) / (sigma * h)
    x = (torch.arange(w, dtype=torch.float64) - (w - 1) / 2) / (sigma * w)
    blob = torch.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2)).float()
    return blob.expand(int(n), h, w).clone()


def ideal_maps(masks: Any) -> Tensor:
    """The masks themselves as float32 maps (1 inside, 0 outside): the ceiling of a protocol."""
    return _masks(masks).float()
