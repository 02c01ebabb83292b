"""A checkpoint's input, decided in one place: size, channels, mean/std and the evaluation view.

:class:`CheckpointInput` is the only code that reads a checkpoint's ``meta["input"]`` block and its
recipe's evaluation pipeline. Every path that feeds a trained model -- ``evaluate`` (CLI and
Python), ``explain``, the region analyses, ``write_report``, the explorers and the notebooks -- builds
its tensors with it, so the same face gives the same logits everywhere::

    >>> model, meta = load_checkpoint(shipped_checkpoint("fer2013/vgg_fer"))
    >>> inp = CheckpointInput.from_checkpoint(meta, model)
    >>> ds = inp.dataset(manifest.select(split="publictest"))    # normalised faces in the view
    >>> x = inp.prepare(photo_face)                              # any image -> model input

Resolution (one order for every caller): the checkpoint's ``input`` block wins, the model's
``input_spec`` (its architecture default) fills what the block lacks, and anything still missing is
an error -- there are no silent fallbacks such as 48 px, one channel or mean 0 / std 1.

The **evaluation view** is the deterministic form of the recipe's transform
(:func:`fer_explain.data.transforms.evaluation_view`): seed 001 and seed 002 crop the face around
its centre (seed 002 at 48 px: resize to 51, keep the central 48), the other recipes use the face as
it is. Explanations use exactly this view; landmarks are mapped into it by :meth:`landmarks`.
Test-time augmentation, if a checkpoint ever records one, would belong to ``evaluate``'s accuracy
alone, never to this view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fer_explain.data.dataset import FaceDataset
from fer_explain.data.manifest import Manifest
from fer_explain.data.transforms import EvalView, evaluation_view
from fer_explain.faces.landmarks import dataset_landmarks

__all__ = ["CheckpointInput", "to_nchw_float"]

_KEYS = ("size", "channels", "mean", "std")
#: ITU-R 601 luma weights: RGB -> grey, as the datasets convert.
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class CheckpointInput:
    """What a trained model is fed: ``size x size`` faces with ``channels``, seen through ``view``,
    normalised with ``(x - mean) / std``.

    Attributes:
        size: input side in pixels.
        channels: 1 (grey) or 3.
        mean, std: per-channel normalisation of ``[0, 1]`` pixels.
        view: the evaluation view (:class:`~fer_explain.data.transforms.EvalView`).
    """

    size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    view: EvalView

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(cls, meta: Mapping[str, Any] | None, model: nn.Module | None = None) -> CheckpointInput:
        """The input of a checkpoint: ``meta["input"]``, completed from ``model.input_spec``; the view from
        ``meta["recipe"]`` (``transform`` and ``transform_options``; none recorded = the face as it is)."""
        meta = dict(meta or {})
        block: dict[str, Any] = {}
        spec = getattr(model, "input_spec", None) if model is not None else None
        if spec is not None:
            block = {"size": spec.size, "channels": spec.channels, "mean": spec.mean, "std": spec.std}
        block.update({k: v for k, v in dict(meta.get("input") or {}).items() if k in _KEYS})
        missing = [k for k in _KEYS if k not in block]
        if missing:
            who = f"checkpoint {meta['path']!r}" if "path" in meta else "the checkpoint"
            raise ValueError(f"{who}: input lacks {missing} (no 'input' block in its JSON and no model.input_spec)")
        size, channels = int(block["size"]), int(block["channels"])
        mean = tuple(float(v) for v in np.atleast_1d(block["mean"]))
        std = tuple(float(v) for v in np.atleast_1d(block["std"]))
        if len(mean) == 1 and channels > 1:
            mean, std = mean * channels, std * channels
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"input mean/std need {channels} value(s), got mean={mean}, std={std}")
        recipe = dict(meta.get("recipe") or {})
        view = evaluation_view(recipe.get("transform", "none"), size, **dict(recipe.get("transform_options") or {}))
        return cls(size=size, channels=channels, mean=mean, std=std, view=view)

    @classmethod
    def from_model(cls, model: nn.Module) -> CheckpointInput:
        """A bare model's input (its ``input_spec``; the face as it is)."""
        if getattr(model, "input_spec", None) is None:
            raise TypeError(f"{type(model).__name__} has no input_spec; load it from a checkpoint instead")
        return cls.from_checkpoint(None, model)

    @classmethod
    def of(cls, source: Any) -> CheckpointInput:
        """Accept a :class:`CheckpointInput`, a ``(model, meta)`` pair, checkpoint metadata, a bare ``input``
        block or a model."""
        if isinstance(source, CheckpointInput):
            return source
        if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], nn.Module):
            return cls.from_checkpoint(source[1], source[0])
        if isinstance(source, nn.Module):
            return cls.from_model(source)
        if isinstance(source, Mapping):
            if "input" not in source and all(k in source for k in _KEYS):  # a bare input block
                return cls.from_checkpoint({"input": dict(source)})
            return cls.from_checkpoint(source)
        raise TypeError(f"cannot take a model input from {type(source).__name__}")

    # ------------------------------------------------------------------ derived facts
    @property
    def normalize(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(mean, std)`` as ``FaceDataset(normalize=...)`` takes it."""
        return self.mean, self.std

    def black(self) -> Tensor:
        """The value of a black pixel after normalisation, ``(C, 1, 1)`` (the occlusion baseline)."""
        return (-torch.tensor(self.mean) / torch.tensor(self.std)).reshape(-1, 1, 1).float()

    def as_block(self) -> dict[str, Any]:
        """The ``{"size", "channels", "mean", "std"}`` block (as stored in a checkpoint's JSON)."""
        return {"size": self.size, "channels": self.channels, "mean": list(self.mean), "std": list(self.std)}

    # ------------------------------------------------------------------ tensors
    def dataset(self, manifest: Manifest, *, normalized: bool = True, tta: str | None = None,
                **kwargs: Any) -> FaceDataset:
        """A :class:`FaceDataset` of ``manifest`` in this input's view (normalised unless ``normalized=False``,
        then ``[0, 1]``). ``kwargs`` go to ``FaceDataset`` (``crop_margin``, ``cache_dir``, ``progress``...).
        ``tta`` (``evaluate_checkpoint`` only) gives each item as ``K`` views instead
        (:meth:`~fer_explain.data.transforms.EvalView.tta_transform`)."""
        kwargs.setdefault("progress", False)
        transform = self.view.transform() if tta is None else self.view.tta_transform(tta)
        return FaceDataset(manifest, size=self.size, channels=self.channels,
                           normalize=self.normalize if normalized else None, transform=transform, **kwargs)

    def in_view(self, faces: Tensor) -> Tensor:
        """``(N, C, size, size)`` ``[0, 1]`` faces -> the same faces in the evaluation view."""
        return faces if self.view.is_identity else self.view.transform()(faces)

    def standardize(self, faces: Tensor) -> Tensor:
        """``(x - mean) / std`` on ``(N, C, H, W)`` ``[0, 1]`` faces."""
        mean = torch.tensor(self.mean, device=faces.device).reshape(1, -1, 1, 1)
        std = torch.tensor(self.std, device=faces.device).reshape(1, -1, 1, 1)
        return (faces - mean) / std

    def faces(self, images: Any) -> Tensor:
        """Images (uint8 or ``[0, 1]``; ``(H, W)``, ``(N, H, W)``, ``(N, H, W, 3)`` or ``(N, C, H, W)``) ->
        ``(N, C, size, size)`` ``[0, 1]`` faces in the view: channels converted (grey repeated to RGB,
        RGB to ITU-R 601 luma), resized bilinearly (antialiased when shrinking), then the view."""
        x = to_nchw_float(images)
        if self.channels == 3 and x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        elif self.channels == 1 and x.shape[1] == 3:
            x = (x * torch.tensor(_LUMA).reshape(1, 3, 1, 1)).sum(1, keepdim=True)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=bool(x.shape[-1] > self.size or x.shape[-2] > self.size))
        return self.in_view(x)

    def prepare(self, images: Any, device: str | torch.device = "cpu") -> Tensor:
        """Images -> the normalised ``(N, C, size, size)`` model input (:meth:`faces` then :meth:`standardize`)."""
        return self.standardize(self.faces(images)).to(device)

    def landmarks(self, manifest: Manifest, crop_margin: float = 0.1) -> np.ndarray:
        """The manifest's landmarks in this input's faces, ``(N, 68, 2)`` float32 (NaN where missing)."""
        return self.map_points(dataset_landmarks(manifest, self.size, crop_margin=crop_margin))

    def map_points(self, points: np.ndarray) -> np.ndarray:
        """Points in a ``size x size`` face -> points in the view (float32)."""
        return self.view.map_points(points).astype(np.float32)


def to_nchw_float(images: Any) -> Tensor:
    """uint8/float images in any of (H, W), (N, H, W), (N, H, W, 3), (N, C, H, W) -> float (N, C, H, W) in [0, 1]."""
    t = torch.as_tensor(np.array(images)) if not isinstance(images, Tensor) else images.detach().cpu()
    is_uint8 = t.dtype == torch.uint8
    t = t.float()
    if is_uint8:
        t = t / 255.0
    if t.dim() == 2:
        t = t[None, None]
    elif t.dim() == 3:
        t = t[None].permute(0, 3, 1, 2) if t.shape[-1] == 3 and t.shape[0] != 3 else t[:, None]
    elif t.dim() == 4:
        if t.shape[-1] in (1, 3) and t.shape[1] not in (1, 3):
            t = t.permute(0, 3, 1, 2)
    else:
        raise ValueError(f"images must be (H, W), (N, H, W), (N, H, W, 3) or (N, C, H, W), got {tuple(t.shape)}")
    if t.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got shape {tuple(t.shape)}")
    return t.contiguous()

