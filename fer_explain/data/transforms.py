"""The papers' augmentations as named pipelines.

Every pipeline maps a float tensor ``C x H x W`` with values in ``[0, 1]`` (what
:class:`~fer_explain.data.dataset.FaceDataset` produces before its optional ``normalize``) to a
float tensor ``C x size x size`` (or ``5 x C x size x size`` for seed 001's five-crop option).
They are built from :mod:`torchvision.transforms.v2`, draw all randomness from torch's global
generator, and so are reproducible under :func:`torch.manual_seed` (in DataLoader workers, torch
seeds each worker from the loader's generator).

Names, after the seed papers::

    "seed001"  resize 256 -> crop 224 (random, or five crops), rotation +-30 deg, tone jitter
    "seed002"  random square crop + horizontal flip (per-channel normalisation via the dataset)
    "seed003"  random horizontal flip (ResEmoteNet)
    "seed004"  horizontal flip, small rotation, small affine distortion (Deep-Emotion)
    "none"     identity

Each builder's docstring says which parameter comes from its paper and which is an assumption.
Pipelines are ``torch.nn.Module`` objects without lambdas, so they pickle into DataLoader workers.

Example::

    >>> t = get_transform("seed004", size=48, train=True)
    >>> t(torch.rand(1, 48, 48)).shape
    torch.Size([1, 48, 48])
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2

__all__ = ["TRANSFORMS", "EvalView", "Identity", "StackCrops", "evaluation_view", "get_transform", "list_transforms"]


class Identity(nn.Module):
    """Return the input unchanged (the ``"none"`` pipeline and every paper's missing eval step)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class StackCrops(nn.Module):
    """Stack the tuple of crops from :class:`torchvision.transforms.v2.FiveCrop` into ``N x C x H x W``."""

    def forward(self, crops: tuple[torch.Tensor, ...] | list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(crops))


class WithMirror(nn.Module):
    """``C x H x W`` -> ``2 x C x H x W``: the image and its horizontal mirror."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x, x.flip(-1)])


TTA_MODES: tuple[str, ...] = ("flip", "tencrop")
"""The test-time augmentations of :meth:`EvalView.tta_transform`."""


@dataclass(frozen=True)
class EvalView:
    """The one deterministic view a model is evaluated and explained on.

    The ``size x size`` face (as :class:`~fer_explain.data.dataset.FaceDataset` crops and resizes it)
    is resized to ``resize x resize`` and centre-cropped back to ``size`` (``resize == size``: the
    face as it is). Every recipe's evaluation pipeline is such a view (seed 001 and seed 002 crop
    around the centre; the others use the face as it is), so maps and landmarks can be carried into
    it with :meth:`map_points`.
    """

    size: int
    resize: int

    def __post_init__(self) -> None:
        _check_size(self.size)
        if self.resize < self.size:
            raise ValueError(f"resize ({self.resize}) must be >= size ({self.size})")

    @property
    def is_identity(self) -> bool:
        return self.resize == self.size

    @property
    def offset(self) -> int:
        """Top-left corner of the centre crop in the resized face (torchvision's ``CenterCrop`` rounding)."""
        return round((self.resize - self.size) / 2.0)

    def transform(self) -> nn.Module:
        """The view as a pipeline step on ``C x size x size`` float tensors."""
        if self.is_identity:
            return Identity()
        return v2.Compose([v2.Resize((self.resize, self.resize), antialias=True), v2.CenterCrop(self.size)])

    def tta_transform(self, mode: str) -> nn.Module:
        """Test-time augmentation of this view (``evaluate``'s reported score only; every explanation uses
        the single view): ``C x size x size`` -> ``K x C x size x size`` views whose probabilities ``evaluate``
        averages. ``"flip"``: the view and its mirror (K = 2); ``"tencrop"``: the four corner crops and the
        centre crop of the ``resize`` face, and their mirrors (K = 10; the same as ``"flip"`` when
        ``resize == size``)."""
        if mode == "flip":
            return v2.Compose([self.transform(), WithMirror()])
        if mode == "tencrop":
            return v2.Compose([v2.Resize((self.resize, self.resize), antialias=True), v2.TenCrop(self.size),
                               StackCrops()])
        raise ValueError(f"tta must be one of {TTA_MODES}, got {mode!r}")

    def map_points(self, points: np.ndarray) -> np.ndarray:
        """``(..., 2)`` points in the ``size`` face (pixel-centre convention) -> points in the view."""
        pts = np.asarray(points, dtype=np.float64)
        if self.is_identity:
            return pts.copy()
        return (pts + 0.5) * (self.resize / self.size) - 0.5 - self.offset


def _centre_view_resize(name: str, size: int, options: dict[str, Any]) -> int:
    """The side a recipe's evaluation pipeline resizes the face to before its centre crop."""
    if name == "seed001":
        return round(size * 256 / 224)
    if name == "seed002":
        lo, hi = options.get("scale", (0.8, 1.0))
        return round(size / math.sqrt((lo + hi) / 2))
    return size


def evaluation_view(name: str, size: int, **options: Any) -> EvalView:
    """The :class:`EvalView` of the named pipeline's evaluation form (what ``get_transform(train=False)`` does).

    Only seed 001's ``five_crop`` is a training-time option; evaluation always uses one view.
    """
    if name not in TRANSFORMS:
        raise KeyError(f"unknown transform {name!r}; valid: {list_transforms()}")
    return EvalView(size=_check_size(size), resize=_centre_view_resize(name, size, options))


def _check_size(size: int) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size must be a positive int (the output side in pixels), got {size!r}")
    return size


def seed001(size: int = 224, train: bool = True, five_crop: bool = False,
            brightness: float = 0.2, contrast: float = 0.2, degrees: float = 30.0) -> nn.Module:
    """Seed 001 (SE-ResNet on AffectNet/RAF-DB): resize -> crop, rotation, tone changes.

    From the paper: inputs 256x256, "the tones of the input images were changed", random rotation
    of +-30 degrees (``degrees``), "cropped according to the four corners and the center into five
    images of the size 224x224" at training (``five_crop=True`` returns those five crops stacked as
    ``5 x C x size x size``), and a 224x224 centre crop for validation.

    Assumptions: the default training crop is one *random* crop (a cheaper stand-in for the five
    fixed crops that keeps one image per sample); the tone change is brightness/contrast jitter of
    +-20% (``brightness``, ``contrast``; the paper gives no magnitudes); rotation is applied to the
    256 image before cropping and fills the corners with 0. For a native size ``s`` other than 224
    the resize is ``round(s * 256 / 224)`` (55 for FER2013's 48), keeping the paper's crop ratio.
    """
    size = _check_size(size)
    if not train:
        return evaluation_view("seed001", size).transform()
    resize = _centre_view_resize("seed001", size, {})
    steps: list[nn.Module] = [v2.Resize((resize, resize), antialias=True)]
    steps += [
        v2.RandomRotation(degrees, interpolation=v2.InterpolationMode.BILINEAR, fill=0.0),
        v2.ColorJitter(brightness=brightness, contrast=contrast),
    ]
    if five_crop:
        steps += [v2.FiveCrop(size), StackCrops()]
    else:
        steps.append(v2.RandomCrop(size))
    return v2.Compose(steps)


def seed002(size: int = 48, train: bool = True, scale: tuple[float, float] = (0.8, 1.0)) -> nn.Module:
    """Seed 002 (region-based authenticity): random square crop + random horizontal flip.

    From the paper: "random crop original inputs into squares and random horizontal flip"; "each
    image is normalized to have the same mean and variance in each channel" (use the dataset's
    ``normalize=(mean, std)``, computed on the training set); at test time "each face is cropped
    around the center". Non-square face *regions* are padded to squares before this step (that
    padding belongs to :mod:`fer_explain.faces.regions`, not here).

    Assumptions: the random square crop covers a fraction ``scale`` = (0.8, 1.0) of the image area
    (``RandomResizedCrop`` with aspect ratio 1, resized back to ``size``); the test-time centre crop
    has the mean training crop area (0.9 of the image: resize to ``round(size / sqrt(0.9))`` then
    centre crop ``size``); flip probability 0.5.
    """
    size = _check_size(size)
    if train:
        return v2.Compose([
            v2.RandomResizedCrop(size, scale=scale, ratio=(1.0, 1.0), antialias=True),
            v2.RandomHorizontalFlip(0.5),
        ])
    return evaluation_view("seed002", size, scale=scale).transform()


def seed003(size: int = 64, train: bool = True) -> nn.Module:
    """Seed 003 (ResEmoteNet): random horizontal flip at training, nothing at evaluation.

    From the paper: "We applied Random Horizontal Flip for data augmentation". ResEmoteNet's
    authors also resize faces to 64x64 and repeat grey images to 3 channels; here that is the
    dataset's job (``FaceDataset(..., size=64, channels=3)``), so ``size`` only documents the
    expected input and is not used to resize.

    Assumption: flip probability 0.5 (torchvision's default; the paper does not give one).
    """
    _check_size(size)
    return v2.RandomHorizontalFlip(0.5) if train else evaluation_view("seed003", size).transform()


def seed004(size: int = 48, train: bool = True, degrees: float = 10.0,
            scale: tuple[float, float] = (0.95, 1.05), shear: float = 5.0,
            translate: tuple[float, float] = (0.05, 0.05)) -> nn.Module:
    """Seed 004 (Deep-Emotion): flips, small rotations, small distortions.

    From the paper (section 4, training procedure): "Data augmentation was used for the images in
    the training sets to train the model on a larger number of images and to train model for
    invariances on small transformations. We used flipping, small rotation, and small distortion
    to augment the data." (The same paragraph's oversampling of rare classes is
    :func:`fer_explain.data.dataset.make_loader`'s ``oversample=True``.)

    Assumptions (the paper gives no magnitudes): horizontal flip with probability 0.5; rotation
    within +-10 degrees (``degrees``); the "small distortion" is an affine map with scale 0.95-1.05,
    shear +-5 degrees and translation up to 5% (``scale``, ``shear``, ``translate``), bilinear,
    corners filled with 0. ``size`` is unused (the geometry keeps the input size).
    """
    _check_size(size)
    if not train:
        return evaluation_view("seed004", size).transform()
    return v2.Compose([
        v2.RandomHorizontalFlip(0.5),
        v2.RandomAffine(degrees=degrees, translate=translate, scale=scale, shear=shear,
                        interpolation=v2.InterpolationMode.BILINEAR, fill=0.0),
    ])


def none(size: int = 48, train: bool = True) -> nn.Module:
    """No augmentation: the identity, at training and evaluation (``size`` is unused)."""
    _check_size(size)
    return Identity() if train else evaluation_view("none", size).transform()


TRANSFORMS: dict[str, Callable[..., nn.Module]] = {
    "none": none,
    "seed001": seed001,
    "seed002": seed002,
    "seed003": seed003,
    "seed004": seed004,
}
"""Name -> builder ``(size, train, **options) -> nn.Module``."""


def list_transforms() -> list[str]:
    """The names :func:`get_transform` accepts, sorted."""
    return sorted(TRANSFORMS)


def get_transform(name: str, size: int, train: bool, **options: Any) -> nn.Module:
    """Build the named pipeline for output side ``size``, in training or evaluation form.

    ``options`` are the builder's keyword parameters (e.g. ``five_crop=True`` for ``"seed001"``);
    an unknown name raises ``KeyError`` and an unknown option ``TypeError``, both listing valid values.
    """
    try:
        builder = TRANSFORMS[name]
    except KeyError:
        raise KeyError(f"unknown transform {name!r}; valid: {list_transforms()}") from None
    valid = [p for p in inspect.signature(builder).parameters if p not in ("size", "train")]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"transform {name!r}: unknown option(s) {unknown}; valid: {valid}")
    return builder(size=size, train=bool(train), **options)
