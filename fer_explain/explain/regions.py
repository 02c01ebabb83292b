"""Face-region masking: how much the target probability depends on each face region.

Regions come as a *feature mask*: a long tensor ``(N, 1, H, W)`` (or ``(N, H, W)``) of region
ids per pixel, e.g. from ``fer_explain.faces.regions.feature_mask``. Every id present is a
feature (ids without a name, e.g. the background, are ablated too but reported under
``"region_<id>"``).

Two experiments on ``p = softmax(model(x))[target]``:

* ``mode="remove"``: drop ``p(x) - p(x with region r set to baseline)`` -- captum's
  ``FeatureAblation`` attribution with ``baselines=baseline`` (equal to it within float rounding:
  tests/explain/test_reference.py);
* ``mode="keep"``: drop ``p(x) - p(only region r kept, everything else baseline)``.

Speed: the masked copies are built directly (``torch.where`` on the region ids, every region of the
batch in one forward pass by default) rather than through captum, which runs its own unmasked pass
and assigns each pixel its region's value only for us to average them back per region;
the unmasked probabilities are computed once and reused. One batch costs ``len(x)`` unmasked images plus
``len(x)`` per region and nothing else; with the target given (the true labels: the table, ``explain``)
the unmasked copies ride along in the same forward pass as the masked ones -- one call of ``(R + 1) x
len(x)`` images -- and for the prediction the unmasked pass comes first.

:func:`region_importance` works on one batch; :func:`region_importance_table` loops over batches
and averages per region and emotion.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from fer_explain.explain.base import Explainer, explaining, model_device, validate_targets
from fer_explain.explain.memory_format import forward_format, resolve_memory_format

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
            perturbations_per_eval: int | None, p0: Tensor | None = None,
            ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Returns ``(drops (N, R), present (N, R), ids (R,), probs)`` with ids sorted.

    ``p0`` = the unmasked target probabilities when the caller has them (``probs`` is then ``None``);
    otherwise the unmasked batch rides along in the first forward pass with the masked copies (one call
    less) and ``probs`` are its ``(N, K)`` probabilities. ``targets`` are range-checked against ``K``."""
    if mode not in ("remove", "keep"):
        raise ValueError(f"mode must be 'remove' or 'keep', got {mode!r}")
    ids = torch.unique(fm)
    n = x.shape[0]
    dense = torch.searchsorted(ids, fm)  # (N, 1, H, W) in 0..R-1
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
    inside, outside = (base, x) if mode == "remove" else (x, base)
    ppe = max(1, int(perturbations_per_eval or len(ids)))
    rows = torch.arange(n, device=x.device)
    probs0: Tensor | None = None
    with torch.no_grad():
        p_masked = torch.empty(len(ids), n, device=x.device)
        for s in range(0, len(ids), ppe):
            r = torch.arange(s, min(len(ids), s + ppe), device=x.device)
            batch = torch.where(dense[None] == r[:, None, None, None, None], inside[None], outside[None])
            if p0 is None:
                batch = torch.cat([x[None], batch])
            probs = model(batch.flatten(0, 1)).float().softmax(dim=1).view(batch.shape[0], n, -1)
            if p0 is None:
                probs0, probs = probs[0], probs[1:]
                validate_targets(targets, n, probs0.shape[1], targets)
                p0 = probs0[rows, targets]
            p_masked[s:s + len(r)] = probs[:, rows, targets]
    assert p0 is not None
    counts = torch.zeros(n, len(ids), dtype=torch.long, device=x.device)
    counts.scatter_add_(1, dense.flatten(1), torch.ones_like(dense.flatten(1)))
    present = counts > 0
    drops = torch.where(present, p0[:, None] - p_masked.T, torch.zeros_like(p_masked.T))
    return drops, present, ids, probs0


def _given_targets(target: int | Sequence[int] | Tensor, n: int, device: torch.device) -> Tensor:
    """An explicit target as ``(n,)`` long (count and sign checked; the class range by :func:`_ablate`)."""
    return validate_targets(target, n, sys.maxsize, torch.zeros(n, dtype=torch.long, device=device))


def region_importance(model: nn.Module, x: Tensor, feature_mask: Tensor,
                      region_names: Mapping[int, str] | Sequence[str] | None = None,
                      target: int | Sequence[int] | Tensor | None = None, mode: Mode = "remove",
                      baseline: float | Tensor = 0.0,
                      perturbations_per_eval: int | None = None,
                      memory_format: str | None = None) -> RegionImportance:
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
        memory_format: the model's layout during the call (``None``: the faster, measured once per model;
            see :mod:`fer_explain.explain.memory_format`).
    """
    x = x.detach().to(model_device(model))
    fm = _norm_mask(feature_mask, x)
    with explaining(model), forward_format(model, resolve_memory_format(model, x, memory_format)):
        if target is None:  # the prediction: one unmasked pass first
            with torch.no_grad():
                probs = model(x).float().softmax(dim=1)
            targets = probs.argmax(dim=1)
            drops, present, ids, _ = _ablate(model, x, fm, targets, baseline, mode, perturbations_per_eval,
                                             p0=probs.gather(1, targets[:, None])[:, 0])
        else:  # the unmasked batch rides along with the masked copies
            targets = _given_targets(target, x.shape[0], x.device)
            drops, present, ids, probs = _ablate(model, x, fm, targets, baseline, mode, perturbations_per_eval)
            assert probs is not None
    id_list = [int(i) for i in ids]
    return RegionImportance(drops=drops.cpu(), present=present.cpu(), regions=_names(id_list, region_names),
                            region_ids=id_list, targets=targets.cpu(), probs=probs.cpu(), mode=mode)


class RegionAblation(Explainer):
    """Region masking as an :class:`Explanation`: each pixel gets its region's drop.

    Arguments as :func:`region_importance`'s, plus ``memory_format``: the model's layout during the call
    (``None``: the faster, measured; see :class:`~fer_explain.explain.occlusion.Occlusion`).

    ``extras``: ``"drops"`` ``(N, R)``, ``"present"`` ``(N, R)``, ``"region_ids"`` (list).
    """

    method = "region_ablation"
    perturbs = True

    def __init__(self, model: nn.Module, feature_mask: Tensor, mode: Mode = "remove",
                 baseline: float | Tensor = 0.0,
                 perturbations_per_eval: int | None = None, memory_format: str | None = None) -> None:
        super().__init__(model)
        self.memory_format = memory_format
        self.feature_mask = feature_mask
        self.mode = mode
        self.baseline = baseline
        self.perturbations_per_eval = perturbations_per_eval

    def _explain(self, x: Tensor, target: int | Sequence[int] | Tensor | None,
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor | None, dict[str, Any]]:
        """One unmasked pass per batch, as :func:`region_importance`: with the target given it rides along in
        the first forward pass with the masked copies; for the prediction it comes first and is reused."""
        if target is None:
            with torch.no_grad():
                probs = self.model(x).float().softmax(dim=1)
            targets = probs.argmax(dim=1)
            maps, raw, extras, _ = self._ablation(x, targets, p0=probs.gather(1, targets[:, None])[:, 0])
            return probs, targets, maps, raw, extras
        targets = _given_targets(target, x.shape[0], x.device)
        maps, raw, extras, probs0 = self._ablation(x, targets, None)
        assert probs0 is not None
        return probs0, targets, maps, raw, extras

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, None, dict[str, Any]]:
        with torch.no_grad():
            p0 = self.model(x).float().softmax(dim=1).gather(1, targets[:, None])[:, 0]
        maps, raw, extras, _ = self._ablation(x, targets, p0)
        return maps, raw, extras

    def _ablation(self, x: Tensor, targets: Tensor, p0: Tensor | None,
                  ) -> tuple[Tensor, None, dict[str, Any], Tensor | None]:
        """Maps, extras and (when ``p0`` is ``None``) the unmasked probabilities."""
        fm = _norm_mask(self.feature_mask, x)
        drops, present, ids, probs0 = _ablate(self.model, x, fm, targets, self.baseline, self.mode,
                                              self.perturbations_per_eval, p0=p0)
        dense = torch.searchsorted(ids, fm[:, 0])
        maps = drops.gather(1, dense.flatten(1)).view_as(dense).float()
        return maps, None, {"drops": drops.cpu(), "present": present.cpu(),
                            "region_ids": [int(i) for i in ids]}, probs0

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
