"""t-SNE of a model's pooled features, coloured by emotion (seed 002 Fig. 5).

Three steps, each usable on its own::

    feats, labels = extract_features(model, test_dataset, max_samples=3000, seed=0)
    emb = tsne_embedding(feats, seed=0)                  # (N, 2)
    fig = plot_tsne(emb, labels, test_dataset.classes)   # seed-002 colours and legend order

:func:`extract_features` reads :meth:`FERModel.features` -- the classifier's input, i.e. the
global-average-pooled ("bottleneck") features seed 002 embeds -- in eval mode and without
gradients, and restores every module's training flag afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset
from tqdm.auto import tqdm

from fer_explain.data.splits import subsample_indices
from fer_explain.viz.style import EMOTION_COLORS, seed002_order

__all__ = ["extract_features", "plot_tsne", "subsample_indices", "tsne_embedding"]


# --------------------------------------------------------------------------- subsampling
def _known_labels(dataset: Dataset) -> np.ndarray | None:
    """Per-item labels without loading items: FaceDataset.labels, TensorDataset's 2nd tensor, Subsets."""
    if isinstance(dataset, Subset):
        inner = _known_labels(dataset.dataset)
        return None if inner is None else inner[np.asarray(dataset.indices, dtype=np.int64)]
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) >= 2:
        return dataset.tensors[1].detach().cpu().numpy()
    labels = getattr(dataset, "labels", None)
    if labels is None:
        return None
    labels = np.asarray(labels)
    return labels if labels.shape == (len(dataset),) else None  # type: ignore[arg-type]


# --------------------------------------------------------------------------- features
def extract_features(
    model: nn.Module,
    dataset_or_loader: Dataset | DataLoader | tuple[torch.Tensor, Any],
    batch_size: int = 256,
    device: str | torch.device | None = None,
    max_samples: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled penultimate features ``model.features(x)`` of every (or a subsample of the) input.

    Args:
        model: a :class:`~fer_explain.models.FERModel` (anything with ``.features(x) -> (N, D)``).
        dataset_or_loader: a Dataset whose items are ``(x, label[, ...])`` (e.g. a
            :class:`~fer_explain.data.dataset.FaceDataset`), a DataLoader yielding such batches,
            or a pair ``(inputs (N, C, H, W) tensor, labels (N,))``.
        batch_size: batch size when a Dataset or a pair is given (a DataLoader keeps its own).
        device: where to run; ``None`` uses the device of the model's parameters. The model is
            not moved: a device different from the model's is an error.
        max_samples: keep at most this many samples, drawn with ``seed`` and stratified by label
            when the labels are known without loading images (FaceDataset, TensorDataset, Subsets
            of them); otherwise a uniform draw. Kept samples stay in dataset order; the same
            indices are ``subsample_indices(len(dataset), max_samples, labels, seed)``. With a
            DataLoader the subsample is read through a new loader over ``loader.dataset`` with the
            same batch size, workers and collate function, in order.
        seed: seed of the subsample draw.
        progress: show a tqdm progress bar.

    Returns:
        ``(features, labels)``: float32 ``(N, D)`` and int64 ``(N,)`` numpy arrays, in the order the
        samples were read.

    The model runs in eval mode under ``torch.no_grad()``; each module's ``training`` flag is
    restored afterwards (also when an error occurs), so the call has no side effect on the model.
    """
    if not hasattr(model, "features"):
        raise TypeError(f"{type(model).__name__} has no .features(x) method; pass a fer_explain FERModel")
    params = list(model.parameters())
    model_device = params[0].device if params else torch.device("cpu")
    device = model_device if device is None else torch.device(device)
    if device != model_device and not (device.type == model_device.type and device.index is None):
        raise ValueError(
            f"device={str(device)!r} but the model is on {str(model_device)!r}; move the model first "
            "(model.to(device)) or leave device=None"
        )

    if isinstance(dataset_or_loader, tuple):
        if len(dataset_or_loader) != 2:
            raise ValueError("a tuple input must be (inputs, labels)")
        x_all, y_all = dataset_or_loader
        dataset_or_loader = TensorDataset(
            torch.as_tensor(x_all), torch.as_tensor(np.asarray(y_all), dtype=torch.long)
        )

    if isinstance(dataset_or_loader, DataLoader):
        loader = dataset_or_loader
        if max_samples is not None:
            ds = loader.dataset
            idx = subsample_indices(len(ds), max_samples, _known_labels(ds), seed)  # type: ignore[arg-type]
            if len(idx) < len(ds):  # type: ignore[arg-type]
                loader = DataLoader(
                    Subset(ds, idx.tolist()),
                    batch_size=loader.batch_size or batch_size,
                    shuffle=False,
                    num_workers=loader.num_workers,
                    collate_fn=loader.collate_fn,
                    pin_memory=loader.pin_memory,
                )
    else:
        ds = dataset_or_loader
        if max_samples is not None:
            idx = subsample_indices(len(ds), max_samples, _known_labels(ds), seed)  # type: ignore[arg-type]
            if len(idx) < len(ds):  # type: ignore[arg-type]
                ds = Subset(ds, idx.tolist())
        loader = DataLoader(ds, batch_size=batch_size, shuffle=False)

    training = {m: m.training for m in model.modules()}
    feats: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    try:
        model.eval()
        with torch.no_grad():
            for b, batch in enumerate(tqdm(loader, desc="features", disable=not progress, leave=False)):
                if not isinstance(batch, (list, tuple)) or len(batch) < 2:
                    raise TypeError(
                        f"batch {b}: expected (inputs, labels, ...) but got {type(batch).__name__}; "
                        "items must be (x, label) pairs"
                    )
                x, y = batch[0], batch[1]
                f = model.features(x.to(device, non_blocking=True))  # type: ignore[operator]
                if f.dim() != 2:
                    raise ValueError(f"model.features returned shape {tuple(f.shape)}, expected (N, D)")
                feats.append(f.float().cpu().numpy())
                labels.append(torch.as_tensor(y).reshape(-1).cpu().numpy().astype(np.int64))
    finally:
        for m, flag in training.items():
            m.training = flag
    if not feats:
        dim = getattr(model, "feature_dim", 0)
        return np.zeros((0, int(dim)), np.float32), np.zeros(0, np.int64)
    return np.concatenate(feats).astype(np.float32, copy=False), np.concatenate(labels)


# --------------------------------------------------------------------------- embedding
def tsne_embedding(
    features: np.ndarray | torch.Tensor,
    seed: int = 0,
    perplexity: float = 30.0,
    max_samples: int | None = 5000,
    **tsne_kwargs: Any,
) -> np.ndarray:
    """2-D t-SNE (scikit-learn, as seed 002) of ``features`` ``(N, D)``; one point per row.

    Args:
        features: ``(N, D)`` feature matrix, ``N >= 2``.
        seed: ``random_state`` of the TSNE: the same features and seed give the same embedding.
        perplexity: clipped to ``max(1, (N - 1) / 3)`` for small ``N`` (the bound of the original
            Barnes-Hut t-SNE; scikit-learn itself only needs ``perplexity < N``).
        max_samples: refuse more rows than this (t-SNE time and memory grow quickly with ``N``):
            subsample first with ``extract_features(max_samples=...)`` or :func:`subsample_indices`.
            ``None`` disables the check.
        **tsne_kwargs: passed on to :class:`sklearn.manifold.TSNE` (``init="pca"`` and
            ``learning_rate="auto"`` unless given).

    Returns:
        float32 ``(N, 2)``.
    """
    from sklearn.manifold import TSNE

    x = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {x.shape}")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"t-SNE needs at least 2 samples, got {n}")
    if max_samples is not None and n > max_samples:
        raise ValueError(
            f"{n} samples exceed max_samples={max_samples}; subsample first "
            "(extract_features(..., max_samples=...) or subsample_indices) or raise max_samples"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or infinite values")
    perp = float(min(perplexity, max(1.0, (n - 1) / 3)))
    kwargs: dict[str, Any] = {"init": "pca", "learning_rate": "auto"}
    kwargs.update(tsne_kwargs)
    tsne = TSNE(n_components=2, perplexity=perp, random_state=seed, **kwargs)
    return tsne.fit_transform(x.astype(np.float64)).astype(np.float32)


# --------------------------------------------------------------------------- plot
def plot_tsne(
    embedding: np.ndarray,
    labels: Sequence[int] | Sequence[str] | np.ndarray,
    classes: Sequence[str],
    title: str | None = "t-SNE of pooled features",
    point_size: float = 6.0,
    alpha: float = 0.7,
    ax: Axes | None = None,
) -> Figure:
    """Scatter of a 2-D embedding coloured by emotion with seed 002's colours and legend order.

    Args:
        embedding: ``(N, 2)``.
        labels: ``(N,)`` class indices into ``classes`` or emotion names.
        classes: the class names of the label space (index ``i`` -> ``classes[i]``).
        ax: draw into this Axes instead of a new Figure.

    Colours are looked up by emotion name (neutral red, happiness blue, surprise green, sadness
    purple, anger orange, disgust yellow, fear brown, contempt pink) and the legend lists the
    classes that have points in that order.
    """
    import matplotlib.pyplot as plt

    emb = np.asarray(embedding)
    if emb.ndim != 2 or emb.shape[1] != 2:
        raise ValueError(f"embedding must be (N, 2), got shape {emb.shape}")
    classes = list(classes)
    lab = np.asarray(labels)
    if lab.shape != (emb.shape[0],):
        raise ValueError(f"labels must have shape ({emb.shape[0]},), got {lab.shape}")
    if lab.size and lab.dtype.kind in "iu":
        bad = (lab < 0) | (lab >= len(classes))
        if bad.any():
            raise ValueError(f"label {lab[bad][0]} is not an index into classes {classes}")
        names = np.asarray(classes, dtype=object)[lab]
    else:
        names = lab.astype(object)
        unknown = sorted(set(names) - set(classes))
        if unknown:
            raise ValueError(f"labels {unknown} are not in classes {classes}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 5))
    else:
        fig = ax.figure  # type: ignore[assignment]
    for c in seed002_order(classes):
        mask = names == c
        if mask.any():
            ax.scatter(emb[mask, 0], emb[mask, 1], s=point_size, c=EMOTION_COLORS[c], alpha=alpha, label=c,
                       linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    if names.size:
        ax.legend(loc="best", fontsize="small", markerscale=2, frameon=True)
    return fig  # type: ignore[return-value]
