"""Population maps: attribution maps aligned to a mean face and averaged per emotion (seed 002 Fig. 6).

Seed 002 shows CAM heatmaps of single faces per emotion and dataset. Averaging many faces' maps says
more, but only once the faces are registered: :func:`align_maps` warps every map onto a reference
face shape (default :data:`~fer_explain.faces.regions.MEAN_FACE_68` scaled into the map) with the
least-squares similarity transform (rotation, uniform scale, translation; Umeyama 1991) that takes the
face's 68 landmarks onto the reference landmarks. :func:`population_maps` averages the aligned maps
per emotion, :func:`plot_population_grid` draws an emotion x dataset grid, and
:func:`sparsity_by_emotion` summarises how concentrated the maps are (Gini index).

:func:`population_maps` also takes the output of ``fer-explain explain`` instead of maps computed here:
a :class:`~fer_explain.analysis.explain_output.RunMaps` (:func:`~fer_explain.analysis.explain_output.run_maps`)
or a loaded run with ``method=`` (:func:`~fer_explain.analysis.explain_output.load_explain_run`), whose
stored maps, landmarks in the view and true labels it uses; nothing is recomputed.

Coordinates are pixel-index coordinates (``(x, y) = (column, row)``, the point ``(j, i)`` is the
centre of pixel ``[i, j]``), as everywhere in :mod:`fer_explain.faces`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from fer_explain.faces.regions import MEAN_FACE_68

__all__ = [
    "align_maps",
    "plot_population_grid",
    "population_maps",
    "reference_landmarks",
    "similarity_transform",
    "sparsity_by_emotion",
]


def _maps_array(maps: Any) -> np.ndarray:
    if hasattr(maps, "maps") and hasattr(maps, "targets"):  # an Explanation
        maps = maps.maps
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().cpu().numpy()
    arr = np.asarray(maps, dtype=np.float32)
    if arr.ndim != 3:
        raise ValueError(f"maps must be (N, H, W) (or an Explanation), got shape {arr.shape}")
    return arr


def reference_landmarks(size: int | Sequence[int], face_fraction: float = 0.8) -> np.ndarray:
    """:data:`MEAN_FACE_68` scaled into an ``H x W`` map: ``(68, 2)`` float32 pixel coordinates.

    The mean shape's bounding box (the unit box) is scaled to ``face_fraction`` of the map's width
    and height and centred, so the face sits like a registered face crop (FER2013's faces fill
    roughly 80 % of the 48 x 48 image).
    """
    h, w = (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if not 0 < face_fraction <= 1:
        raise ValueError(f"face_fraction must lie in (0, 1], got {face_fraction}")
    ref = MEAN_FACE_68.astype(np.float64).copy()
    ref[:, 0] = (w - 1) * ((1 - face_fraction) / 2 + face_fraction * ref[:, 0])
    ref[:, 1] = (h - 1) * ((1 - face_fraction) / 2 + face_fraction * ref[:, 1])
    return ref.astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity ``A`` (2 x 3) with ``dst ~ src @ A[:, :2].T + A[:, 2]`` (Umeyama 1991).

    ``src``, ``dst``: ``(K, 2)`` corresponding points (K >= 2). No reflection is allowed.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"src and dst must both be (K, 2) with K >= 2, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0 ** 2).sum() / len(src)
    if var_s <= 0:
        raise ValueError("the source points all coincide: no similarity transform")
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    rot = u @ d @ vt
    scale = np.trace(np.diag(sig) @ d) / var_s
    a = scale * rot
    return np.hstack([a, (mu_d - a @ mu_s)[:, None]])


def align_maps(
    maps: Any,
    landmarks: Any,
    reference: np.ndarray | None = None,
    points: Sequence[int] | None = None,
    mode: str = "bilinear",
) -> np.ndarray:
    """Warp each map so that its face's landmarks land on the reference landmarks.

    Args:
        maps: ``(N, H, W)`` maps (array, tensor or an :class:`~fer_explain.explain.Explanation`)
            at the resolution of the landmarks.
        landmarks: ``(N, 68, 2)`` landmarks of each face in the maps' pixel coordinates.
        reference: ``(68, 2)`` target landmarks in the output map (default
            :func:`reference_landmarks` of the maps' size).
        points: 0-based landmark indices used to estimate the transform (default all 68; e.g.
            ``range(17, 68)`` leaves out the jaw line).
        mode: ``grid_sample`` interpolation, ``"bilinear"`` or ``"nearest"``.

    Returns:
        ``(N, H, W)`` float32 aligned maps; pixels that map outside the source map are 0.
    """
    arr = _maps_array(maps)
    n, h, w = arr.shape
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (n, 68, 2):
        raise ValueError(f"landmarks must be ({n}, 68, 2) for {n} maps, got {lm.shape}")
    bad = np.flatnonzero(~np.isfinite(lm).reshape(n, -1).all(axis=1))
    if bad.size:
        raise ValueError(f"maps {bad[:10].tolist()} have no (finite) landmarks")
    ref = reference_landmarks((h, w)) if reference is None else np.asarray(reference, dtype=np.float64)
    if ref.shape != (68, 2):
        raise ValueError(f"reference must be (68, 2), got {ref.shape}")
    idx = list(range(68)) if points is None else [int(i) for i in points]
    if n == 0:
        return arr.copy()
    # inverse transforms: output (reference) pixel -> source pixel
    theta = np.empty((n, 2, 3))
    for i in range(n):
        theta[i] = similarity_transform(ref[idx], lm[i, idx])
    # pixel coordinates -> grid_sample's normalised coordinates (align_corners=True: -1, 1 = centres)
    to_norm = np.array([[2 / (w - 1) if w > 1 else 0, 0, -1], [0, 2 / (h - 1) if h > 1 else 0, -1], [0, 0, 1]])
    from_norm = np.array([[(w - 1) / 2, 0, (w - 1) / 2], [0, (h - 1) / 2, (h - 1) / 2], [0, 0, 1]])
    full = np.concatenate([theta, np.tile([[[0, 0, 1]]], (n, 1, 1))], axis=1)
    norm = to_norm[None] @ full @ from_norm[None]
    grid = F.affine_grid(torch.as_tensor(norm[:, :2], dtype=torch.float32), [n, 1, h, w], align_corners=True)
    out = F.grid_sample(torch.from_numpy(arr)[:, None], grid, mode=mode, padding_mode="zeros", align_corners=True)
    return out[:, 0].numpy()


def _labels(labels: Any, n: int) -> np.ndarray:
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    lab = np.asarray(labels).reshape(-1)
    if lab.shape != (n,):
        raise ValueError(f"labels must have {n} entries, got {lab.shape}")
    return lab


def _from_run(maps: Any, landmarks: Any, labels: Any, classes: Sequence[str] | None,
              method: str | None) -> tuple[Any, Any, Any, Sequence[str] | None]:
    """Unpack an ``explain`` run (or one method's :class:`RunMaps`) into maps, landmarks, labels, classes;
    anything else passes through. Arguments given explicitly win over the run's."""
    if hasattr(maps, "record") and hasattr(maps, "shard_paths"):  # an ExplainRun
        from fer_explain.analysis.explain_output import run_maps

        if method is None:
            raise ValueError(f"a loaded explain run holds several methods ({maps.record['key']['methods']}): "
                             "pass method=")
        maps = run_maps(maps, method)
    if hasattr(maps, "explanation") and hasattr(maps, "label_names"):  # RunMaps
        run = maps
        landmarks = run.landmarks if landmarks is None else landmarks
        labels = run.label_names if labels is None else labels
        classes = run.classes if classes is None else classes
        maps = run.explanation
    return maps, landmarks, labels, classes


def population_maps(
    maps: Any,
    landmarks: Any | None = None,
    labels: Any = None,
    classes: Sequence[str] | None = None,
    reference: np.ndarray | None = None,
    normalize: str | None = "sum",
    align: bool = True,
    *,
    method: str | None = None,
) -> dict[str, np.ndarray]:
    """Mean aligned map per emotion.

    Args:
        maps: ``(N, H, W)`` maps, an :class:`~fer_explain.explain.Explanation`, one method's maps of an
            ``explain`` run (:class:`~fer_explain.analysis.explain_output.RunMaps`), or a loaded run
            (:class:`~fer_explain.analysis.dataset_explain.ExplainRun`, with ``method``): a run supplies
            ``landmarks`` (in the view), ``labels`` (each face's true label) and ``classes`` unless given.
        landmarks: ``(N, 68, 2)`` in the maps' pixel coordinates (``None`` with ``align=False``).
        labels: ``(N,)`` class indices into ``classes`` (or names; names outside ``classes`` are left out).
        classes: emotion names.
        method: the method whose maps to read from a loaded run.
        normalize: per-map scaling before averaging so that every face weighs the same:
            ``"sum"`` (positive part scaled to sum 1), ``"max"`` (positive part scaled to max 1) or
            ``None`` (raw maps).
        align: warp the maps with :func:`align_maps` first.

    Returns:
        ``{emotion: (H, W) float32 mean map}`` for the emotions that have faces, in ``classes``
        order.
    """
    maps, landmarks, labels, classes = _from_run(maps, landmarks, labels, classes, method)
    if labels is None or classes is None:
        raise ValueError("population_maps needs labels and classes (or an explain run, which holds them)")
    arr = _maps_array(maps)
    if normalize not in ("sum", "max", None):
        raise ValueError(f"normalize must be 'sum', 'max' or None, got {normalize!r}")
    if align:
        if landmarks is None:
            raise ValueError("align=True needs landmarks (an explain run made with landmarks='none' has none)")
        arr = align_maps(arr, landmarks, reference)
    if normalize is not None:
        pos = np.clip(arr, 0, None)
        denom = pos.reshape(len(pos), -1).sum(1) if normalize == "sum" else pos.reshape(len(pos), -1).max(1)
        arr = np.divide(pos, denom[:, None, None], out=np.zeros_like(pos), where=denom[:, None, None] > 0)
    lab = _labels(labels, len(arr))
    classes = list(classes)
    names = np.asarray([classes[int(k)] for k in lab] if lab.dtype.kind in "iu" else lab, dtype=object)
    out: dict[str, np.ndarray] = {}
    for c in classes:
        sel = names == c
        if sel.any():
            out[c] = arr[sel].mean(axis=0).astype(np.float32)
    return out


def plot_population_grid(
    maps_by_dataset: Mapping[str, Mapping[str, Any]],
    emotions: Sequence[str] | None = None,
    cmap: str = "jet",
    reference: np.ndarray | None = None,
    title: str | None = "population maps",
    cell_size: float = 1.6,
) -> Figure:
    """An emotion x dataset grid of population maps (seed 002 Fig. 6 layout: rows emotions).

    Args:
        maps_by_dataset: ``{dataset: {emotion: (H, W) map}}`` (e.g. :func:`population_maps` per
            dataset); datasets become columns in the given order.
        emotions: row order (default: every emotion any dataset has, in seed 002's order
            neutral, happiness, surprise, sadness, anger, disgust, fear, contempt).
        reference: optional ``(68, 2)`` reference landmarks drawn as dots (default: those of
            :func:`reference_landmarks` at each map's size; pass ``False`` to draw none).

    Each map is min-max normalised on its own. Columns are titled with the dataset, rows labelled
    with the emotion; a missing (dataset, emotion) cell reads ``"n/a"``.
    """
    import matplotlib.pyplot as plt

    from fer_explain.viz.style import seed002_order

    if not maps_by_dataset:
        raise ValueError("maps_by_dataset is empty: pass {dataset: {emotion: map}}")
    datasets = list(maps_by_dataset)
    if emotions is None:
        present = {e for d in maps_by_dataset.values() for e in d}
        try:
            emotions = [e for e in seed002_order(sorted(present)) if e in present]
        except (KeyError, ValueError):
            emotions = sorted(present)
    emotions = list(emotions)
    if not emotions:
        raise ValueError("no emotions to draw")
    fig, axes = plt.subplots(len(emotions), len(datasets), figsize=(cell_size * len(datasets) + 0.8,
                                                                     cell_size * len(emotions) + 0.6),
                             squeeze=False)
    for j, ds in enumerate(datasets):
        for i, emo in enumerate(emotions):
            ax = axes[i, j]
            m = maps_by_dataset[ds].get(emo)
            if m is None:
                ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes, color="grey")
            else:
                a = np.asarray(m.detach().cpu() if hasattr(m, "detach") else m, dtype=np.float64)
                lo, hi = np.nanmin(a), np.nanmax(a)
                ax.imshow((a - lo) / (hi - lo) if hi > lo else np.zeros_like(a), cmap=cmap, vmin=0, vmax=1)
                if reference is not False:
                    ref = reference_landmarks(a.shape) if reference is None else np.asarray(reference)
                    ax.plot(ref[:, 0], ref[:, 1], ".", color="white", markersize=1.5, alpha=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(str(ds), fontsize="small")
            if j == 0:
                ax.set_ylabel(str(emo), fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def sparsity_by_emotion(
    maps: Any,
    labels: Any,
    classes: Sequence[str],
    positive_only: bool = False,
) -> pd.DataFrame:
    """Gini index of the maps per emotion (via :func:`fer_explain.explain.metrics.sparsity`).

    Returns a DataFrame indexed by ``emotion`` (the emotions that have maps, in ``classes`` order,
    plus ``"all"``) with ``mean``, ``std`` and ``count`` of the per-map Gini index (0 = uniform map,
    near 1 = all attribution on one pixel; all-zero maps are left out).
    """
    from fer_explain.explain.base import Explanation
    from fer_explain.explain.metrics import sparsity

    arr = _maps_array(maps)
    lab = _labels(labels, len(arr))
    classes = list(classes)
    idx = np.asarray([classes.index(str(k)) for k in lab] if lab.dtype.kind not in "iu" else lab, dtype=np.int64)
    exp = Explanation(maps=torch.from_numpy(arr), raw=None, targets=torch.from_numpy(idx),
                      probs=torch.zeros(len(arr), len(classes)), method="maps")
    g = sparsity(exp, positive_only=positive_only).numpy().astype(np.float64)
    df = pd.DataFrame({"emotion": [classes[int(k)] for k in idx], "gini": g})
    rows = []
    for name in [c for c in classes if (df["emotion"] == c).any()] + ["all"]:
        v = df["gini"] if name == "all" else df.loc[df["emotion"] == name, "gini"]
        v = v.dropna()
        rows.append({"emotion": name, "mean": float(v.mean()) if len(v) else np.nan,
                     "std": float(v.std()) if len(v) > 1 else np.nan, "count": len(v)})
    return pd.DataFrame(rows).set_index("emotion")
