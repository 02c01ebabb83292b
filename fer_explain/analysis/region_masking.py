"""Region masking with one whole-face model: accuracy when only a region is kept or a region is
removed (no retraining; masked faces are out of distribution, so these are lower bounds), and
seed 001's left/right asymmetry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from fer_explain.analysis.region_inputs import SEED002_REGIONS, FaceArrays, normalize_inputs
from fer_explain.explain.base import model_device
from fer_explain.faces.regions import (
    DEFAULT_MARGIN,
    DEFAULT_REGION_SET,
    Margin,
    get_region,
    keep_region,
    remove_region,
)

__all__ = ["evaluate_region_occlusion", "left_right_asymmetry"]

# --------------------------------------------------------------------------- one model, masked inputs
@torch.no_grad()
def _predict(model: nn.Module, x: Tensor, batch_size: int, normalize: tuple[Any, Any] | None) -> Tensor:
    """Softmax probabilities ``(N, K)`` on the CPU; the model's training flag is restored."""
    dev = model_device(model)
    was = model.training
    model.eval()
    try:
        out = [model(normalize_inputs(x[s:s + batch_size].to(dev), normalize)).float().softmax(1).cpu()
               for s in range(0, len(x), batch_size)]
    finally:
        model.train(was)
    return torch.cat(out) if out else torch.zeros(0, 0)


def _masked(images: Tensor, landmarks: Any, region: str, mode: str, baseline: Any, margin: Margin,
            region_set: str, chunk: int = 1024) -> Tensor:
    fn = keep_region if mode == "keep" else remove_region
    lm = torch.as_tensor(np.asarray(landmarks, dtype=np.float32))
    return torch.cat([fn(images[s:s + chunk], lm[s:s + chunk], region, baseline=baseline, margin=margin,
                         region_set=region_set)[0] for s in range(0, len(images), chunk)])


def evaluate_region_occlusion(
    model: nn.Module,
    images: Tensor | FaceArrays,
    landmarks: Any = None,
    labels: Any = None,
    regions: Sequence[str] = SEED002_REGIONS,
    modes: str | Sequence[str] = ("keep", "remove"),
    baseline: str | float | Tensor = "zero",
    *,
    normalize: tuple[Any, Any] | None = None,
    margin: Margin = DEFAULT_MARGIN,
    region_set: str = DEFAULT_REGION_SET,
    batch_size: int = 256,
    progress: bool = True,
) -> pd.DataFrame:
    """The cheap region experiment: one whole-face model evaluated on region-kept / region-removed faces.

    Args:
        model: a trained whole-face model (left unchanged; evaluated in eval mode).
        images: ``(N, C, H, W)`` float in ``[0, 1]`` *before* normalisation, or a
            :class:`FaceArrays` (then ``landmarks``/``labels`` come from it).
        landmarks: ``(N, 68, 2)`` in the images' pixel coordinates.
        labels: ``(N,)`` true class indices.
        regions: region names of ``region_set``.
        modes: ``"keep"`` (only the region kept, every other pixel the baseline) and/or
            ``"remove"`` (the region set to the baseline).
        baseline: ``"zero"`` (black), ``"mean"``, ``"blur"``, a number or a tensor, in ``[0, 1]``
            image space (see :func:`fer_explain.faces.regions.baseline_like`).
        normalize: ``(mean, std)`` the model expects, applied after masking.

    Returns:
        A DataFrame with one row per ``(region, mode)`` plus a first row ``region="none"``,
        ``mode="none"`` (the unmodified faces), columns ``region``, ``mode``, ``accuracy``,
        ``true_prob`` (mean probability of the true class), ``accuracy_drop`` (unmodified accuracy
        minus this one) and ``n``.
    """
    if isinstance(images, FaceArrays):
        landmarks = images.landmarks if landmarks is None else landmarks
        labels = images.labels if labels is None else labels
        images = images.images
    if landmarks is None or labels is None:
        raise ValueError("evaluate_region_occlusion needs landmarks= and labels= (or a FaceArrays)")
    modes = [modes] if isinstance(modes, str) else list(modes)
    bad = [m for m in modes if m not in ("keep", "remove")]
    if bad:
        raise ValueError(f"modes must be 'keep' and/or 'remove', got {bad}")
    for r in regions:
        get_region(r, region_set)
    x = torch.as_tensor(images).float()
    y = torch.as_tensor(np.array(labels, dtype=np.int64)).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"labels has {y.shape[0]} entries for {x.shape[0]} images")

    def score(inp: Tensor) -> tuple[float, float]:
        p = _predict(model, inp, batch_size, normalize)
        if p.shape[1] and int(y.max()) >= p.shape[1]:
            raise ValueError(f"label {int(y.max())} is not a class of a model with {p.shape[1]} outputs")
        return float((p.argmax(1) == y).float().mean()), float(p.gather(1, y[:, None]).mean())

    acc0, prob0 = score(x)
    rows = [{"region": "none", "mode": "none", "accuracy": acc0, "true_prob": prob0, "accuracy_drop": 0.0,
             "n": len(y)}]
    jobs = [(r, m) for m in modes for r in regions]
    for region, mode in tqdm(jobs, desc="region occlusion", disable=not progress, leave=False):
        acc, prob = score(_masked(x, landmarks, region, mode, baseline, margin, region_set))
        rows.append({"region": region, "mode": mode, "accuracy": acc, "true_prob": prob,
                     "accuracy_drop": acc0 - acc, "n": len(y)})
    return pd.DataFrame(rows)


def left_right_asymmetry(
    model: nn.Module,
    images: Tensor | FaceArrays,
    landmarks: Any = None,
    labels: Any = None,
    classes: Sequence[str] | None = None,
    baseline: str | float | Tensor = "zero",
    *,
    normalize: tuple[Any, Any] | None = None,
    margin: Margin = 0,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Which half of the face the model relies on, per emotion (seed 001 finds the right half).

    Uses the symmetric region set's ``right_half`` (the subject's right, the image's *left*) and
    ``left_half`` (the subject's left, image right), split along the nose line. For each emotion
    (rows, by true label, plus ``"all"``):

    * ``acc_keep_right`` / ``acc_keep_left``: accuracy when only that half is kept;
    * ``drop_right`` / ``drop_left``: mean drop in true-class probability when that half is removed;
    * ``asymmetry = (drop_right - drop_left) / (drop_right + drop_left)``: > 0 means removing the
      subject's right half hurts more (the right half is more discriminative); NaN when both
      drops are <= 0;
    * ``n``: faces of the emotion.

    For the explanation-based variant (share of attribution mass per half) use
    :func:`fer_explain.explain.metrics.asymmetry` with ``right_half``/``left_half`` masks.
    """
    if isinstance(images, FaceArrays):
        landmarks = images.landmarks if landmarks is None else landmarks
        labels = images.labels if labels is None else labels
        classes = images.classes if classes is None else classes
        images = images.images
    if landmarks is None or labels is None:
        raise ValueError("left_right_asymmetry needs landmarks= and labels= (or a FaceArrays)")
    x = torch.as_tensor(images).float()
    y = torch.as_tensor(np.array(labels, dtype=np.int64)).reshape(-1)
    p0 = _predict(model, x, batch_size, normalize)
    k = p0.shape[1]
    names = list(classes) if classes is not None else [f"class_{i}" for i in range(k)]
    true0 = p0.gather(1, y[:, None])[:, 0]
    res: dict[str, Tensor] = {}
    for half in ("right_half", "left_half"):
        pk = _predict(model, _masked(x, landmarks, half, "keep", baseline, margin, "symmetric"), batch_size, normalize)
        pr = _predict(model, _masked(x, landmarks, half, "remove", baseline, margin, "symmetric"), batch_size,
                      normalize)
        side = half.split("_")[0]
        res[f"acc_keep_{side}"] = (pk.argmax(1) == y).float()
        res[f"drop_{side}"] = true0 - pr.gather(1, y[:, None])[:, 0]
    rows = []
    groups = [(names[c], y == c) for c in range(len(names)) if bool((y == c).any())] + [("all", torch.ones_like(y, dtype=torch.bool))]
    for name, sel in groups:
        row: dict[str, Any] = {"emotion": name}
        for key, v in res.items():
            row[key] = float(v[sel].mean())
        dr, dl = row["drop_right"], row["drop_left"]
        row["asymmetry"] = (dr - dl) / (dr + dl) if (dr + dl) > 0 and dr >= 0 and dl >= 0 else float("nan")
        row["n"] = int(sel.sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("emotion")


