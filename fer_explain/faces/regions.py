"""Face regions from the 68 dlib landmarks: definitions, pixel masks, region-only inputs and crops.

Region sets
-----------
Seed 002 (Table 4) divides each face into regions by 1-based dlib landmark numbers:

============== ==================================== ==========================================
region         ``"seed002"`` (Table 4, literally)   ``"symmetric"`` (the default)
============== ==================================== ==========================================
mouth          [49, 68]                             [49, 68]
nose           [29, 36]                             [29, 36]
eyes           [18, 22] + [37, 42]                  [18, 22] + [37, 42] | [23, 27] + [43, 48]
nose_mouth     nose + mouth                         nose + mouth
nose_eyes      [18, 22] + [29, 36] + [37, 42]       nose + eyes (both sides)
mouth_eyes     [18, 22] + [49, 68] + [37, 42]       mouth + eyes (both sides)
face           [1, 68]                              [1, 68]
============== ==================================== ==========================================

[18, 22] and [37, 42] are ONE brow and ONE eye (the subject's right, on the image's left), so the
table taken literally gives an "eyes" region that covers one side of the face only. ``"seed002"``
keeps that literal reading (to reproduce the paper); ``"symmetric"`` (the default) reads "eyes" as
both brows [18, 27] and both eyes [37, 48]. The symmetric set also has ``right_eye`` (brow 18-22 +
eye 37-42, the subject's right = image left), ``left_eye`` (23-27 + 43-48) and the two halves of the
face, ``right_half`` (image left) and ``left_half``: the face hull split along the nose line, the
straight line fitted through landmarks 28-31 and extended across the image. The halves partition the
face exactly (a pixel on the line goes to ``left_half``).

Masks
-----
A region is a list of landmark *groups*; its mask is the UNION of the convex hulls of its groups.
Each side's brow + eye is one group (one hull, so the forehead between the two eyes is not filled),
the nose one, the mouth one, and compound regions are the union of their parts, so
``mask(nose_mouth) == mask(nose) | mask(mouth)`` exactly. ``face`` is the hull of all 68 points.

Coordinates follow dlib: landmarks are pixel-index coordinates, ``(x, y) = (column, row)``, the
point ``(j, i)`` being the centre of pixel ``[i, j]``. A pixel is in a hull when its index point is
inside the hull or on its boundary. ``margin`` grows each hull by a distance (the Minkowski sum with
a disc, so corners are rounded): a number is pixels, a string ``"10%"`` is a fraction of the face
size, :func:`face_size` = ``sqrt(w * h)`` of the bounding box of the 68 landmarks (per sample).

Inputs for the experiments
--------------------------
On ``(N, C, H, W)`` float tensors with ``(N, 68, 2)`` landmarks in that tensor's pixel coordinates:
:func:`keep_region` (everything outside the region set to a baseline), :func:`remove_region` (the
region set to the baseline), :func:`crop_region` (the region's bounding box, padded to a square as in
seed 002, or cropped to a square around its centre as in its Table 5's "non-padding" column, or
resized without keeping the aspect, then resized to ``out_size``). Each returns ``(tensor, mask)``
where ``mask`` is the boolean region mask aligned with the returned tensor, ``(N, H', W')``.

:func:`feature_mask` and :func:`base_feature_mask` give integer region ids per pixel,
``(N, 1, H, W)``, for captum's ``FeatureAblation(feature_mask=...)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fer_explain.faces.hulls import check_finite, half_plane_masks, hull_masks
from fer_explain.faces.landmarks import check_landmarks

Size = int | Sequence[int]
Margin = int | float | str

MEAN_FACE_68: np.ndarray = np.array(
    [
    (0.0000, 0.1936), (0.0050, 0.3336), (0.0203, 0.4727), (0.0466, 0.6090),  # 1-4
    (0.0939, 0.7352), (0.1683, 0.8450), (0.2631, 0.9296), (0.3742, 0.9870),  # 5-8
    (0.5000, 1.0000), (0.6258, 0.9870), (0.7369, 0.9296), (0.8317, 0.8450),  # 9-12
    (0.9061, 0.7352), (0.9534, 0.6090), (0.9797, 0.4727), (0.9950, 0.3336),  # 13-16
    (1.0000, 0.1936), (0.0914, 0.0746), (0.1549, 0.0173), (0.2411, 0.0000),  # 17-20
    (0.3303, 0.0136), (0.4146, 0.0514), (0.5854, 0.0514), (0.6697, 0.0136),  # 21-24
    (0.7589, 0.0000), (0.8451, 0.0173), (0.9086, 0.0746), (0.5000, 0.1665),  # 25-28
    (0.5000, 0.2578), (0.5000, 0.3481), (0.5000, 0.4399), (0.4006, 0.5067),  # 29-32
    (0.4485, 0.5246), (0.5000, 0.5395), (0.5515, 0.5246), (0.5994, 0.5067),  # 33-36
    (0.1889, 0.1822), (0.2433, 0.1468), (0.3103, 0.1477), (0.3675, 0.1939),  # 37-40
    (0.3056, 0.2088), (0.2394, 0.2077), (0.6325, 0.1939), (0.6897, 0.1477),  # 41-44
    (0.7567, 0.1468), (0.8111, 0.1822), (0.7606, 0.2077), (0.6944, 0.2088),  # 45-48
    (0.3078, 0.6923), (0.3751, 0.6515), (0.4480, 0.6305), (0.5000, 0.6451),  # 49-52
    (0.5520, 0.6305), (0.6249, 0.6515), (0.6922, 0.6923), (0.6280, 0.7670),  # 53-56
    (0.5568, 0.7994), (0.5000, 0.8055), (0.4432, 0.7994), (0.3720, 0.7670),  # 57-60
    (0.3364, 0.6946), (0.4475, 0.6772), (0.5000, 0.6821), (0.5525, 0.6772),  # 61-64
    (0.6636, 0.6946), (0.5536, 0.7300), (0.5000, 0.7369), (0.4464, 0.7300),  # 65-68
    ],
    dtype=np.float32,
)
"""A mean 68-point face shape in the unit box (x and y in [0, 1], 1-based point k at row k-1):
the mean of 2,776 dlib detections on FER2013 training faces (upsample=1), each normalised to its
landmarks' bounding box, made left/right symmetric, and normalised again. Useful as a template to
align faces to, and to make synthetic test landmarks."""


# --- region definitions ------------------------------------------------------------------------------
def _r(a: int, b: int) -> tuple[int, ...]:
    return tuple(range(a, b + 1))


@dataclass(frozen=True)
class Region:
    """A face region: landmark groups (1-based dlib numbers), each group one convex hull; the mask
    is the union of the hulls. ``half`` (``"image_left"`` / ``"image_right"``) keeps only the part
    of that union on one side of the nose line (landmarks 28-31)."""

    name: str
    groups: tuple[tuple[int, ...], ...]
    half: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.groups or any(len(g) == 0 for g in self.groups):
            raise ValueError(f"region {self.name!r}: needs at least one non-empty landmark group")
        bad = sorted({k for g in self.groups for k in g if not 1 <= k <= 68})
        if bad:
            raise ValueError(f"region {self.name!r}: landmark numbers {bad} outside 1..68 (1-based dlib numbering)")
        if self.half not in (None, "image_left", "image_right"):
            raise ValueError(f"region {self.name!r}: half must be None, 'image_left' or 'image_right', got {self.half!r}")

    @property
    def indices(self) -> tuple[int, ...]:
        """Sorted 0-based indices of every landmark in the region."""
        return tuple(sorted({k - 1 for g in self.groups for k in g}))


_JAW, _RBROW, _LBROW = _r(1, 17), _r(18, 22), _r(23, 27)
_NOSE, _REYE, _LEYE, _MOUTH = _r(29, 36), _r(37, 42), _r(43, 48), _r(49, 68)
_FACE = _r(1, 68)
_RIGHT_EYE = _RBROW + _REYE  # subject's right = image left
_LEFT_EYE = _LBROW + _LEYE


def _set(*regions: Region) -> Mapping[str, Region]:
    return MappingProxyType({r.name: r for r in regions})


REGION_SETS: Mapping[str, Mapping[str, Region]] = MappingProxyType(
    {
        "symmetric": _set(
            Region("mouth", (_MOUTH,), description="lips, [49, 68]"),
            Region("nose", (_NOSE,), description="nose, [29, 36]"),
            Region("eyes", (_RIGHT_EYE, _LEFT_EYE), description="both brows and eyes, [18, 27] + [37, 48]"),
            Region("nose_mouth", (_NOSE, _MOUTH), description="nose + mouth"),
            Region("nose_eyes", (_RIGHT_EYE, _LEFT_EYE, _NOSE), description="nose + both brows and eyes"),
            Region("mouth_eyes", (_RIGHT_EYE, _LEFT_EYE, _MOUTH), description="mouth + both brows and eyes"),
            Region("face", (_FACE,), description="hull of all 68 landmarks, [1, 68]"),
            Region("right_eye", (_RIGHT_EYE,), description="subject's right brow + eye (image left), [18, 22] + [37, 42]"),
            Region("left_eye", (_LEFT_EYE,), description="subject's left brow + eye (image right), [23, 27] + [43, 48]"),
            Region("right_half", (_FACE,), half="image_left", description="subject's right half of the face (image left)"),
            Region("left_half", (_FACE,), half="image_right", description="subject's left half of the face (image right)"),
        ),
        "seed002": _set(
            Region("mouth", (_MOUTH,), description="Table 4: [49, 68]"),
            Region("nose", (_NOSE,), description="Table 4: [29, 36]"),
            Region("eyes", (_RIGHT_EYE,), description="Table 4: [18, 22] + [37, 42] (one brow and one eye)"),
            Region("nose_mouth", (_NOSE, _MOUTH), description="Table 4: [29, 36] + [49, 68]"),
            Region("nose_eyes", (_RIGHT_EYE, _NOSE), description="Table 4: [18, 22] + [29, 36] + [37, 42]"),
            Region("mouth_eyes", (_RIGHT_EYE, _MOUTH), description="Table 4: [18, 22] + [49, 68] + [37, 42]"),
            Region("face", (_FACE,), description="Table 4: [1, 68]"),
        ),
    }
)
"""Every region set by name: ``"symmetric"`` (default) and ``"seed002"`` (Table 4 literally)."""

DEFAULT_REGION_SET = "symmetric"
"""The region set every analysis and explainer uses unless told otherwise (the seed-002 preset uses ``"seed002"``)."""

DEFAULT_MARGIN: Margin = "5%"
"""Default growth of the region hulls for analyses and explainers: at 48 px a closed mouth can be thinner
than a pixel, so its bare hull may hold no pixel centre (5 % is about 1.3 px on a FER2013 face)."""
BASE_FEATURE_IDS: Mapping[int, str] = MappingProxyType(
    {0: "outside_face", 1: "eyes", 2: "nose", 3: "mouth", 4: "rest_of_face"}
)
"""Ids of :func:`base_feature_mask`."""


def get_region_set(name: str = DEFAULT_REGION_SET) -> Mapping[str, Region]:
    """The regions of a set (read-only mapping name -> :class:`Region`)."""
    try:
        return REGION_SETS[name]
    except (KeyError, TypeError):
        raise KeyError(f"unknown region set {name!r}; valid: {sorted(REGION_SETS)}") from None


def list_regions(region_set: str = DEFAULT_REGION_SET) -> list[str]:
    """Region names of a set, in definition order."""
    return list(get_region_set(region_set))


def get_region(region: str | Region, region_set: str = DEFAULT_REGION_SET) -> Region:
    """A :class:`Region` by name (a :class:`Region` is returned as it is)."""
    if isinstance(region, Region):
        return region
    regions = get_region_set(region_set)
    try:
        return regions[region]
    except (KeyError, TypeError):
        raise KeyError(f"unknown region {region!r} in region set {region_set!r}; valid: {list(regions)}") from None


# --- geometry ----------------------------------------------------------------------------------------
def face_size(landmarks: Any) -> np.ndarray:
    """Face size per sample: ``sqrt(w * h)`` of the bounding box of the 68 landmarks ((N,) or scalar)."""
    arr = check_landmarks(landmarks)
    wh = arr.max(axis=-2) - arr.min(axis=-2)
    return np.sqrt(np.clip(wh[..., 0], 0, None) * np.clip(wh[..., 1], 0, None))


def margin_pixels(margin: Margin, landmarks: Any) -> np.ndarray:
    """``(N,)`` margins in pixels: a number is pixels, ``"10%"`` is 10% of :func:`face_size`,
    ``"3px"`` (or ``"3"``) is 3 pixels."""
    arr = check_landmarks(landmarks, batched=True)
    n = arr.shape[0]
    if isinstance(margin, str):
        text = margin.strip().lower()
        try:
            if text.endswith("%"):
                value = float(text[:-1]) / 100.0
                out = value * face_size(arr)
            else:
                value = float(text.removesuffix("px"))
                out = np.full(n, value)
        except ValueError:
            raise ValueError(f"margin {margin!r}: expected pixels (3, 2.5, '3px') or a percentage of the face size ('10%')") from None
    elif isinstance(margin, (int, float, np.integer, np.floating)) and not isinstance(margin, bool):
        value = float(margin)
        out = np.full(n, value)
    else:
        raise TypeError(f"margin must be a number of pixels or a string such as '10%', got {type(margin).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    return out.astype(np.float64)


def _size_hw(size: Size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        try:
            h, w = (int(v) for v in size)
        except (TypeError, ValueError):
            raise ValueError(f"size must be an int or (H, W), got {size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {(h, w)}")
    return h, w


def _masks_many(landmarks: Any, regions: Sequence[str | Region], size: Size, margin: Margin, region_set: str,
                device: torch.device) -> dict[str, torch.Tensor]:
    """``{name: (N, H, W) bool}`` for several regions of one batch; each landmark group's hull (and the
    nose-line half plane) is rasterised once, however many regions share it (``mouth`` is in ``mouth``,
    ``nose_mouth``, ``mouth_eyes``): the same masks as one call per region, in a third of the time."""
    arr = check_landmarks(landmarks, batched=True)
    check_finite(arr)
    hw = _size_hw(size)
    marg = margin_pixels(margin, arr)
    hulls: dict[tuple[int, ...], torch.Tensor] = {}
    left: torch.Tensor | None = None
    out: dict[str, torch.Tensor] = {}
    for region in regions:
        reg = get_region(region, region_set)
        m = torch.zeros((arr.shape[0], *hw), dtype=torch.bool, device=device)
        if arr.shape[0]:
            for group in reg.groups:
                if group not in hulls:
                    hulls[group] = hull_masks(arr[:, [k - 1 for k in group], :], hw, marg, device)
                m |= hulls[group]
            if reg.half is not None:
                if left is None:
                    left = half_plane_masks(arr, hw, device)
                m &= left if reg.half == "image_left" else ~left
        out[region if isinstance(region, str) else reg.name] = m
    return out


def _masks_torch(landmarks: Any, region: str | Region, size: Size, margin: Margin, region_set: str,
                 device: torch.device) -> torch.Tensor:
    return next(iter(_masks_many(landmarks, [region], size, margin, region_set, device).values()))


def region_masks(landmarks: Any, region: str | Region, size: Size, margin: Margin = 0,
                 region_set: str = DEFAULT_REGION_SET) -> Any:
    """Boolean masks ``(N, H, W)`` of a region for a batch of landmarks ``(N, 68, 2)``.

    Returns a ``torch.BoolTensor`` on the landmarks' device when they are a tensor, else a numpy
    array. See the module docstring for the union-of-hulls, margin and pixel conventions.
    """
    if isinstance(landmarks, torch.Tensor):
        return _masks_torch(landmarks, region, size, margin, region_set, landmarks.device)
    return _masks_torch(landmarks, region, size, margin, region_set, torch.device("cpu")).numpy()


def region_masks_many(landmarks: Any, regions: Sequence[str | Region], size: Size, margin: Margin = 0,
                      region_set: str = DEFAULT_REGION_SET) -> dict[str, torch.Tensor]:
    """``{region: (N, H, W) bool tensor}`` (on the landmarks' device when they are a tensor, else the CPU):
    :func:`region_masks` of several regions at once, each hull they share rasterised once."""
    device = landmarks.device if isinstance(landmarks, torch.Tensor) else torch.device("cpu")
    return _masks_many(landmarks, regions, size, margin, region_set, device)


def region_mask(landmarks: Any, region: str | Region, size: Size, margin: Margin = 0,
                region_set: str = DEFAULT_REGION_SET) -> np.ndarray:
    """Boolean mask ``(H, W)`` of a region for one face's landmarks ``(68, 2)``."""
    arr = check_landmarks(landmarks, batched=False)
    return _masks_torch(arr[None], region, size, margin, region_set, torch.device("cpu"))[0].numpy()


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """``(N, 4)`` inclusive pixel boxes ``(x0, y0, x1, y1)`` of boolean masks ``(N, H, W)``;
    a clear error names the samples whose mask is empty."""
    if masks.ndim != 3:
        raise ValueError(f"masks must have shape (N, H, W), got {tuple(masks.shape)}")
    cols = masks.any(dim=1)
    rows = masks.any(dim=2)
    empty = torch.nonzero(~cols.any(dim=1)).flatten().tolist()
    if empty:
        raise ValueError(f"region mask is empty (region outside the image?) for sample(s) {empty[:10]}")
    w, h = masks.shape[2], masks.shape[1]
    ar_w = torch.arange(w, device=masks.device)
    ar_h = torch.arange(h, device=masks.device)
    x0 = torch.where(cols, ar_w, w).min(dim=1).values
    x1 = torch.where(cols, ar_w, -1).max(dim=1).values
    y0 = torch.where(rows, ar_h, h).min(dim=1).values
    y1 = torch.where(rows, ar_h, -1).max(dim=1).values
    return torch.stack([x0, y0, x1, y1], dim=1)


# --- region-only inputs ------------------------------------------------------------------------------
def _check_input(x: torch.Tensor, landmarks: Any) -> np.ndarray:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        desc = f"{type(x).__name__} {tuple(x.shape) if hasattr(x, 'shape') else ''}"
        raise ValueError(f"x must be a float tensor (N, C, H, W), got {desc}")
    arr = check_landmarks(landmarks, batched=True)
    if arr.shape[0] != x.shape[0]:
        raise ValueError(f"landmarks have {arr.shape[0]} samples but x has {x.shape[0]}")
    return arr


def baseline_like(x: torch.Tensor, baseline: str | float | torch.Tensor = "zero",
                  blur_sigma: float | None = None) -> torch.Tensor:
    """The replacement values for ``x`` (N, C, H, W): ``"zero"``, ``"mean"`` (each image's per-channel
    mean), ``"blur"`` (Gaussian blur, ``blur_sigma`` pixels, default 5% of the larger side), a number,
    or a tensor broadcastable to ``x``."""
    if isinstance(baseline, torch.Tensor):
        return baseline.to(device=x.device, dtype=x.dtype).expand_as(x)
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if baseline == "zero":
        return torch.zeros_like(x)
    if baseline == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    if baseline == "blur":
        h, w = x.shape[-2:]
        sigma = float(blur_sigma) if blur_sigma is not None else max(1.0, 0.05 * max(h, w))
        if sigma <= 0:
            raise ValueError(f"blur_sigma must be > 0, got {blur_sigma}")
        return _gaussian_blur(x, sigma)
    raise ValueError(f"baseline must be 'zero', 'mean', 'blur', a number or a tensor, got {baseline!r}")


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    out = x
    for dim, length in ((3, w), (2, h)):
        radius = min(math.ceil(3 * sigma), length - 1)
        if radius < 1:
            continue
        t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        k = torch.exp(-0.5 * (t / sigma) ** 2)
        k = k / k.sum()
        c = out.shape[1]
        if dim == 3:
            out = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        else:
            out = F.conv2d(F.pad(out, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return out


def keep_region(x: torch.Tensor, landmarks: Any, region: str | Region, baseline: str | float | torch.Tensor = "zero",
                margin: Margin = 0, region_set: str = DEFAULT_REGION_SET,
                blur_sigma: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep only a region of each image; every other pixel takes the baseline (see :func:`baseline_like`).

    Returns ``(x', mask)``: ``x'`` (N, C, H, W) and the region mask (N, H, W) bool.
    """
    arr = _check_input(x, landmarks)
    mask = _masks_torch(arr, region, x.shape[-2:], margin, region_set, x.device)
    base = baseline_like(x, baseline, blur_sigma)
    return torch.where(mask[:, None], x, base), mask


def remove_region(x: torch.Tensor, landmarks: Any, region: str | Region, baseline: str | float | torch.Tensor = "zero",
                  margin: Margin = 0, region_set: str = DEFAULT_REGION_SET,
                  blur_sigma: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a region of each image with the baseline, keeping the rest.

    Returns ``(x', mask)``: ``x'`` (N, C, H, W) and the (replaced) region mask (N, H, W) bool.
    """
    arr = _check_input(x, landmarks)
    mask = _masks_torch(arr, region, x.shape[-2:], margin, region_set, x.device)
    base = baseline_like(x, baseline, blur_sigma)
    return torch.where(mask[:, None], base, x), mask


CROP_MODES = ("pad", "square_crop", "resize")


def crop_region(x: torch.Tensor, landmarks: Any, region: str | Region, mode: str = "pad",
                out_size: Size | None = None, margin: Margin = 0, region_set: str = DEFAULT_REGION_SET,
                fill: float = 0.0, position: float | torch.Tensor = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop each image to a region's bounding box and resize it to ``out_size`` (default: x's size).

    The box is that of the region mask (with ``margin``). ``mode``:

    ``"pad"``          enlarge the box to the output's aspect (a square for a square output) around
                       its centre, filling everything outside the box with ``fill`` (seed 002's choice:
                       nothing of the region is lost)
    ``"square_crop"``  shrink the box to the output's aspect around its centre (loses the ends of wide
                       regions such as the mouth: seed 002's "non-padding" column of Table 5)
    ``"resize"``       resize the box as it is (the aspect is not kept)

    ``position`` (``"square_crop"`` only): where the cut sits along the box's long side, 0 (left/top end)
    ... 1 (right/bottom end); a float or one value per image. 0.5 (default) centres it; a uniform
    random draw per image gives seed 002's random square crops of a region.

    Sampling is bilinear (``grid_sample``, no antialiasing when shrinking). Returns ``(x', mask)``:
    ``x'`` (N, C, H', W') and the region mask resampled onto it (N, H', W') bool (False in padding).
    """
    if mode not in CROP_MODES:
        raise ValueError(f"mode must be one of {CROP_MODES}, got {mode!r}")
    pos = torch.as_tensor(position, dtype=torch.float64, device=x.device)
    if pos.numel() and (bool((pos < 0).any()) or bool((pos > 1).any())):
        raise ValueError(f"position must lie in [0, 1], got {position!r}")
    arr = _check_input(x, landmarks)
    n, _, h, w = x.shape
    oh, ow = _size_hw(out_size if out_size is not None else (h, w))
    mask = _masks_torch(arr, region, (h, w), margin, region_set, x.device)
    box = mask_boxes(mask).to(torch.float64)
    # box in edge coordinates: pixel j covers [j, j + 1)
    bx0, by0, bx1, by1 = box[:, 0], box[:, 1], box[:, 2] + 1, box[:, 3] + 1
    bw, bh = bx1 - bx0, by1 - by0
    aspect = ow / oh
    if mode == "resize":
        sw, sh = bw, bh
    elif mode == "pad":
        wide = bw / bh >= aspect
        sw = torch.where(wide, bw, bh * aspect)
        sh = torch.where(wide, bw / aspect, bh)
    else:
        wide = bw / bh >= aspect
        sw = torch.where(wide, bh * aspect, bw)
        sh = torch.where(wide, bh, bw / aspect)
    # centred, with a whole number of source pixels on each side, so a crop at scale 1 is exact
    if mode == "pad":
        left, top = bx0 - torch.floor((sw - bw) / 2), by0 - torch.floor((sh - bh) / 2)
    else:
        pos = pos.reshape(-1) if pos.ndim else pos.reshape(1)
        left, top = bx0 + torch.floor((bw - sw) * pos), by0 + torch.floor((bh - sh) * pos)
    u = (torch.arange(ow, dtype=torch.float64, device=x.device) + 0.5) / ow
    v = (torch.arange(oh, dtype=torch.float64, device=x.device) + 0.5) / oh
    sx = left.view(n, 1) + u.view(1, ow) * sw.view(n, 1)  # (N, W') edge coordinates
    sy = top.view(n, 1) + v.view(1, oh) * sh.view(n, 1)  # (N, H')
    gx = (2 * sx / w - 1).view(n, 1, ow).expand(n, oh, ow)
    gy = (2 * sy / h - 1).view(n, oh, 1).expand(n, oh, ow)
    grid = torch.stack([gx, gy], dim=-1).to(x.dtype)
    valid = (((sx >= bx0.view(n, 1)) & (sx < bx1.view(n, 1))).view(n, 1, ow)
             & ((sy >= by0.view(n, 1)) & (sy < by1.view(n, 1))).view(n, oh, 1))
    src = x
    if mode == "pad":
        ys = torch.arange(h, device=x.device).view(1, h, 1)
        xs = torch.arange(w, device=x.device).view(1, 1, w)
        ib = box.to(torch.long)
        in_box = ((xs >= ib[:, 0].view(n, 1, 1)) & (xs <= ib[:, 2].view(n, 1, 1))
                  & (ys >= ib[:, 1].view(n, 1, 1)) & (ys <= ib[:, 3].view(n, 1, 1)))
        src = torch.where(in_box[:, None], x, torch.full_like(x, float(fill)))
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = torch.where(valid[:, None], out, torch.full_like(out, float(fill)))
    mask_out = F.grid_sample(mask[:, None].to(x.dtype), grid, mode="nearest", padding_mode="zeros",
                             align_corners=False)[:, 0] > 0.5
    return out, mask_out & valid


# --- feature masks (captum) -------------------------------------------------------------------------
def feature_mask(landmarks: Any, size: Size, regions: Sequence[str | Region], region_set: str = DEFAULT_REGION_SET,
                 margin: Margin = 0, overlap: str = "error") -> torch.Tensor:
    """Integer region ids per pixel, ``(N, 1, H, W)`` int64: ``regions[i]`` gets id ``i + 1``, pixels
    in no region get 0. Broadcastable to an ``(N, C, H, W)`` input, as captum's ``FeatureAblation``
    wants. The regions must not overlap (``overlap="error"``, the default, raises naming the pair);
    with ``overlap="first"`` a pixel goes to the first listed region that holds it. Overlapping
    regions such as ``nose_eyes`` and ``eyes`` make no sense here: use base regions
    (see :func:`base_feature_mask`). Returned on the landmarks' device when they are a tensor."""
    if overlap not in ("error", "first"):
        raise ValueError(f"overlap must be 'error' or 'first', got {overlap!r}")
    if len(regions) == 0:
        raise ValueError("regions must name at least one region")
    device = landmarks.device if isinstance(landmarks, torch.Tensor) else torch.device("cpu")
    arr = check_landmarks(landmarks, batched=True)
    hw = _size_hw(size)
    ids = torch.zeros((arr.shape[0], *hw), dtype=torch.long, device=device)
    names = [get_region(r, region_set).name for r in regions]
    masks = list(_masks_many(arr, regions, hw, margin, region_set, device).values())
    if len(masks) != len(regions):
        raise ValueError(f"regions must not repeat, got {names}")
    for i, m in enumerate(masks):
        taken = ids > 0
        clash = m & taken
        if overlap == "error" and bool(clash.any()):
            other = names[int(ids[clash][0]) - 1]
            raise ValueError(f"regions {other!r} and {names[i]!r} overlap in {int(clash.flatten(1).any(1).sum())} "
                             "sample(s); pass non-overlapping regions or overlap='first'")
        ids[m & ~taken] = i + 1
    return ids[:, None]


BASE_REGIONS: tuple[str, ...] = ("eyes", "nose", "mouth", "face")
"""The regions :func:`base_ids` partitions a face with."""


def base_ids(masks: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """:data:`BASE_FEATURE_IDS` per pixel, ``(N, 1, H, W)`` int64, from the :data:`BASE_REGIONS` masks
    ``(N, H, W)`` (e.g. part of a :func:`region_mask_dict`): eyes win over nose over mouth where they
    overlap, the rest of the face hull is 4, the outside 0."""
    missing = [r for r in BASE_REGIONS if r not in masks]
    if missing:
        raise KeyError(f"base_ids needs the masks of {list(BASE_REGIONS)}; missing {missing}")
    eyes, nose, mouth, face = (torch.as_tensor(masks[r]).bool() for r in BASE_REGIONS)
    ids = torch.zeros(eyes.shape, dtype=torch.long, device=eyes.device)
    ids[face] = 4
    ids[mouth] = 3
    ids[nose] = 2
    ids[eyes] = 1
    return ids[:, None]


def base_feature_mask(landmarks: Any, size: Size, region_set: str = DEFAULT_REGION_SET,
                      margin: Margin = 0) -> torch.Tensor:
    """The base partition of each image, ``(N, 1, H, W)`` int64 with :data:`BASE_FEATURE_IDS`:
    0 outside the face hull, 1 eyes, 2 nose, 3 mouth, 4 the rest of the face. Where hulls grown by a
    margin overlap, eyes win over nose over mouth (:func:`base_ids`)."""
    return base_ids(region_masks_many(landmarks, BASE_REGIONS, size, margin=margin, region_set=region_set))


def region_mask_dict(landmarks: Any, size: Size, regions: Sequence[str] | None = None, margin: Margin = 0,
                     region_set: str = DEFAULT_REGION_SET) -> dict[str, torch.Tensor]:
    """``{region: (N, H, W) bool CPU tensor}`` for landmarks ``(N, 68, 2)`` (default: every region of the
    set), the input of :func:`fer_explain.explain.metrics.region_mass` / ``region_mass_table``."""
    lm = np.asarray(landmarks, dtype=np.float32)
    names = list_regions(region_set) if regions is None else list(regions)
    return region_masks_many(lm, names, size, margin=margin, region_set=region_set)
