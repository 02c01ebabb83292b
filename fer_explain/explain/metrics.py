"""Metrics over an :class:`~fer_explain.explain.base.Explanation`, kept apart from the explainers.

Masks are plain tensors: ``(N, H, W)`` bool (or 0/1) at the maps' resolution, e.g. face-region
masks from ``fer_explain.faces.regions`` or the synthetic faces' ground-truth evidence masks
(dilated by a couple of pixels). Per-sample metrics return ``(N,)`` float tensors with ``NaN``
where the metric is undefined for a sample (empty mask, no positive attribution); average them
with ``torch.nanmean``.

* localisation: :func:`region_mass`, :func:`region_mass_table`, :func:`asymmetry`,
  :func:`pointing_game`, :func:`relevance_mass_accuracy`, :func:`relevance_rank_accuracy`;
* complexity: :func:`sparsity` (Gini index), :func:`sparsity_table`;
* faithfulness: :func:`deletion_curve`, :func:`insertion_curve` (probabilities and AUC);
* region masking scored per region: :func:`region_pointing_game`;
* sanity: :func:`cascading_randomization` (Adebayo et al. 2018), :func:`randomize_weights`,
  :func:`agreement`;
* intervals: :func:`bootstrap_interval` (mean and percentile bootstrap interval),
  :func:`binomial_interval` (the chance band of a hit rate);
* comparison: :func:`explanation_scores` (one row per method: deletion / insertion AUC and, given
  ground-truth masks, pointing game and relevance mass).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import rankdata
from torch import Tensor, nn
from tqdm.auto import tqdm

from fer_explain.explain.base import Explainer, Explanation, explaining, model_device

__all__ = [
    "PerturbationCurve",
    "agreement",
    "asymmetry",
    "binomial_interval",
    "bootstrap_interval",
    "cascading_randomization",
    "deletion_curve",
    "explanation_scores",
    "insertion_curve",
    "pointing_game",
    "randomizable_layers",
    "randomize_weights",
    "region_mass",
    "region_mass_table",
    "region_pointing_game",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "sparsity",
    "sparsity_table",
    "spearman",
]


# --------------------------------------------------------------------------- helpers
def _mask(mask: Tensor, exp: Explanation, name: str = "mask") -> Tensor:
    m = torch.as_tensor(mask).to("cpu")
    if m.dim() == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.shape != exp.maps.shape:
        raise ValueError(f"{name} has shape {tuple(m.shape)} but the maps are {tuple(exp.maps.shape)}")
    return m.bool()


def _group_labels(exp: Explanation, by: Literal["target", "label", "prediction"]) -> Tensor:
    if by == "target":
        return exp.targets
    if by == "prediction":
        return exp.predictions
    if by == "label":
        if exp.labels is None:
            raise ValueError("by='label' needs an Explanation with labels (attribute(x, labels=...))")
        return exp.labels
    raise ValueError(f"by must be 'target', 'label' or 'prediction', got {by!r}")


def _class_name(k: int, class_names: Sequence[str] | None) -> str:
    return class_names[k] if class_names is not None and k < len(class_names) else f"class_{k}"


# --------------------------------------------------------------------------- region mass
def region_mass(exp: Explanation, region_masks: Mapping[str, Tensor]) -> pd.DataFrame:
    """Share of the positive attribution inside each region, per sample.

    ``mass_r = sum(relu(map) * mask_r) / sum(relu(map))`` (NaN for a map without positive values).
    Regions may overlap, so rows need not sum to one.

    Returns:
        DataFrame, one row per sample, one column per region.
    """
    pos = exp.maps.clamp_min(0).flatten(1)
    total = pos.sum(1)
    out = {}
    for name, mask in region_masks.items():
        m = _mask(mask, exp, f"region mask {name!r}").flatten(1).float()
        share = (pos * m).sum(1) / total
        out[name] = torch.where(total > 0, share, torch.full_like(share, float("nan"))).numpy()
    return pd.DataFrame(out)


def region_mass_table(exp: Explanation, region_masks: Mapping[str, Tensor],
                      class_names: Sequence[str] | None = None,
                      by: Literal["target", "label", "prediction"] = "target") -> pd.DataFrame:
    """Mean :func:`region_mass` per emotion: rows emotions (classes present), columns regions."""
    df = region_mass(exp, region_masks)
    groups = _group_labels(exp, by).numpy()
    df["emotion"] = [_class_name(int(k), class_names) for k in groups]
    order = [_class_name(int(k), class_names) for k in sorted(set(groups.tolist()))]
    return df.groupby("emotion", sort=False).mean().reindex(order)


def asymmetry(exp: Explanation, region_masks: Mapping[str, Tensor],
              pairs: Sequence[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Left-right asymmetry ``(m_L - m_R) / (m_L + m_R)`` of the positive mass, per sample.

    Args:
        pairs: ``(left, right)`` region names; default every ``left_<x>`` / ``right_<x>`` pair
            (also ``<x>_left`` / ``<x>_right``) found in ``region_masks``.

    Returns:
        DataFrame, one row per sample, one column per pair (named after the shared part).
    """
    if pairs is None:
        pairs = []
        for name in region_masks:
            for a, b in (("left_", "right_"), ("_left", "_right")):
                if a in name and name.replace(a, b) in region_masks:
                    pairs.append((name, name.replace(a, b)))
        if not pairs:
            raise ValueError(f"no left/right pairs among regions {list(region_masks)}; pass pairs=")
    pos = exp.maps.clamp_min(0).flatten(1)
    out = {}
    for left, right in pairs:
        ml = (pos * _mask(region_masks[left], exp, left).flatten(1)).sum(1)
        mr = (pos * _mask(region_masks[right], exp, right).flatten(1)).sum(1)
        tot = ml + mr
        key = left.replace("left_", "").replace("_left", "")
        out[key] = torch.where(tot > 0, (ml - mr) / tot, torch.full_like(tot, float("nan"))).numpy()
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- sparsity
def sparsity(exp: Explanation, positive_only: bool = False) -> Tensor:
    """Gini index of each map's absolute values (Hurley & Rickard 2009), ``(N,)``.

    0 for a uniform map, ``(n - 1) / n`` for a map with a single non-zero pixel (``n`` pixels);
    NaN for an all-zero map. ``positive_only`` uses ``relu(map)`` instead of ``|map|``.
    """
    v = exp.maps.flatten(1)
    v = v.clamp_min(0) if positive_only else v.abs()
    v, _ = v.double().sort(dim=1)
    n = v.shape[1]
    k = torch.arange(1, n + 1, dtype=v.dtype)
    total = v.sum(1)
    g = 1 - 2 * ((v / total[:, None]) * ((n - k + 0.5) / n)).sum(1)
    return torch.where(total > 0, g, torch.full_like(g, float("nan"))).float()


def sparsity_table(exp: Explanation, class_names: Sequence[str] | None = None,
                   by: Literal["target", "label", "prediction"] = "target") -> pd.DataFrame:
    """Mean, std and count of :func:`sparsity` per emotion."""
    df = pd.DataFrame({"gini": sparsity(exp).numpy(),
                       "emotion": [_class_name(int(k), class_names) for k in _group_labels(exp, by)]})
    return df.groupby("emotion")["gini"].agg(["mean", "std", "count"])


# --------------------------------------------------------------------------- ground truth
def pointing_game(exp: Explanation, masks: Tensor) -> Tensor:
    """1 if the map's maximum lies inside the mask, else 0; NaN for samples with an empty mask."""
    m = _mask(masks, exp).flatten(1)
    idx = exp.maps.flatten(1).argmax(1)
    hit = m.gather(1, idx[:, None])[:, 0].float()
    return torch.where(m.any(1), hit, torch.full_like(hit, float("nan")))


def relevance_mass_accuracy(exp: Explanation, masks: Tensor) -> Tensor:
    """Positive attribution inside the mask / total positive attribution (Arras et al. 2022).

    NaN for an empty mask or a map without positive values.
    """
    m = _mask(masks, exp).flatten(1)
    pos = exp.maps.clamp_min(0).flatten(1)
    total = pos.sum(1)
    r = (pos * m).sum(1) / total
    return torch.where((total > 0) & m.any(1), r, torch.full_like(r, float("nan")))


def relevance_rank_accuracy(exp: Explanation, masks: Tensor,
                            ties: Literal["topk", "expected"] = "topk") -> Tensor:
    """Fraction of the top-``K`` pixels of the map inside the mask, ``K`` = mask size (Arras et al.).

    NaN for an empty mask. ``ties="topk"`` breaks ties at the ``K``-th value as ``torch.topk`` does;
    ``ties="expected"`` gives the expected value under a uniformly random order of the tied pixels
    (pixels above the ``K``-th value count fully, the ``j`` places left among the ``T`` pixels equal
    to it count ``j / T`` of the tied pixels inside the mask): the fair score of maps with plateaus,
    such as region masking's constant-per-region maps or a ReLU'd Grad-CAM's zeros.
    """
    if ties not in ("topk", "expected"):
        raise ValueError(f"ties must be 'topk' or 'expected', got {ties!r}")
    m = _mask(masks, exp).flatten(1)
    v = exp.maps.flatten(1)
    out = torch.full((len(exp),), float("nan"))
    for i in range(len(exp)):
        k = int(m[i].sum())
        if not k:
            continue
        if ties == "topk":
            out[i] = m[i, v[i].topk(k).indices].float().mean()
            continue
        kth = v[i].topk(k).values[-1]
        above, tied = v[i] > kth, v[i] == kth
        places = k - int(above.sum())
        inside_above = float((m[i] & above).sum())
        inside_tied = float((m[i] & tied).sum())
        out[i] = (inside_above + places * inside_tied / float(tied.sum())) / k
    return out


def region_pointing_game(drops: Tensor, present: Tensor, region_ids: Sequence[int], feature_mask: Tensor,
                         masks: Tensor, tie_tol: float = 1e-3) -> Tensor:
    """Pointing game of region masking, scored per region, ``(N,)``.

    A region-masking map is constant per region, so the pixel argmax would pick an arbitrary pixel
    of the top region (or the first of several tied regions). Scored per region instead: a face is
    a hit when the region with the largest drop is the region holding most of the evidence (the
    most mask pixels). Ties are counted fairly: with ``T`` regions tied for the largest drop the
    score is the share of them that hold most of the evidence (the expected hit under a random
    choice); a region tied for most evidence counts as holding it. NaN for an empty mask. Drops within
    ``tie_tol`` of the largest count as tied: when masking either of two regions drives a confident
    prediction to ~0, both drops saturate at the target probability and differ only by float noise
    (median gap 1e-6 on the known-answer mouth-only faces), which is not a ranking.

    Args:
        drops: ``(N, R)`` drop of the target probability per region (e.g. ``RegionAblation``'s
            ``extras["drops"]``).
        present: ``(N, R)`` bool, the region has pixels in the face (absent regions never win).
        region_ids: the feature-mask id of each of the ``R`` columns.
        feature_mask: ``(N, H, W)`` or ``(N, 1, H, W)`` integer region ids per pixel.
        masks: ``(N, H, W)`` ground-truth evidence masks.
        tie_tol: drops this close to the largest (in the drops' units) tie with it.
    """
    if not tie_tol >= 0:
        raise ValueError(f"tie_tol must be >= 0, got {tie_tol}")
    fm = torch.as_tensor(feature_mask).long().cpu()
    if fm.dim() == 4:
        fm = fm[:, 0]
    m = torch.as_tensor(masks).bool().cpu()
    d = torch.as_tensor(drops).float().cpu()
    pr = torch.as_tensor(present).bool().cpu()
    if fm.shape != m.shape or d.shape != pr.shape or d.shape[0] != m.shape[0] or d.shape[1] != len(region_ids):
        raise ValueError(f"shapes disagree: feature_mask {tuple(fm.shape)}, masks {tuple(m.shape)}, drops "
                         f"{tuple(d.shape)}, present {tuple(pr.shape)}, {len(region_ids)} region ids")
    ids = torch.as_tensor(list(region_ids), dtype=torch.long)
    evidence = ((fm[:, None] == ids[None, :, None, None]) & m[:, None]).flatten(2).sum(2)  # (N, R) pixels
    most = evidence == evidence.max(1, keepdim=True).values
    d = torch.where(pr, d, torch.full_like(d, -math.inf))
    top = d >= d.max(1, keepdim=True).values - tie_tol
    hit = (top & most).sum(1).float() / top.sum(1).clamp_min(1).float()
    return torch.where(m.flatten(1).any(1), hit, torch.full_like(hit, float("nan")))


# --------------------------------------------------------------------------- faithfulness
@dataclass
class PerturbationCurve:
    """Target probability as pixels are deleted (or inserted) in order of attribution.

    Attributes:
        fractions: ``(S + 1,)`` fraction of pixels changed at each step (0 .. 1).
        probs: ``(N, S + 1)`` target probability at each step.
        auc: ``(N,)`` area under the curve (trapezoid rule over ``fractions``).
        kind: ``"deletion"`` or ``"insertion"``.
    """

    fractions: Tensor
    probs: Tensor
    auc: Tensor
    kind: str


def _blur(x: Tensor, sigma: float, kernel: int) -> Tensor:
    r = torch.arange(kernel, dtype=x.dtype, device=x.device) - (kernel - 1) / 2
    g = torch.exp(-r**2 / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    pad = kernel // 2
    y = F.pad(x, (pad, pad, 0, 0), mode="reflect" if pad < x.shape[-1] else "replicate")
    y = F.conv2d(y, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    y = F.pad(y, (0, 0, pad, pad), mode="reflect" if pad < x.shape[-2] else "replicate")
    return F.conv2d(y, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _perturbation_curve(model: nn.Module, x: Tensor, exp: Explanation, kind: str, n_steps: int,
                        baseline: Literal["zero", "blur"] | float | Tensor, blur_sigma: float,
                        blur_kernel: int,
                        batch_size: int) -> PerturbationCurve:
    if x.shape[0] != len(exp) or tuple(x.shape[-2:]) != tuple(exp.maps.shape[-2:]):
        raise ValueError(f"x {tuple(x.shape)} does not match the explanation maps {tuple(exp.maps.shape)}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    device = model_device(model)
    x = x.detach().to(device)
    n, _, h, w = x.shape
    if isinstance(baseline, str):
        if baseline == "zero":
            base = torch.zeros_like(x)
        elif baseline == "blur":
            base = _blur(x, blur_sigma, blur_kernel)
        else:
            raise ValueError(f"baseline must be 'zero', 'blur', a number or a tensor, got {baseline!r}")
    else:
        base = torch.as_tensor(baseline, dtype=x.dtype, device=device).expand_as(x)
    hw = h * w
    # rank[i, p] = position of pixel p in the order of decreasing attribution (ties: stable).
    order = exp.maps.flatten(1).to(device).argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(hw, device=device).expand(n, -1))
    counts = torch.round(torch.linspace(0, hw, n_steps + 1, device=device)).long()
    targets = exp.targets.to(device)
    probs = torch.empty(n, n_steps + 1)
    start, end = (x, base) if kind == "deletion" else (base, x)
    per_chunk = max(1, batch_size // n)
    with explaining(model), torch.no_grad():
        for s in range(0, n_steps + 1, per_chunk):
            k = counts[s:s + per_chunk]  # (S,)
            changed = (rank[None] < k[:, None, None]).view(len(k), n, 1, h, w)  # (S, N, 1, H, W)
            batch = torch.where(changed, end[None], start[None]).flatten(0, 1)
            p = model(batch).float().softmax(dim=1).view(len(k), n, -1)
            probs[:, s:s + len(k)] = p.gather(2, targets[None, :, None].expand(len(k), -1, 1))[..., 0].T.cpu()
    fractions = counts.cpu().float() / hw
    auc = torch.trapezoid(probs, fractions, dim=1)
    return PerturbationCurve(fractions=fractions, probs=probs, auc=auc, kind=kind)


def deletion_curve(model: nn.Module, x: Tensor, exp: Explanation, n_steps: int = 20,
                   baseline: Literal["zero", "blur"] | float | Tensor = "zero", *, blur_sigma: float = 5.0,
                   blur_kernel: int = 11, batch_size: int = 256) -> PerturbationCurve:
    """Deletion (Petsiuk et al. 2018): replace the most-attributed pixels by ``baseline`` first.

    At step ``s`` the ``round(s * HW / n_steps)`` highest-ranked pixels (all channels) are replaced.
    A faithful map makes the target probability fall quickly: lower AUC is better.

    Args:
        model: the network that produced ``exp`` (run in eval mode, flags restored).
        x: the explained inputs ``(N, C, H, W)``.
        exp: the explanation (its ``targets`` are scored).
        n_steps: number of deletion steps.
        baseline: ``"zero"`` (input-space zeros), ``"blur"`` (Gaussian blur of ``x``), a number or
            a tensor broadcastable to ``x``.
        blur_sigma, blur_kernel: Gaussian of the ``"blur"`` baseline.
        batch_size: images per forward pass (steps are batched).
    """
    return _perturbation_curve(model, x, exp, "deletion", n_steps, baseline, blur_sigma, blur_kernel,
                               batch_size)


def insertion_curve(model: nn.Module, x: Tensor, exp: Explanation, n_steps: int = 20,
                    baseline: Literal["zero", "blur"] | float | Tensor = "blur", *, blur_sigma: float = 5.0,
                    blur_kernel: int = 11, batch_size: int = 256) -> PerturbationCurve:
    """Insertion: start from ``baseline`` and restore the most-attributed pixels first (higher AUC is better).

    Arguments as in :func:`deletion_curve` (default baseline: blur, as in Petsiuk et al.).
    """
    return _perturbation_curve(model, x, exp, "insertion", n_steps, baseline, blur_sigma, blur_kernel,
                               batch_size)


# --------------------------------------------------------------------------- sanity checks
def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation per row of ``(N, ...)`` tensors (average ranks for ties).

    NaN where either row is constant.
    """
    ra = rankdata(a.flatten(1).detach().cpu().double().numpy(), axis=1)
    rb = rankdata(b.flatten(1).detach().cpu().double().numpy(), axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra**2).sum(1) * (rb**2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ra * rb).sum(1) / den
    return torch.from_numpy(np.where(den > 0, r, np.nan)).float()


def agreement(exp_a: Explanation, exp_b: Explanation) -> Tensor:
    """Spearman rank correlation between two explanations of the same samples, ``(N,)``."""
    if exp_a.maps.shape != exp_b.maps.shape:
        raise ValueError(f"maps differ in shape: {tuple(exp_a.maps.shape)} vs {tuple(exp_b.maps.shape)}")
    return spearman(exp_a.maps, exp_b.maps)


def randomizable_layers(model: nn.Module) -> list[str]:
    """Names of the modules with their own parameters and ``reset_parameters()``, top (output) first.

    The order is the reverse of registration order, which for the zoo's models is the reverse of
    the forward order (classifier first).
    """
    names = [n for n, m in model.named_modules()
             if n and hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))]
    return names[::-1]


def randomize_weights(model: nn.Module, layers: Sequence[str] | None = None, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with the parameters of ``layers`` (default: every layer of
    :func:`randomizable_layers`) re-initialised by ``reset_parameters()`` under ``seed``: the
    fully randomised model of the model-parameter randomisation test (Adebayo et al. 2018).

    ``model`` is untouched, and so is the caller's random generator state. The copy is in eval mode.
    """
    rand = copy.deepcopy(model)
    valid = dict(rand.named_modules())
    order = list(layers) if layers is not None else randomizable_layers(rand)
    unknown = [n for n in order if n not in valid]
    if unknown:
        raise ValueError(f"unknown layers {unknown[:5]}; valid examples: {randomizable_layers(rand)[:8]}")
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for name in order:
            module = valid[name]
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            else:
                for p in module.parameters(recurse=False):
                    p.normal_(0, 0.05)
    return rand.eval()


def cascading_randomization(explainer_factory: Callable[[nn.Module], Explainer], model: nn.Module, x: Tensor,
                            target: int | Sequence[int] | Tensor | None = None,
                            layers: Sequence[str] | None = None,
                            seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """Cascading model-parameter randomisation test (Adebayo et al., NeurIPS 2018).

    Layers are re-initialised one at a time from the top (classifier) down, cumulatively, on a deep
    copy of ``model`` (``reset_parameters()``; ``model`` itself is untouched). After each step the
    explanation of the *same targets* (the trained model's predictions when ``target`` is None) is
    compared with the trained model's by Spearman rank correlation per sample. A method that
    depends on the learned weights shows correlations falling towards 0.

    Args:
        explainer_factory: builds an explainer for a model, e.g. ``lambda m: GradCAM(m)``.
        model: the trained network.
        x: inputs ``(N, C, H, W)``.
        target: classes to explain (default: the trained model's predictions).
        layers: layer names in randomisation order (default :func:`randomizable_layers`).
        seed: seed of the re-initialisation.

    Returns:
        DataFrame with one row per randomised layer: ``step`` (1 = only the first layer randomised),
        ``layer``, ``spearman_mean`` and ``spearman_std`` over samples.
    """
    reference = explainer_factory(model).attribute(x, target)
    targets = reference.targets
    rand = copy.deepcopy(model)
    order = list(layers) if layers is not None else randomizable_layers(rand)
    valid = dict(rand.named_modules())
    unknown = [n for n in order if n not in valid]
    if unknown:
        raise ValueError(f"unknown layers {unknown[:5]}; valid examples: {randomizable_layers(rand)[:8]}")
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    rows = []
    try:
        for step, name in enumerate(tqdm(order, desc="randomisation", disable=not progress, leave=False), 1):
            module = valid[name]
            with torch.no_grad():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
                else:
                    for p in module.parameters(recurse=False):
                        p.normal_(0, 0.05)
            exp = explainer_factory(rand).attribute(x, targets)
            r = spearman(reference.maps, exp.maps)
            rows.append({"step": step, "layer": name, "spearman_mean": float(torch.nanmean(r)),
                         "spearman_std": float(np.nanstd(r.numpy())) if r.numel() else float("nan")})
    finally:
        torch.random.set_rng_state(gen_state)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- comparison
def explanation_scores(model: nn.Module, x: Tensor, explanations: Mapping[str, Explanation], masks: Any = None,
                       n_steps: int = 10, deletion_baseline: Literal["zero", "blur"] | float | Tensor = "zero",
                       insertion_baseline: Literal["zero", "blur"] | float | Tensor = "blur") -> pd.DataFrame:
    """Compare explanation methods on the same inputs: one row per method (``explanations`` maps a
    method name to its :class:`~fer_explain.explain.base.Explanation` of ``x``), index ``method``.

    Columns: ``deletion_auc`` (mean over samples of :func:`deletion_curve`'s AUC; lower: the
    probability of the explained class falls faster as the most relevant pixels are removed first),
    ``insertion_auc`` (:func:`insertion_curve`; higher is better) and, when ground-truth ``masks``
    ``(N, H, W)`` are given, ``pointing_game`` (share of samples whose maximum lies in the mask;
    samples with an empty mask are skipped) and ``relevance_mass`` (:func:`relevance_mass_accuracy`:
    share of positive attribution inside the mask), both averaged ignoring NaN.
    """
    gt = None if masks is None else torch.as_tensor(
        np.asarray(masks.cpu() if isinstance(masks, Tensor) else masks)).bool()
    rows = []
    for name, exp in explanations.items():
        row: dict[str, Any] = {"method": name}
        row["deletion_auc"] = float(deletion_curve(model, x, exp, n_steps=n_steps,
                                                   baseline=deletion_baseline).auc.mean())
        row["insertion_auc"] = float(insertion_curve(model, x, exp, n_steps=n_steps,
                                                     baseline=insertion_baseline).auc.mean())
        if gt is not None:
            row["pointing_game"] = float(np.nanmean(pointing_game(exp, gt).numpy()))
            row["relevance_mass"] = float(np.nanmean(relevance_mass_accuracy(exp, gt).numpy()))
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


# --------------------------------------------------------------------------- intervals
def bootstrap_interval(values: Any, n_boot: int = 1000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the mean of ``values`` (NaN ignored) and its percentile bootstrap interval.

    ``n_boot`` resamples of the finite values with replacement (a generator seeded with ``seed``); the
    interval holds the central ``level`` of the resampled means. All three are NaN when no value is
    finite; with one value the interval is that value.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    v = np.asarray(values.detach().cpu() if isinstance(values, Tensor) else values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(int(n_boot), v.size))].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(v.mean()), float(lo), float(hi)


def binomial_interval(p: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of a hit *rate* ``k / n`` with ``k ~ Binomial(n, p)``: where a chance
    hit rate falls (e.g. a uniform random map's pointing game, ``p`` = the masks' mean area share)."""
    from scipy.stats import binom

    if n < 1 or not 0 <= p <= 1:
        raise ValueError(f"need n >= 1 and 0 <= p <= 1, got n={n}, p={p}")
    lo, hi = binom.interval(level, int(n), float(p))
    return float(lo) / n, float(hi) / n
