"""Region x emotion attribution tables: from any heatmap explainer and from region masking, side by side.

Two ways to say which face region matters for which emotion:

* :func:`region_emotion_table` -- from an :class:`~fer_explain.explain.Explanation` (Grad-CAM,
  occlusion, integrated gradients...): the mean share of each map's *positive* attribution that falls
  inside each region (:func:`fer_explain.explain.metrics.region_mass`), per emotion;
* :func:`region_masking_table` -- from the model directly: the mean drop of the true class's
  probability when a region is removed (or kept alone), per emotion
  (:func:`fer_explain.explain.region_importance_table`).

Both return a DataFrame indexed by ``region`` with one column per emotion (canonical order), so
:func:`plot_side_by_side` can draw them as two heatmaps. Regions come from
:mod:`fer_explain.faces.regions` and are built from landmarks in the maps' (inputs') pixel
coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from fer_explain.faces.regions import DEFAULT_REGION_SET, Margin, feature_mask, get_region, region_masks

__all__ = ["BASE_REGIONS", "plot_side_by_side", "region_emotion_table", "region_masking_table"]

BASE_REGIONS: tuple[str, ...] = ("eyes", "nose", "mouth")
"""The default regions: the three base regions, which do not overlap."""


def _labels_of(explanation: Any, labels: Any, by: str) -> np.ndarray:
    if labels is not None:
        lab = labels.detach().cpu().numpy() if hasattr(labels, "detach") else np.asarray(labels)
        return lab.reshape(-1).astype(np.int64)
    if by == "label":
        if explanation.labels is None:
            raise ValueError("no labels: pass labels= or an Explanation made with attribute(x, labels=...), "
                             "or group by='target'")
        return explanation.labels.numpy().astype(np.int64)
    if by == "target":
        return explanation.targets.numpy().astype(np.int64)
    if by == "prediction":
        return explanation.predictions.numpy().astype(np.int64)
    raise ValueError(f"by must be 'label', 'target' or 'prediction', got {by!r}")


def _ordered(table: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    cols = [c for c in classes if c in table.columns]
    table = table[cols]
    table.index.name = "region"
    table.columns.name = "emotion"
    return table


def region_emotion_table(
    explanation: Any,
    landmarks: Any,
    labels: Any = None,
    classes: Sequence[str] | None = None,
    regions: Sequence[str] = BASE_REGIONS,
    *,
    region_set: str = DEFAULT_REGION_SET,
    margin: Margin = 0,
    by: str = "label",
    counts: bool = False,
) -> pd.DataFrame:
    """Mean share of positive attribution per region and emotion.

    Args:
        explanation: an :class:`~fer_explain.explain.Explanation` (maps ``(N, H, W)``).
        landmarks: ``(N, 68, 2)`` in the maps' pixel coordinates.
        labels: ``(N,)`` class indices to group by (default: the explanation's ``labels`` with
            ``by="label"``, its ``targets`` with ``by="target"``, its predictions with
            ``by="prediction"``).
        classes: emotion names of the class indices (default ``class_<k>``).
        regions: region names of ``region_set``; they may overlap (each share is computed on its
            own, so a column need not sum to one).
        counts: add a last row ``"n"`` with the number of maps per emotion.

    Returns:
        DataFrame indexed by ``region``, one column per emotion present (in ``classes`` order):
        the mean over the emotion's maps of ``sum(relu(map) * mask) / sum(relu(map))`` (maps
        without positive attribution are left out).
    """
    from fer_explain.explain.metrics import region_mass

    maps = explanation.maps
    n, h, w = maps.shape
    lm = np.asarray(landmarks.detach().cpu() if hasattr(landmarks, "detach") else landmarks, dtype=np.float32)
    if lm.shape != (n, 68, 2):
        raise ValueError(f"landmarks must be ({n}, 68, 2) for {n} maps, got {lm.shape}")
    masks = {r: torch.as_tensor(region_masks(lm, get_region(r, region_set).name, (h, w), margin=margin,
                                             region_set=region_set)) for r in regions}
    lab = _labels_of(explanation, labels, by)
    if lab.shape != (n,):
        raise ValueError(f"labels must have {n} entries, got {lab.shape}")
    k = int(explanation.probs.shape[1]) if explanation.probs.dim() == 2 else int(lab.max()) + 1
    names = list(classes) if classes is not None else [f"class_{i}" for i in range(max(k, int(lab.max()) + 1))]
    if lab.size and (lab.min() < 0 or lab.max() >= len(names)):
        raise ValueError(f"label {int(lab.max())} has no name in classes {names}")
    df = region_mass(explanation, masks)
    df["emotion"] = [names[int(i)] for i in lab]
    table = df.groupby("emotion", sort=False).mean().T
    if counts:
        table.loc["n"] = df.groupby("emotion", sort=False)[next(iter(regions))].count().reindex(table.columns)
    return _ordered(table, names)


def region_masking_table(
    model: nn.Module,
    images: Tensor,
    landmarks: Any,
    labels: Any,
    classes: Sequence[str] | None = None,
    regions: Sequence[str] = BASE_REGIONS,
    *,
    mode: str = "remove",
    baseline: float | Tensor = 0.0,
    region_set: str = DEFAULT_REGION_SET,
    margin: Margin = 0,
    target: str = "label",
    batch_size: int = 64,
    progress: bool = True,
) -> pd.DataFrame:
    """Mean drop in the true class's probability when each region is masked, per emotion.

    Args:
        model: the trained network (evaluated in eval mode, flags restored).
        images: ``(N, C, H, W)`` model inputs (already normalised).
        landmarks: ``(N, 68, 2)`` in the inputs' pixel coordinates.
        labels: ``(N,)`` true class indices (group and, with ``target="label"``, scored class).
        classes: emotion names (default ``class_<k>``).
        regions: region names; overlapping regions are assigned to the first listed one that holds
            a pixel (use non-overlapping regions such as the default eyes / nose / mouth).
        mode: ``"remove"`` (the region set to ``baseline``) or ``"keep"`` (only the region kept).
        baseline: the replacement value *in input space* (e.g.
            :func:`fer_explain.explain.black_baseline` for black).
        target: score the true ``"label"`` or the ``"prediction"``.

    Returns:
        DataFrame indexed by ``region`` (in ``regions`` order; pixels outside every region are
        masked too but not reported), one column per emotion present in ``classes`` order.
    """
    from fer_explain.explain.regions import region_importance_table

    x = torch.as_tensor(images)
    n, _, h, w = x.shape
    lm = np.asarray(landmarks.detach().cpu() if hasattr(landmarks, "detach") else landmarks, dtype=np.float32)
    if lm.shape != (n, 68, 2):
        raise ValueError(f"landmarks must be ({n}, 68, 2) for {n} images, got {lm.shape}")
    y = torch.as_tensor(np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels),
                        dtype=torch.long).reshape(-1)
    if y.shape[0] != n:
        raise ValueError(f"labels has {y.shape[0]} entries for {n} images")
    regions = [get_region(r, region_set).name for r in regions]
    fm = feature_mask(lm, (h, w), regions, region_set=region_set, margin=margin, overlap="first")
    names = {0: "outside"} | {i + 1: r for i, r in enumerate(regions)}
    batches = ((x[s:s + batch_size], fm[s:s + batch_size], y[s:s + batch_size]) for s in range(0, n, batch_size))
    table = region_importance_table(model, batches, region_names=names, class_names=classes, mode=mode,
                                    target=target, baseline=baseline, progress=progress)  # type: ignore[arg-type]
    table = table.reindex([r for r in regions if r in table.index])
    present = table.columns[table.notna().any(axis=0)]
    out = table[present]
    order = list(classes) if classes is not None else list(out.columns)
    return _ordered(out, order)


def plot_side_by_side(
    table_a: pd.DataFrame,
    table_b: pd.DataFrame,
    titles: Sequence[str] = ("attribution share", "masking drop"),
    suptitle: str | None = None,
    cmap: str = "viridis",
) -> Figure:
    """Two region x emotion heatmaps next to each other (e.g. :func:`region_emotion_table` and
    :func:`region_masking_table`), each with its own colour scale, drawn with
    :func:`fer_explain.viz.plot_region_emotion_heatmap`."""
    import matplotlib.pyplot as plt

    from fer_explain.viz import plot_region_emotion_heatmap

    if len(titles) != 2:
        raise ValueError(f"titles must name the two tables, got {list(titles)}")
    cols = max(table_a.shape[1], table_b.shape[1])
    rows = max(table_a.shape[0], table_b.shape[0])
    fig, axes = plt.subplots(1, 2, figsize=(2 * (2.5 + 0.9 * cols), 1.8 + 0.55 * rows))
    for ax, table, title in zip(axes, (table_a, table_b), titles):
        plot_region_emotion_heatmap(table.drop(index="n", errors="ignore"), title=title, ax=ax, cmap=cmap)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
