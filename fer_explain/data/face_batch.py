"""Some rows of a dataset as one in-memory batch: model input, labels and display pixels together.

:func:`batch_of` takes rows of a :class:`~fer_explain.data.dataset.FaceDataset` (any dataset whose
items are ``(x, label, ...)`` works) and returns a :class:`FaceBatch`: the stacked, normalised model
input ``x`` for explainers, the labels, and the uint8 pixels before normalisation for figures::

    >>> ds = CheckpointInput.from_checkpoint(meta, model).dataset(manifest.select(split="test"))
    >>> batch = batch_of(ds, range(6))
    >>> exp = GradCAM(model).attribute(batch.x, labels=batch.labels)
    >>> fig = viz.explanation_grid(batch.images, {"Grad-CAM": exp.maps}, batch.labels, ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["FaceBatch", "batch_of"]


@dataclass
class FaceBatch:
    """Some rows of a dataset as one batch.

    Attributes:
        x: ``(N, C, H, W)`` model input (transform and normalisation applied).
        labels: ``(N,)`` long class indices.
        images: ``(N, H, W)`` (grey) or ``(N, H, W, 3)`` uint8 pixels before normalisation, for display.
        rows: ``(N,)`` the dataset indices taken.
    """

    x: Tensor
    labels: Tensor
    images: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])


def batch_of(dataset: Any, indices: Any) -> FaceBatch:
    """The rows ``indices`` (ints, or a boolean mask over the dataset) of a ``FaceDataset`` as a
    :class:`FaceBatch`; display pixels come from ``dataset.pixels`` (any dataset with ``(x, y)``
    items works, its images are then ``x`` min-max scaled to uint8)."""
    idx = np.asarray(indices)
    if idx.dtype == bool:
        if idx.shape != (len(dataset),):
            raise ValueError(f"a boolean mask must have one entry per row ({len(dataset)}), got shape {idx.shape}")
        idx = np.flatnonzero(idx)
    idx = idx.astype(np.int64).reshape(-1)
    if idx.size == 0:
        raise ValueError("batch_of: no rows selected")
    items = [dataset[int(i)] for i in idx]
    x = torch.stack([torch.as_tensor(it[0]) for it in items])
    labels = torch.as_tensor([int(it[1]) for it in items], dtype=torch.long)
    if hasattr(dataset, "pixels"):
        pix = np.stack([np.asarray(dataset.pixels(int(i))) for i in idx])  # (N, C, H, W) uint8
    else:
        lo = x.amin(dim=(1, 2, 3), keepdim=True)
        hi = x.amax(dim=(1, 2, 3), keepdim=True)
        pix = ((x - lo) / (hi - lo).clamp_min(1e-12) * 255).round().to(torch.uint8).numpy()
    images = pix[:, 0] if pix.shape[1] == 1 else np.moveaxis(pix, 1, -1)
    return FaceBatch(x=x, labels=labels, images=images, rows=idx)
