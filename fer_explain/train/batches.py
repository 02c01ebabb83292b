"""Reading datasets, batches and models the same way everywhere in training and evaluation.

* :func:`unpack_batch`: ``(x, y)`` from a collated batch of ``(x, y)`` / ``(x, y, index)`` items or
  of dicts with ``image``/``label``;
* :func:`flatten_crops`: ``N x K x C x H x W`` batches of ``K`` crops per sample (seed 001) as
  ``NK`` samples;
* :func:`dataset_labels`, :func:`dataset_label_space`: a dataset's integer labels and declared
  label space;
* :func:`num_outputs`, :func:`model_label_space`: a model's number of logits and output label space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset
from tqdm.auto import tqdm

from fer_explain.labels import LabelSpace, get_label_space
from fer_explain.train.distributed import unwrap_model

__all__ = [
    "dataset_label_space",
    "dataset_labels",
    "flatten_crops",
    "model_label_space",
    "num_outputs",
    "unpack_batch",
]


def unpack_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` from a collated batch: a tuple/list ``(x, y[, ...])`` or a dict with image/label."""
    if isinstance(batch, Mapping):
        for xk, yk in (("image", "label"), ("x", "y"), ("input", "target")):
            if xk in batch and yk in batch:
                return batch[xk], torch.as_tensor(batch[yk])
        raise TypeError(f"dict batches need keys image/label (or x/y); got {sorted(batch)}")
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], torch.as_tensor(batch[1])
    raise TypeError(f"dataset items must be (x, y), (x, y, index) or dicts; got a batch of type {type(batch).__name__}")


def flatten_crops(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``N x K x C x H x W`` (K crops per sample, seed 001) -> ``NK x C x H x W`` with labels repeated."""
    if x.dim() == 5:
        n, k = x.shape[:2]
        return x.reshape(n * k, *x.shape[2:]), y.repeat_interleave(k)
    return x, y


def num_outputs(model: nn.Module) -> int | None:
    """Number of logits: ``model.classifier.out_features``, else the last ``nn.Linear``'s (None without one)."""
    inner = unwrap_model(model)
    head = getattr(inner, "classifier", None)
    if isinstance(head, nn.Linear):
        return head.out_features
    linears = [m for m in inner.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def dataset_labels(ds: Dataset, progress: bool = False) -> np.ndarray:
    """Integer labels of every item (read from ``labels``/``targets``/TensorDataset, else by iterating)."""
    if isinstance(ds, Subset):
        return dataset_labels(ds.dataset, progress)[np.asarray(ds.indices, dtype=np.int64)]
    for attr in ("labels", "targets"):
        labels = getattr(ds, attr, None)
        if labels is not None and not callable(labels):
            return np.asarray(labels, dtype=np.int64).reshape(-1)
    if isinstance(ds, TensorDataset) and len(ds.tensors) >= 2:
        return ds.tensors[1].detach().cpu().numpy().astype(np.int64).reshape(-1)
    out = []
    for i in tqdm(range(len(ds)), desc="reading labels", disable=not progress, leave=False):
        item = ds[i]
        out.append(int(item["label"] if isinstance(item, Mapping) else item[1]))
    return np.asarray(out, dtype=np.int64)


def dataset_label_space(ds: Dataset) -> LabelSpace | None:
    """The label space a dataset declares (``label_space``, or emotion names in ``classes``), if any."""
    for attr in ("label_space", "classes"):
        value = getattr(ds, attr, None)
        if value is None or callable(value):
            continue
        try:
            return get_label_space(value)
        except (KeyError, ValueError, TypeError):
            continue  # e.g. an ImageFolder's folder names: not emotion names
    return None


def model_label_space(model: nn.Module, label_space: Any = None) -> LabelSpace | None:
    """``label_space`` when given, else ``model.label_space``, else basic7/basic8 by the number of outputs."""
    if label_space is not None:
        return get_label_space(label_space)
    space = getattr(unwrap_model(model), "label_space", None)
    if space is not None:
        return get_label_space(space)
    return {7: get_label_space("basic7"), 8: get_label_space("basic8")}.get(num_outputs(model) or 0)

