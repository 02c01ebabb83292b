"""Face-region masking: how much the target probability depends on each face region.

Regions come as a *feature mask*: a long tensor ``(N, 1, H, W)`` (or ``(N, H, W)``) of region
ids per pixel, e.g. from ``fer_explain.faces.regions.feature_mask``. Every id present is a
feature (ids without a name, e.g. the background, are ablated too but reported under
``"region_<id>"``).

Two experiments, both built on captum's ``FeatureAblation`` with
``forward_func = softmax(model(x))[target]``:

* ``mode="remove"``: drop ``p(x) - p(x with region r set to baseline)`` -- exactly captum's
  attribution with ``baselines=baseline``;
* ``mode="keep"``: drop ``p(x) - p(only region r kept, everything else baseline)``; computed as
  captum's ablation of the all-baseline image with ``baselines=x`` (inserting region ``r``),
  ``p(keep r) = p(baseline) - attr``.

:func:`region_importance` works on one batch; :func:`region_importance_table` loops over batches
and averages per region and emotion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import torch
from captum.attr import FeatureAblation
from torch import Tensor, nn
from tqdm.auto import tqdm

from fer_explain.explain.base import Explainer, explaining, model_device, validate_targets

__all__ = ["RegionAblation", "RegionImportance", "region_importance", "region_importance_table"]

Mode = Literal["remove", "keep"]


@dataclass
class RegionImportance:
    """Per-sample region drops for one batch.

    Attributes:
        drops: ``(N, R)`` drop in target probability per region (columns follow ``regions``).
        present: ``(N, R)`` bool, the region has at least one pixel in the sample.
        regions: region names, in column order.
        region_ids: the mask ids of those columns.
        targets: ``(N,)`` explained class.
        probs: ``(N, K)`` softmax on the unmasked input.
        mode: ``"remove"`` or ``"keep"``.
    """

    drops: Tensor
    present: Tensor
    regions: list[str]
    region_ids: list[int]
    targets: Tensor
    probs: Tensor
    mode: str

    def to_frame(self) -> pd.DataFrame:
        """One row per sample, one column per region (NaN where the region is absent)."""
        d = self.drops.clone()
        d[~self.present] = float("nan")
        df = pd.DataFrame(d.numpy(), columns=self.regions)
        df.insert(0, "target", self.targets.numpy())
        return df


def _names(ids: Sequence[int], region_names: Mapping[int, str] | Sequence[str] | None) -> list[str]:
    if region_names is None:
        return [f"region_{i}" for i in ids]
    if isinstance(region_names, Mapping):
        return [region_names.get(i, f"region_{i}") for i in ids]
    return [region_names[i] if 0 <= i < len(region_names) else f"region_{i}" for i in ids]


def _norm_mask(feature_mask: Tensor, x: Tensor) -> Tensor:
    fm = torch.as_tensor(feature_mask, device=x.device).long().contiguous()
    if fm.dim() == 3:
        fm = fm[:, None]
    if fm.dim() != 4 or fm.shape[0] != x.shape[0] or fm.shape[1] != 1 or fm.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"feature_mask must be (N, 1, H, W) or (N, H, W) matching x {tuple(x.shape)}, "
                         f"got {tuple(feature_mask.shape)}")
    return fm


def _ablate(model: nn.Module, x: Tensor, fm: Tensor, targets: Tensor, baseline: float | Tensor, mode: Mode,
            perturbations_per_eval: int | None) -> tuple[Tensor, Tensor, Tensor]:
    """Returns ``(drops (N, R), present (N, R), ids (R,))`` with ids sorted."""
    ids = torch.unique(fm)

    def forward(inp: Tensor) -> Tensor:
        return model(inp).float().softmax(dim=1)

    # captum numbers features by mask value; remap the present ids to 0..R-1.
    dense = torch.searchsorted(ids, fm)
    ppe = perturbations_per_eval or len(ids)
    fa = FeatureAblation(forward)
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
    with torch.no_grad():
        p0 = forward(x).gather(1, targets[:, None])[:, 0]
        if mode == "remove":
            attr = fa.attribute(x, baselines=base, target=targets, feature_mask=dense,
                                perturbations_per_eval=ppe)
            sample = attr[:, 0]  # (N, H, W) ; every pixel of region r carries r's drop
            offset = torch.zeros_like(p0)
        elif mode == "keep":
            attr = fa.attribute(base.clone(), baselines=x, target=targets, feature_mask=dense,
                                perturbations_per_eval=ppe)
            sample = attr[:, 0]  # p(baseline) - p(keep r)
            offset = p0 - forward(base.clone()).gather(1, targets[:, None])[:, 0]
        else:
            raise ValueError(f"mode must be 'remove' or 'keep', got {mode!r}")
    onehot = torch.nn.functional.one_hot(dense[:, 0].flatten(1), len(ids)).float()  # (N, HW, R)
    count = onehot.sum(1)
    present = count > 0
    per_region = (sample.flatten(1)[:, :, None] * onehot).sum(1) / count.clamp_min(1)
    drops = torch.where(present, per_region + offset[:, None], torch.zeros_like(per_region))
    return drops, present, ids


def region_importance(model: nn.Module, x: Tensor, feature_mask: Tensor,
                      region_names: Mapping[int, str] | Sequence[str] | None = None,
                      target: int | Sequence[int] | Tensor | None = None, mode: Mode = "remove",
                      baseline: float | Tensor = 0.0,
                      perturbations_per_eval: int | None = None) -> RegionImportance:
    """Drop in target probability when each region is removed (or kept alone), per sample.

    Args:
        model: the network (evaluated in eval mode; flags restored afterwards).
        x: ``(N, C, H, W)`` input.
        feature_mask: ``(N, 1, H, W)`` / ``(N, H, W)`` integer region ids.
        region_names: id -> name (mapping, or a sequence indexed by id).
        target: class to score (default: the prediction).
        mode: ``"remove"`` or ``"keep"`` (see the module docstring).
        baseline: value written into the removed pixels (input space).
        perturbations_per_eval: regions per forward pass (default: all at once).
    """
    x = x.detach().to(model_device(model))
    fm = _norm_mask(feature_mask, x)
    with explaining(model):
        with torch.no_grad():
            probs = model(x).float().softmax(dim=1)
        targets = validate_targets(target, x.shape[0], probs.shape[1], probs.argmax(dim=1))
        drops, present, ids = _ablate(model, x, fm, targets, baseline, mode, perturbations_per_eval)
    id_list = [int(i) for i in ids]
    return RegionImportance(drops=drops.cpu(), present=present.cpu(), regions=_names(id_list, region_names),
                            region_ids=id_list, targets=targets.cpu(), probs=probs.cpu(), mode=mode)


class RegionAblation(Explainer):
    """Region masking as an :class:`Explanation`: each pixel gets its region's drop.

    ``extras``: ``"drops"`` ``(N, R)``, ``"present"`` ``(N, R)``, ``"region_ids"`` (list).
    """

    method = "region_ablation"

    def __init__(self, model: nn.Module, feature_mask: Tensor, mode: Mode = "remove",
                 baseline: float | Tensor = 0.0,
                 perturbations_per_eval: int | None = None) -> None:
        super().__init__(model)
        self.feature_mask = feature_mask
        self.mode = mode
        self.baseline = baseline
        self.perturbations_per_eval = perturbations_per_eval

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, None, dict[str, Any]]:
        fm = _norm_mask(self.feature_mask, x)
        drops, present, ids = _ablate(self.model, x, fm, targets, self.baseline, self.mode,
                                      self.perturbations_per_eval)
        dense = torch.searchsorted(ids, fm[:, 0])
        maps = drops.gather(1, dense.flatten(1)).view_as(dense).float()
        return maps, None, {"drops": drops.cpu(), "present": present.cpu(),
                            "region_ids": [int(i) for i in ids]}

    def _params(self) -> dict[str, Any]:
        base = self.baseline if isinstance(self.baseline, (int, float)) else "tensor"
        return {"mode": self.mode, "baseline": base}


def region_importance_table(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor, Tensor]],
                            region_names: Mapping[int, str] | Sequence[str] | None = None,
                            class_names: Sequence[str] | None = None, mode: Mode = "remove",
                            target: Literal["label", "prediction"] = "label", baseline: float | Tensor = 0.0,
                            reduce: Literal["mean", "sum"] = "mean", progress: bool = True) -> pd.DataFrame:
    """Dataset-level region importance: a region x emotion table of drops.

    Args:
        model: the network.
        batches: iterable of ``(x, feature_mask, labels)`` batches.
        region_names: id -> name for the columns/rows.
        class_names: emotion names by class index (default ``"class_<k>"``).
        mode: ``"remove"`` or ``"keep"``.
        target: score the true label (``"label"``) or the prediction.
        baseline: value of removed pixels.
        reduce: ``"mean"`` over the samples of each emotion that contain the region, or ``"sum"``.
        progress: tqdm bar over batches.

    Returns:
        DataFrame indexed by region name, one column per emotion (grouped by the explained class).
    """
    sums: dict[tuple[str, int], float] = {}
    counts: dict[tuple[str, int], int] = {}
    regions: list[str] = []
    n_classes = 0
    for x, fm, labels in tqdm(batches, desc="region masking", disable=not progress, leave=False):
        tgt = torch.as_tensor(labels).long() if target == "label" else None
        ri = region_importance(model, x, fm, region_names, target=tgt, mode=mode, baseline=baseline)
        n_classes = ri.probs.shape[1]
        for j, name in enumerate(ri.regions):
            if name not in regions:
                regions.append(name)
            for k in ri.targets.unique().tolist():
                sel = (ri.targets == k) & ri.present[:, j]
                key = (name, int(k))
                sums[key] = sums.get(key, 0.0) + float(ri.drops[sel, j].sum())
                counts[key] = counts.get(key, 0) + int(sel.sum())
    names = list(class_names) if class_names is not None else [f"class_{k}" for k in range(n_classes)]
    table = pd.DataFrame(index=pd.Index(regions, name="region"), columns=names, dtype=float)
    for (name, k), total in sums.items():
        if counts[(name, k)]:
            table.loc[name, names[k]] = total / counts[(name, k)] if reduce == "mean" else total
    return table
