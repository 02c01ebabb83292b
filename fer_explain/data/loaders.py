"""Feeding a dataset to training: seeded DataLoaders (optionally oversampling rare classes) and class weights.

* :func:`make_loader`: a ``DataLoader`` that is deterministic given ``seed`` (order, oversampling and
  the workers' augmentation seeds);
* :func:`class_weights`: per-class loss weights for a class-weighted cross-entropy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset, WeightedRandomSampler

__all__ = ["class_weights", "make_loader"]


def _dataset_labels(dataset: Dataset) -> np.ndarray:
    """Labels of a FaceDataset, or of a Subset (possibly nested) of one."""
    if isinstance(dataset, Subset):
        return _dataset_labels(dataset.dataset)[np.asarray(dataset.indices, dtype=np.int64)]
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise TypeError(
            f"oversample=True needs per-row labels: {type(dataset).__name__} has no 'labels' attribute "
            "(use a FaceDataset, a Subset of one, or pass sampler=)"
        )
    return np.asarray(labels, dtype=np.int64)


def _seed_worker(worker_id: int) -> None:
    """Seed numpy and random in a DataLoader worker from torch's per-worker seed."""
    import random

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    dataset: Dataset,
    batch_size: int = 64,
    shuffle: bool = True,
    oversample: bool = False,
    num_workers: int = 0,
    seed: int = 0,
    drop_last: bool = False,
    sampler: Sampler[int] | None = None,
    pin_memory: bool = False,
    persistent_workers: bool | None = None,
) -> DataLoader:
    """A DataLoader, deterministic given ``seed`` (order, oversampling and worker augmentation seeds).

    With ``oversample=True`` rows are drawn with replacement with weights ``1 / count(class)``
    (``len(dataset)`` draws per epoch), so every class is about equally frequent: seed 004's
    "oversampling on the classes with fewer samples". ``shuffle`` is ignored when a sampler is used
    (``sampler=`` or ``oversample``). ``persistent_workers`` defaults to ``num_workers > 0``.
    """
    if sampler is not None and oversample:
        raise ValueError("give either sampler= or oversample=True, not both")
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    if oversample:
        labels = _dataset_labels(dataset)
        counts = np.bincount(labels)
        weights = 1.0 / counts[labels]
        sampler = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double),  # type: ignore[arg-type]
                                        num_samples=len(labels), replacement=True, generator=generator)
    if persistent_workers is None:
        persistent_workers = num_workers > 0
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        generator=generator,
        worker_init_fn=_seed_worker if num_workers > 0 else None,
        pin_memory=pin_memory,
        persistent_workers=bool(persistent_workers and num_workers > 0),
    )


def class_weights(labels: Sequence[int] | np.ndarray | torch.Tensor, num_classes: int,
                  scheme: str = "inverse", beta: float = 0.999) -> torch.Tensor:
    """Per-class loss weights (float32, length ``num_classes``) for a class-weighted cross-entropy.

    ``"inverse"``: ``N / (K * n_c)`` (1 for every class of a balanced set; scikit-learn's
    "balanced"). ``"effective"``: ``(1 - beta) / (1 - beta ** n_c)`` (Cui et al., 2019, effective
    number of samples), rescaled so the weights of present classes sum to K. ``K`` is the number of
    classes present; a class with no rows gets weight 0 (it never appears as a target). Seed 003
    gives rarer classes "more weightage in the loss function" without a formula: ``"inverse"`` is
    the assumed default.
    """
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64).reshape(-1)
    if y.numel() == 0:
        raise ValueError("class_weights: no labels given")
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise ValueError(f"class_weights: labels must lie in 0..{num_classes - 1}, got {int(y.min())}..{int(y.max())}")
    counts = torch.bincount(y, minlength=num_classes).to(torch.float64)
    present = counts > 0
    k = int(present.sum())
    w = torch.zeros(num_classes, dtype=torch.float64)
    if scheme == "inverse":
        w[present] = y.numel() / (k * counts[present])
    elif scheme == "effective":
        if not 0 <= beta < 1:
            raise ValueError(f"class_weights: beta must be in [0, 1), got {beta}")
        raw = (1 - beta) / (1 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts[present]))
        w[present] = raw * k / raw.sum()
    else:
        raise ValueError(f"class_weights: unknown scheme {scheme!r}; valid: ['inverse', 'effective']")
    return w.to(torch.float32)
