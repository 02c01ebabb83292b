"""Region inputs: faces reduced to one face region (kept in place, padded or cropped to a square),
as tensors and as a ``Dataset``, and the :class:`FaceArrays` (images, landmarks, labels) every region
analysis starts from (:func:`face_arrays` builds them from a manifest, a synthetic batch or arrays).

Images are ``(N, C, H, W)`` float in ``[0, 1]`` *before* normalisation (a removed pixel is black);
landmarks ``(N, 68, 2)`` in those images' pixels. Region hulls grow by ``DEFAULT_MARGIN`` (5 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from fer_explain.faces.landmarks import dataset_landmarks
from fer_explain.faces.regions import (
    CROP_MODES,
    DEFAULT_MARGIN,
    DEFAULT_REGION_SET,
    Margin,
    crop_region,
    get_region,
    keep_region,
)

if TYPE_CHECKING:
    from fer_explain.train.inputs import CheckpointInput

__all__ = [
    "REGION_VARIANTS",
    "SEED002_REGIONS",
    "AugmentedRegionDataset",
    "FaceArrays",
    "RegionDataset",
    "batched_region_inputs",
    "face_arrays",
    "normalize_inputs",
    "region_inputs",
]

SEED002_REGIONS: tuple[str, ...] = ("mouth", "nose", "eyes", "nose_mouth", "nose_eyes", "mouth_eyes", "face")
"""The seven regions of seed 002's Tables 4-6, in the paper's order."""

REGION_VARIANTS: tuple[str, ...] = ("keep", *CROP_MODES)
"""``"keep"`` (the region in place, the rest set to a baseline) and the crop modes of
:func:`fer_explain.faces.regions.crop_region`: ``"pad"``, ``"square_crop"``, ``"resize"``."""



# --------------------------------------------------------------------------- inputs
def _size_tuple(size: int | Sequence[int] | None, x: Tensor) -> tuple[int, int]:
    if size is None:
        return int(x.shape[-2]), int(x.shape[-1])
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = (int(v) for v in size)
    return h, w


def region_inputs(
    x: Tensor,
    landmarks: Any,
    region: str,
    variant: str = "pad",
    size: int | Sequence[int] | None = None,
    region_set: str = DEFAULT_REGION_SET,
    margin: Margin = DEFAULT_MARGIN,
    baseline: str | float | Tensor = "zero",
    fill: float = 0.0,
) -> Tensor:
    """Region-only inputs of a batch: a thin dispatcher over :mod:`fer_explain.faces.regions`.

    Args:
        x: ``(N, C, H, W)`` float images, best in ``[0, 1]`` before normalisation (so the baseline
            or fill ``0`` is black, as in seed 002).
        landmarks: ``(N, 68, 2)`` in ``x``'s pixel coordinates.
        region: a region name of ``region_set`` (e.g. ``"mouth"``, ``"nose_eyes"``).
        variant: ``"keep"`` (:func:`~fer_explain.faces.regions.keep_region`: the region stays in
            place, every other pixel takes ``baseline``), or a crop mode of
            :func:`~fer_explain.faces.regions.crop_region`: ``"pad"`` (the region's box padded to a
            square with ``fill``: seed 002), ``"square_crop"`` (cut to a square: Table 5's
            "non-padding") or ``"resize"`` (the box stretched).
        size: output side (or ``(H, W)``); default ``x``'s size. ``"keep"`` inputs are resized
            bilinearly when it differs.
        region_set, margin: see :mod:`fer_explain.faces.regions`.

    Returns:
        ``(N, C, size, size)`` float tensor on ``x``'s device.
    """
    if variant not in REGION_VARIANTS:
        raise ValueError(f"variant must be one of {REGION_VARIANTS}, got {variant!r}")
    get_region(region, region_set)  # a clear error for an unknown region
    out_hw = _size_tuple(size, x)
    if variant == "keep":
        out, _ = keep_region(x, landmarks, region, baseline=baseline, margin=margin, region_set=region_set)
        if tuple(out.shape[-2:]) != out_hw:
            out = F.interpolate(out, size=out_hw, mode="bilinear", align_corners=False)
        return out
    out, _ = crop_region(x, landmarks, region, mode=variant, out_size=out_hw, margin=margin,
                         region_set=region_set, fill=fill)
    return out


def normalize_inputs(x: Tensor, normalize: tuple[Any, Any] | None) -> Tensor:
    if normalize is None:
        return x
    mean = torch.as_tensor(normalize[0], dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
    std = torch.as_tensor(normalize[1], dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
    return (x - mean) / std


def batched_region_inputs(images: Tensor, landmarks: Any, region: str, variant: str, size: Any,
                           region_set: str, margin: Margin, baseline: Any, fill: float,
                           chunk: int = 1024) -> Tensor:
    lm = torch.as_tensor(np.asarray(landmarks, dtype=np.float32))
    parts = [region_inputs(images[s:s + chunk], lm[s:s + chunk], region, variant, size, region_set, margin,
                           baseline, fill) for s in range(0, len(images), chunk)]
    if not parts:
        hw = _size_tuple(size, images)
        return images.new_zeros((0, images.shape[1], *hw))
    return torch.cat(parts)


class RegionDataset(Dataset):
    """A torch Dataset of region-only faces: ``(region_input, label)`` items.

    Args:
        base: the faces: a ``(N, C, H, W)`` float tensor in ``[0, 1]`` (then ``labels`` is needed),
            a :class:`FaceArrays`, or a map-style Dataset whose items are ``(x, label, ...)`` with
            ``x`` un-normalised ``(C, H, W)`` (e.g. ``FaceDataset(..., normalize=None)``).
        landmarks: ``(N, 68, 2)`` in the base images' pixel coordinates (taken from ``base`` when
            it is a :class:`FaceArrays`).
        region, variant, out_size, region_set, margin, baseline, fill: see :func:`region_inputs`.
        labels: ``(N,)`` class indices when ``base`` is a tensor.
        normalize: ``(mean, std)`` per channel, applied *after* the region is cut out.
        precompute: build every region input once (chunks of 1,024, fast; memory
            ``N * C * out_size**2`` floats); ``False`` computes each item when it is read.
        classes: class names, exposed as ``.classes`` (taken from a :class:`FaceArrays` or a base
            dataset that has them).
    """

    def __init__(
        self,
        base: Tensor | FaceArrays | Dataset,
        landmarks: Any = None,
        region: str = "face",
        variant: str = "pad",
        out_size: int | Sequence[int] | None = None,
        *,
        labels: Any = None,
        region_set: str = DEFAULT_REGION_SET,
        margin: Margin = DEFAULT_MARGIN,
        baseline: str | float | Tensor = "zero",
        fill: float = 0.0,
        normalize: tuple[Any, Any] | None = None,
        precompute: bool = True,
        classes: Sequence[str] | None = None,
    ) -> None:
        if variant not in REGION_VARIANTS:
            raise ValueError(f"variant must be one of {REGION_VARIANTS}, got {variant!r}")
        get_region(region, region_set)
        self.region, self.variant, self.region_set = region, variant, region_set
        self.margin, self.baseline, self.fill, self.normalize = margin, baseline, fill, normalize
        if isinstance(base, FaceArrays):
            landmarks = base.landmarks if landmarks is None else landmarks
            labels = base.labels if labels is None else labels
            classes = base.classes if classes is None else classes
            base = base.images
        if isinstance(base, Tensor):
            if labels is None:
                raise ValueError("RegionDataset over an image tensor needs labels=")
            self._images: Tensor | None = base
            self._base: Dataset | None = None
            self._labels = torch.as_tensor(np.array(labels, dtype=np.int64)).reshape(-1)
            n = base.shape[0]
        else:
            self._images, self._base = None, base
            n = len(base)  # type: ignore[arg-type]
            self._labels = None  # read per item
            if classes is None:
                classes = getattr(base, "classes", None)
        if landmarks is None:
            raise ValueError("RegionDataset needs landmarks= (N, 68, 2)")
        self.landmarks = np.asarray(landmarks, dtype=np.float32)
        if self.landmarks.shape != (n, 68, 2):
            raise ValueError(f"landmarks must have shape ({n}, 68, 2) for {n} faces, got {self.landmarks.shape}")
        if self._labels is not None and self._labels.shape[0] != n:
            raise ValueError(f"labels has {self._labels.shape[0]} entries for {n} faces")
        self.classes = tuple(classes) if classes is not None else None
        self.out_size = out_size
        self._cache: Tensor | None = None
        if precompute:
            images = self._images if self._images is not None else torch.stack(
                [torch.as_tensor(self._base[i][0]) for i in range(n)])  # type: ignore[index]
            if self._labels is None:
                self._labels = torch.as_tensor([int(self._base[i][1]) for i in range(n)], dtype=torch.long)  # type: ignore[index]
            self._cache = normalize_inputs(batched_region_inputs(images.float(), self.landmarks, region, variant, out_size,
                                                            region_set, margin, baseline, fill), normalize)

    @property
    def labels(self) -> np.ndarray:
        """Class index of every item (int64); reads the base dataset when it was not precomputed."""
        if self._labels is None:
            self._labels = torch.as_tensor([int(self._base[i][1]) for i in range(len(self))],  # type: ignore[index]
                                           dtype=torch.long)
        return self._labels.numpy().copy()

    def __len__(self) -> int:
        return int(self.landmarks.shape[0])

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        if self._cache is not None:
            assert self._labels is not None
            return self._cache[i], int(self._labels[i])
        if self._images is not None:
            x, y = self._images[i], int(self._labels[i])  # type: ignore[index]
        else:
            item = self._base[i]  # type: ignore[index]
            x, y = torch.as_tensor(item[0]), int(item[1])
        out = region_inputs(x[None].float(), self.landmarks[i:i + 1], self.region, self.variant, self.out_size,
                            self.region_set, self.margin, self.baseline, self.fill)
        return normalize_inputs(out, self.normalize)[0], y

    def tensors(self) -> tuple[Tensor, Tensor]:
        """All ``(inputs, labels)`` as two tensors (computed now when not precomputed)."""
        if self._cache is not None and self._labels is not None:
            return self._cache, self._labels
        xs, ys = zip(*(self[i] for i in range(len(self))))
        return torch.stack(xs), torch.as_tensor(ys, dtype=torch.long)


class AugmentedRegionDataset(Dataset):
    """Seed 002's training items for one face region: every read draws a fresh augmentation.

    The paper: "random crop original inputs into squares and random horizontal flip", with region crops
    padded to squares (its "padding") or not (its "non-padding", Table 5). Here an item is the region of
    face ``i`` made square -- ``"pad"``: the padded square (precomputed once, or ``base``);
    ``"square_crop"``: a square cut at a uniformly random place along the region's long side (so the whole
    region is seen across epochs) -- then :func:`fer_explain.data.transforms.seed002`'s training step (a
    random square crop of 80-100 % of the area resized back, and a horizontal flip), then ``normalize``.
    Evaluation uses the centred square and that pipeline's centre-crop view instead.

    Args:
        faces: :class:`FaceArrays` (images in ``[0, 1]``).
        region, variant, out_size, region_set, margin: see :func:`region_inputs` (variant ``"pad"`` or
            ``"square_crop"``).
        normalize: ``(mean, std)`` per channel, applied last.
        base: the precomputed ``"pad"`` inputs ``(N, C, out, out)``, if already at hand.

    Every random draw (the square's position, the crop, the flip) comes from ``torch``'s global
    generator, which :func:`fer_explain.train.fit` seeds from the recipe.
    """

    def __init__(self, faces: FaceArrays, region: str, variant: str, out_size: int, *,
                 region_set: str = DEFAULT_REGION_SET, margin: Margin = DEFAULT_MARGIN,
                 normalize: tuple[Any, Any] | None = None, base: Tensor | None = None) -> None:
        from fer_explain.data.transforms import seed002

        if variant not in ("pad", "square_crop"):
            raise ValueError(f"variant must be 'pad' or 'square_crop' (seed 002's Table 5), got {variant!r}")
        get_region(region, region_set)
        self.faces, self.region, self.variant, self.out_size = faces, region, variant, int(out_size)
        self.region_set, self.margin, self.normalize = region_set, margin, normalize
        self.classes = faces.classes
        self._labels = torch.as_tensor(np.array(faces.labels, dtype=np.int64))
        if variant == "pad" and base is None:
            base = batched_region_inputs(faces.images, faces.landmarks, region, "pad", self.out_size, region_set,
                                         margin, "zero", 0.0)
        self._base = base
        self._augment = seed002(self.out_size, train=True)

    @property
    def labels(self) -> np.ndarray:
        return self._labels.numpy().copy()

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        if self._base is not None:
            x = self._base[i]
        else:
            position = float(torch.rand(()))
            x, _ = crop_region(self.faces.images[i:i + 1], self.faces.landmarks[i:i + 1], self.region,
                               mode="square_crop", out_size=self.out_size, margin=self.margin,
                               region_set=self.region_set, position=position)
            x = x[0]
        return normalize_inputs(self._augment(x), self.normalize), int(self._labels[i])


# --------------------------------------------------------------------------- arrays from sources
@dataclass
class FaceArrays:
    """Faces as arrays: ``images`` ``(N, C, H, W)`` float in ``[0, 1]`` (not normalised),
    ``landmarks`` ``(N, 68, 2)`` float32 in the images' pixel coordinates, ``labels`` ``(N,)``
    int64 class indices into ``classes``."""

    images: Tensor
    landmarks: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        self.images = torch.as_tensor(self.images).float()
        if self.images.dim() == 3:
            self.images = self.images[:, None]
        if self.images.dim() != 4:
            raise ValueError(f"images must be (N, C, H, W) (or (N, H, W) grey), got {tuple(self.images.shape)}")
        n = self.images.shape[0]
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.classes = tuple(self.classes)
        if self.landmarks.shape != (n, 68, 2):
            raise ValueError(f"landmarks must be ({n}, 68, 2), got {self.landmarks.shape}")
        if self.labels.shape != (n,):
            raise ValueError(f"labels must be ({n},), got {self.labels.shape}")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(f"labels range {self.labels.min()}..{self.labels.max()} outside the "
                             f"{len(self.classes)} classes {self.classes}")
        bad = np.flatnonzero(~np.isfinite(self.landmarks).reshape(n, -1).all(axis=1))
        if bad.size:
            raise ValueError(f"faces {bad[:10].tolist()} have no (finite) landmarks; run "
                             "fer_explain.faces.landmarks.extract_landmarks or drop those rows")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, idx: Any) -> FaceArrays:
        """The faces at ``idx`` (indices or a boolean mask)."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        t = torch.as_tensor(idx, dtype=torch.long)
        return FaceArrays(self.images[t], self.landmarks[idx], self.labels[idx], self.classes)


def face_arrays(
    source: Any,
    size: int | None = None,
    channels: int = 1,
    *,
    split: str | Sequence[str] | None = None,
    crop_margin: float = 0.1,
    cache_dir: Any = False,
    classes: Sequence[str] | None = None,
    progress: bool = False,
    model_input: CheckpointInput | None = None,
) -> FaceArrays:
    """Faces, landmarks and labels as :class:`FaceArrays` from several sources.

    To analyse a trained model, pass its ``model_input`` (:class:`~fer_explain.train.inputs.CheckpointInput`):
    a manifest's faces are then decoded at its size and channels *in its evaluation view* (the tensors
    ``evaluate`` scores, before normalisation) and the landmarks are mapped into that view.

    Args:
        source: a :class:`FaceArrays` (returned as is), a
            :class:`~fer_explain.data.manifest.Manifest` (decoded with ``FaceDataset`` at ``size``
            and ``channels``, without normalisation; rows without landmarks are an error), a
            :class:`~fer_explain.data.synthetic.SyntheticBatch`, or a tuple
            ``(images, landmarks, labels)`` (images ``(N, C, H, W)``/``(N, H, W)`` float in
            ``[0, 1]`` or uint8; then ``classes`` is needed).
        size: output side for a manifest (default 48; ``model_input``'s when given).
        channels: channels for a manifest (``model_input``'s when given).
        split: keep only these manifest splits.
        crop_margin, cache_dir: passed to ``FaceDataset`` (``cache_dir=False``: no pixel cache).
    """
    if isinstance(source, FaceArrays):
        return source
    from fer_explain.data.manifest import Manifest
    from fer_explain.data.synthetic import SyntheticBatch

    if isinstance(source, Manifest):
        from fer_explain.data.dataset import FaceDataset

        m = source.select(split=split) if split is not None else source
        if model_input is not None:
            if size is not None and int(size) != model_input.size:
                raise ValueError(f"size={size} disagrees with the model input's {model_input.size}")
            size, channels = model_input.size, model_input.channels
        size = 48 if size is None else int(size)
        missing = np.flatnonzero(~m.has_landmarks())
        if missing.size:
            raise ValueError(f"manifest {m.name or '(unnamed)'!r}: rows {missing[:10].tolist()} have no landmarks "
                             f"({missing.size} in all); run `fer-explain landmarks` first")
        if model_input is not None:
            ds = model_input.dataset(m, normalized=False, crop_margin=crop_margin, cache_dir=cache_dir,
                                     progress=progress)
            landmarks = model_input.landmarks(m, crop_margin)
        else:
            ds = FaceDataset(m, size=size, channels=channels, crop_margin=crop_margin, cache_dir=cache_dir,
                             progress=progress)
            landmarks = dataset_landmarks(m, size, crop_margin)
        imgs = torch.stack([ds[i][0] for i in tqdm(range(len(ds)), desc="decoding faces", disable=not progress,
                                                    leave=False)])
        return FaceArrays(imgs, landmarks, m.label_indices(), m.classes)
    if isinstance(source, SyntheticBatch):
        imgs = torch.from_numpy(np.ascontiguousarray(source.images)).float().div_(255.0)
        imgs = imgs[:, None] if imgs.dim() == 3 else imgs.permute(0, 3, 1, 2).contiguous()
        return FaceArrays(imgs, source.landmarks, source.labels, source.label_space.classes)
    if isinstance(source, tuple) and len(source) == 3:
        if classes is None:
            raise ValueError("face_arrays((images, landmarks, labels)) needs classes=")
        images = torch.as_tensor(np.asarray(source[0]) if not isinstance(source[0], Tensor) else source[0])
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        return FaceArrays(images, source[1], source[2], tuple(classes))
    raise TypeError(f"cannot make face arrays from {type(source).__name__}; pass a Manifest, a SyntheticBatch, "
                    "FaceArrays or (images, landmarks, labels)")
