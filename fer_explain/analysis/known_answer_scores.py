"""Known-answer leaderboard, part two: scoring every explainer of one trained model against the evidence masks.

Its one job: given a model and the test faces of a variant (:mod:`fer_explain.analysis.known_answer`),
explain the first ``n_explain`` correctly classified non-neutral faces (target = the true label) with
every method and score each map against the face's evidence mask dilated by ``evidence_dilate`` px.

Methods (:func:`method_specs`, in this order; each builds from the registry, :func:`make_explainer`):

* ``cam`` (GAP + linear models), ``gradcam`` / ``gradcam++`` at the pinned layer
  (``gradcam_layer_name``: the deepest map of at least 4 x 4) and, as ``gradcam_fine`` /
  ``gradcam++_fine``, at the deepest layer whose map is at least 8 x 8 when that is another layer,
  ``se_map`` (models with SE blocks);
* ``occlusion_w<W>`` for each window of ``settings.occlusion_windows`` (stride ``W // 2``, black
  baseline; the first is the registry's default window, side // 6), ``occlusion_coarse``;
* ``region_masking``: :class:`~fer_explain.explain.RegionAblation` over the base face partition
  (outside face, eyes, nose, mouth, rest of face; the registry's region set and margin), black baseline;
* ``saliency``, ``integrated_gradients``;
* reference rows (``kind = reference``): ``random`` (uniform noise: chance), ``gaussian`` (a centred
  blob: the centre bias), ``ideal`` (the evidence mask itself: the ceiling).

Metrics per row (:data:`METRICS`; mean over faces and a 95 % percentile bootstrap interval, ``_lo``/``_hi``):
pointing game (for region masking: the region with the largest drop holds most of the evidence,
:func:`~fer_explain.explain.metrics.region_pointing_game`), relevance mass inside the mask, rank
accuracy (top-k pixels inside the mask, k = the mask's area; ties counted at their expected value),
deletion AUC (mid-grey baseline, lower is better) and insertion AUC (blurred start, higher is better)
of the target probability over ``perturbation_steps`` steps, and the Spearman correlation between the
method's maps on the model and on a copy with every layer re-initialised (first ``n_randomization``
faces; NaN for reference rows, which do not depend on the model).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from fer_explain.data.errors import UserError
from fer_explain.explain import (
    RegionAblation,
    black_baseline,
    explainer_applies,
    list_explainers,
    make_explainer,
)
from fer_explain.explain import mask_scores as S
from fer_explain.explain import metrics as M
from fer_explain.explain.base import Explanation
from fer_explain.explain.occlusion import window_starts
from fer_explain.explain.registry import REGION_DEFAULTS
from fer_explain.faces.regions import BASE_FEATURE_IDS, base_feature_mask

if TYPE_CHECKING:
    from fer_explain.data.synthetic import SyntheticBatch

__all__ = ["COLUMNS", "FINE_MAP", "LEADERBOARD_COLUMNS", "METRICS", "MethodSpec", "ScoreSettings", "fine_layer",
           "method_specs", "occlusion_ceiling", "partition", "score_maps", "score_model", "select_faces", "to_input"]

LEADERBOARD_COLUMNS: tuple[str, ...] = (
    "model", "variant", "method", "model_accuracy", "pointing_game", "relevance_mass", "rank_accuracy",
    "deletion_auc", "insertion_auc", "randomization_spearman", "n",
)
"""The leaderboard's required columns, in order (the ``_lo``/``_hi`` interval columns and the extras of
:data:`COLUMNS` follow them)."""

METRICS: tuple[str, ...] = ("pointing_game", "relevance_mass", "rank_accuracy", "deletion_auc", "insertion_auc",
                            "randomization_spearman")
"""The scored metrics, in column order."""

COLUMNS: tuple[str, ...] = (
    *LEADERBOARD_COLUMNS,
    *(f"{m}_{end}" for m in METRICS for end in ("lo", "hi")),
    "layer", "kind", "n_randomization", "mask_share", "seconds",
)
"""Every column of ``leaderboard.csv``: the required ones, the interval bounds, then the extras (``layer`` the
explainer read, ``kind`` explainer/region/reference, ``n_randomization`` faces in the randomisation test,
``mask_share`` the explained faces' mean share of pixels inside the dilated evidence mask -- a uniform random
map's expected pointing game -- and ``seconds`` spent on the row)."""

FINE_MAP = 8
"""The second Grad-CAM layer is the deepest whose map is at least this many pixels on a side."""

REFERENCES: tuple[str, ...] = ("random", "gaussian", "ideal")


@dataclass(frozen=True)
class ScoreSettings:
    """The scoring numbers: :meth:`fer_explain.analysis.known_answer.KnownAnswerSettings.scoring` copies
    them from the run's settings, which hold the defaults and document each (no default here, so the two
    cannot disagree)."""

    size: int
    n_explain: int
    faces: str
    n_randomization: int
    evidence_dilate: int
    occlusion_windows: tuple[int, ...]
    perturbation_steps: int
    n_boot: int
    chunk: int
    seed: int


def to_input(images: np.ndarray, model: nn.Module) -> Tensor:
    """uint8 grey ``(N, H, W)`` images -> the model's normalised ``(N, 1, H, W)`` input (its ``input_spec``)."""
    if images.ndim != 3:
        raise ValueError(f"expected grey images (N, H, W), got shape {images.shape}")
    spec = model.input_spec
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)[:, None]
    return (x - float(spec.mean[0])) / float(spec.std[0])


@dataclass(frozen=True)
class MethodSpec:
    """One leaderboard row's method: ``name`` (the row), the registry ``explainer`` and its ``params``,
    ``kind`` (``explainer``, ``region`` or ``reference``) and the ``layer`` it reads (if any)."""

    name: str
    explainer: str
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "explainer"
    layer: str | None = None


def fine_layer(model: nn.Module, input_size: int, min_side: int = FINE_MAP) -> str | None:
    """The deepest Grad-CAM candidate whose map is at least ``min_side`` x ``min_side`` (None when none is)."""
    for name in model.gradcam_candidates():
        h, w = model.feature_map_size(name, input_size)
        if min(h, w) >= min_side:
            return str(name)
    return None


def method_specs(model: nn.Module, settings: ScoreSettings) -> list[MethodSpec]:
    """Every method the leaderboard runs on ``model`` (module docstring), references last."""
    size = settings.size
    specs: list[MethodSpec] = []
    for name in list_explainers():
        if not explainer_applies(name, model):
            continue
        if name in ("gradcam", "gradcam++"):
            pinned = str(model.gradcam_layer_name(size))
            specs.append(MethodSpec(name, name, {"layer": pinned}, layer=pinned))
            fine = fine_layer(model, size)
            if fine is not None and fine != pinned:
                specs.append(MethodSpec(f"{name}_fine", name, {"layer": fine}, layer=fine))
        elif name == "occlusion":
            for w in settings.occlusion_windows:
                specs.append(MethodSpec(f"occlusion_w{w}", name, {"window": w, "stride": max(1, w // 2)}))
        else:
            specs.append(MethodSpec(name, name))
    specs.append(MethodSpec("region_masking", "region_masking", kind="region"))
    specs += [MethodSpec(r, r, kind="reference") for r in REFERENCES]
    return specs


# --------------------------------------------------------------------------- faces
def select_faces(model: nn.Module, x: Tensor, labels: np.ndarray, neutral: int | None, n: int,
                 faces: str = "correct", batch_size: int = 256) -> np.ndarray:
    """Indices of the first ``n`` non-neutral faces, correctly classified ones only with ``faces="correct"``
    (fewer when there are not enough)."""
    model.eval()
    keep = np.ones(len(labels), dtype=bool)
    if faces == "correct":
        with torch.no_grad():
            preds = torch.cat([model(x[s:s + batch_size]).argmax(1) for s in range(0, len(x), batch_size)]).numpy()
        keep = preds == labels
    if neutral is not None:
        keep &= labels != neutral
    return np.flatnonzero(keep)[:n]


# --------------------------------------------------------------------------- maps
def _explanation(maps: Tensor, targets: Tensor, method: str) -> Explanation:
    n = len(maps)
    return Explanation(maps=maps.float(), raw=None, targets=targets.long(), probs=torch.zeros(n, 1), method=method)


def partition(landmarks: np.ndarray, size: int) -> Tensor:
    """Region masking's partition of each face, ``(N, 1, H, W)`` :data:`~fer_explain.faces.regions.BASE_FEATURE_IDS`
    (the registry's region set and margin)."""
    return base_feature_mask(torch.as_tensor(landmarks), size, region_set=REGION_DEFAULTS["region_set"],
                             margin=REGION_DEFAULTS["margin"])


def _explain(spec: MethodSpec, model: nn.Module, x: Tensor, targets: Tensor, landmarks: np.ndarray,
             settings: ScoreSettings, bar: tqdm) -> tuple[Tensor, dict[str, Any]]:
    """``(maps (N, H, W), extras)`` of a non-reference method over chunks of ``settings.chunk`` faces; extras
    hold the ``layer`` the explainer read and, for region masking, ``drops``/``present``/``ids``."""
    maps, drops, present = [], [], []
    layer = None
    ids = sorted(BASE_FEATURE_IDS)
    for s in range(0, len(x), settings.chunk):
        xs, ts = x[s:s + settings.chunk], targets[s:s + settings.chunk]
        if spec.kind == "region":
            fm = partition(landmarks[s:s + settings.chunk], settings.size)
            exp = RegionAblation(model, fm, baseline=black_baseline(model)).attribute(xs, ts)
            cols = [ids.index(i) for i in exp.extras["region_ids"]]  # a chunk may lack a region: fixed columns
            d, p = torch.zeros(len(xs), len(ids)), torch.zeros(len(xs), len(ids), dtype=torch.bool)
            d[:, cols], p[:, cols] = exp.extras["drops"].float(), exp.extras["present"]
            drops.append(d)
            present.append(p)
        else:
            exp = make_explainer(spec.explainer, model, input_size=settings.size, **spec.params).attribute(xs, ts)
        maps.append(exp.maps)
        layer = exp.layer
        bar.update(len(xs))
    extras: dict[str, Any] = {"layer": layer}
    if drops:
        extras.update(drops=torch.cat(drops), present=torch.cat(present), ids=torch.as_tensor(ids))
    return torch.cat(maps), extras


def _reference(name: str, masks: Tensor, settings: ScoreSettings) -> Tensor:
    n, size = len(masks), settings.size
    if name == "random":
        return S.random_maps(n, size, seed=settings.seed)
    if name == "gaussian":
        return S.gaussian_maps(n, size)
    if name == "ideal":
        return S.ideal_maps(masks)
    raise ValueError(f"unknown reference map {name!r}; valid: {REFERENCES}")


# --------------------------------------------------------------------------- scores
def score_maps(model: nn.Module, x: Tensor, targets: Tensor, maps: Tensor, masks: Tensor,
               settings: ScoreSettings, *, region: dict[str, Any] | None = None,
               feature_mask: Tensor | None = None, random_maps: Tensor | None = None,
               random_of: Tensor | None = None) -> dict[str, Any]:
    """One row's metrics: per metric its mean and bootstrap interval (``<metric>``, ``_lo``, ``_hi``).

    Args:
        model: the trained model (deletion and insertion curves).
        x, targets: the explained inputs and classes.
        maps: ``(N, H, W)`` attribution maps; masks: ``(N, H, W)`` dilated evidence masks.
        region: region masking's ``drops``/``present``/``ids`` (with ``feature_mask``): the pointing
            game is scored per region.
        random_maps: the same method's maps on the weight-randomised model for the faces ``random_of``
            (indices into ``maps``); None gives NaN.
    """
    exp = _explanation(maps, targets, "scored")
    per_face: dict[str, Tensor] = {}
    if region is not None:
        if feature_mask is None:
            raise ValueError("region scores need the feature_mask")
        per_face["pointing_game"] = M.region_pointing_game(region["drops"], region["present"],
                                                           region["ids"].tolist(), feature_mask, masks)
    else:
        per_face["pointing_game"] = M.pointing_game(exp, masks)
    per_face["relevance_mass"] = M.relevance_mass_accuracy(exp, masks)
    per_face["rank_accuracy"] = M.relevance_rank_accuracy(exp, masks, ties="expected")
    steps = settings.perturbation_steps
    per_face["deletion_auc"] = M.deletion_curve(model, x, exp, n_steps=steps, baseline="zero").auc
    per_face["insertion_auc"] = M.insertion_curve(model, x, exp, n_steps=steps, baseline="blur").auc
    if random_maps is not None and random_of is not None:
        per_face["randomization_spearman"] = M.spearman(maps[random_of], random_maps)
    else:
        per_face["randomization_spearman"] = torch.full((0,), float("nan"))
    row: dict[str, Any] = {}
    for metric in METRICS:
        mean, lo, hi = M.bootstrap_interval(per_face[metric], n_boot=settings.n_boot, seed=settings.seed)
        row.update({metric: mean, f"{metric}_lo": lo, f"{metric}_hi": hi})
    return row


def score_model(model: nn.Module, test: SyntheticBatch, settings: ScoreSettings, *, variant: str,
                neutral: int | None, model_name: str, model_accuracy: float, methods: Sequence[str] | None = None,
                skip: Collection[str] = (), on_row: Callable[[dict[str, Any]], None] | None = None,
                progress: bool = False, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every leaderboard row of one trained model on one variant's test faces.

    Args:
        model: the trained model (left unchanged).
        test: the variant's test faces (images, landmarks, evidence masks, labels).
        variant: the variant's name (copied into every row).
        neutral: the index of ``neutral`` in the label space (those faces have no evidence), or None.
        settings: ``n_explain``, ``n_randomization``, ``evidence_dilate``, windows, steps, bootstrap...
        model_name, model_accuracy: copied into every row.
        methods: row names of :func:`method_specs` to run (default: all).
        skip: row names not to run (those a resumed run already has).
        on_row: called with each row as soon as it is scored (to write it before the next one starts).
        progress: a tqdm bar per method.
        log: where the per-method lines go.

    Returns:
        one dict per method with the :data:`COLUMNS` keys.
    """
    model.eval()
    x_all = to_input(test.images, model)
    sel = select_faces(model, x_all, test.labels, neutral, settings.n_explain, settings.faces)
    which = "correctly classified non-neutral" if settings.faces == "correct" else "non-neutral"
    if len(sel) == 0:
        raise UserError(f"{model_name} on {variant}: no {which} test face to explain (train longer, render "
                        "more test faces, or explain every non-neutral face: --faces all)")
    if len(sel) < settings.n_explain:
        log(f"{model_name} on {variant}: only {len(sel)} {which} test faces (asked for {settings.n_explain}); "
            "raise n_test for more")
    x, targets = x_all[sel], torch.from_numpy(test.labels[sel]).long()
    masks = torch.from_numpy(test.evidence_dilated(settings.evidence_dilate)[sel])
    landmarks = np.asarray(test.landmarks[sel])
    nr = min(settings.n_randomization, len(sel))
    random_of = torch.arange(nr)
    randomised = M.randomize_weights(model, seed=settings.seed)
    specs = method_specs(model, settings)
    if methods is not None:
        unknown = sorted(set(methods) - {s.name for s in specs})
        if unknown:
            raise ValueError(f"unknown methods {unknown} for {model_name}; valid: {[s.name for s in specs]}")
        specs = [s for s in specs if s.name in set(methods)]
    specs = [s for s in specs if s.name not in set(skip)]
    feature_mask = partition(landmarks, settings.size)[:, 0]
    mask_share = float(masks.float().mean())
    rows = []
    for spec in specs:
        t0 = time.perf_counter()
        region = None
        rmaps = None
        layer = spec.layer
        if spec.kind == "reference":
            maps = _reference(spec.name, masks, settings)
        else:
            total = len(x) + nr
            with tqdm(total=total, desc=f"{model_name}/{variant} {spec.name}", unit="face", leave=False,
                      disable=not progress) as bar:
                maps, extras = _explain(spec, model, x, targets, landmarks, settings, bar)
                rmaps, _ = _explain(spec, randomised, x[:nr], targets[:nr], landmarks[:nr], settings, bar)
            layer = extras.pop("layer") or layer
            region = extras or None
        scores = score_maps(model, x, targets, maps, masks, settings, region=region, feature_mask=feature_mask,
                            random_maps=rmaps, random_of=random_of if rmaps is not None else None)
        seconds = time.perf_counter() - t0
        row = {"model": model_name, "variant": variant, "method": spec.name, "model_accuracy": model_accuracy,
               **scores, "n": len(sel), "layer": layer, "kind": spec.kind,
               "n_randomization": nr if rmaps is not None else 0, "mask_share": mask_share, "seconds": seconds}
        rows.append(row)
        if on_row is not None:
            on_row(row)
        log(f"  {model_name}/{variant} {spec.name:22s} pointing {scores['pointing_game']:.3f}  mass "
            f"{scores['relevance_mass']:.3f}  rank {scores['rank_accuracy']:.3f}  del {scores['deletion_auc']:.3f}  "
            f"ins {scores['insertion_auc']:.3f}  rand-rho {scores['randomization_spearman']:.3f}  ({seconds:.0f}s)")
    return rows


def occlusion_ceiling(evidence: Tensor, dilated: Tensor, window: int) -> tuple[float, float]:
    """The pointing game of occlusion (``window``, stride ``window // 2``) on a perfect model: one whose drop is the
    raw evidence a window hides (its pixel count under the window). ``(argmax pointing game, tied maxima at their
    expected value)`` over faces ``(N, H, W)`` (raw evidence as floats, the dilated scoring mask as bools): the
    ceiling the window's geometry sets (``benchmarks/known_answer_occlusion_ceiling.py``)."""
    h, w = evidence.shape[1:]
    rows, cols = window_starts(h, window, window // 2), window_starts(w, window, window // 2)
    masks = torch.zeros(len(rows) * len(cols), h * w)
    for i, (r, q) in enumerate((r, q) for r in rows for q in cols):
        masks[i].view(h, w)[r:r + window, q:q + window] = 1
    drops = evidence.flatten(1) @ masks.T
    pixel = drops @ masks / masks.sum(0).clamp_min(1)
    hit = dilated.flatten(1).gather(1, pixel.argmax(1, keepdim=True))[:, 0].float().mean().item()
    tied = pixel >= pixel.max(1, keepdim=True).values - 1e-6
    expected = ((tied & dilated.flatten(1)).sum(1).float() / tied.sum(1)).mean().item()
    return hit, expected
