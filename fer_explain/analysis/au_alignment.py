"""Action-unit alignment: do a checkpoint's explanations on real faces fall on the FACS areas of the emotion?

Its one job is :func:`au_alignment` (what ``fer-explain au-alignment`` runs)::

    >>> run = au_alignment("checkpoints/fer2013/vgg_fer", "fer2013.csv", "au/", split="publictest")
    >>> run.table.query("emotion == 'all' and threshold == 'otsu'")

For every face of the split (or a class-stratified draw of ``max_faces``):

1. landmarks: the manifest's, or dlib's (:func:`~fer_explain.faces.landmarks.extract_landmarks`, HOG
   detector with ``upsample``, the whole-image fallback where no face is found) for rows without. Faces
   whose landmarks come from the fallback are scored apart (``landmark_fallback`` in the per-face table,
   the ``all_fallback`` rows of the summary); the per-emotion and ``all`` rows hold the other faces.
2. maps: :func:`~fer_explain.analysis.dataset_explain.explain_dataset` (the checkpoint's evaluation view
   through :class:`~fer_explain.train.inputs.CheckpointInput`, the registry's explainers and defaults)
   explains every face for its true class in ``explain_true/`` and, for the misclassified faces only,
   for the predicted class in ``explain_predicted/`` (a correct face's predicted-class map *is* its
   true-class map, so no face is explained twice). Both folders resume like ``fer-explain explain``.
3. masks: each face's codebook mask (:func:`~fer_explain.faces.action_units.emotion_masks`: the union
   of the face areas of the emotion's prototype AUs) in the view, for the explained class.
4. scores (:mod:`fer_explain.explain.mask_scores`): IoU and F1 of the map's top 15 % pixels
   (``top15``) and of the pixels above its Otsu threshold (``otsu``), and the pointing game. Beside the
   methods, three reference maps are scored the same way: ``random`` (uniform noise: chance),
   ``gaussian`` (a centred blob, sigma a quarter of the side: the centre bias) and ``ideal`` (the mask
   itself: the ceiling of each protocol).

Neutral has no action unit, so its faces get no score (NaN) and no summary row.

On disk (``out_dir``)
---------------------
``au_alignment.csv``
    the summary: ``method, emotion, target, threshold, iou, f1, pointing_game, n``; ``target`` is
    ``true`` or ``predicted`` (scored against the mask of the class explained), ``emotion`` that class
    or ``all`` / ``all_fallback``; means over faces, ``n`` the faces scored (the pointing game does not
    depend on the threshold and repeats on both rows).
``au_alignment_faces.csv``
    one row per face, method and target: the per-face numbers behind the summary.
``au_alignment_population.csv``, ``au_alignment.png``
    population maps (true class; each face's map aligned to the mean face, positive part scaled to sum
    1, averaged per emotion: :func:`~fer_explain.analysis.population.population_maps`) scored against
    the codebook mask drawn on the mean face (the protocol of Gaya-Morey et al. 2024, who score global
    maps), and drawn beside that mask.
``au_alignment.json``, ``faces.csv``
    the run record (arguments, landmark sources, files) and the faces with their landmarks (reused by a
    rerun, so dlib runs once).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors import safe_open
from tqdm.auto import tqdm

from fer_explain._atomic import atomic_path, atomic_write_bytes
from fer_explain.analysis.dataset_explain import ExplainArgumentError, ExplainRun, explain_dataset
from fer_explain.analysis.population import plot_population_grid, population_maps, reference_landmarks
from fer_explain.data.manifest import Manifest
from fer_explain.data.splits import stratified_draw
from fer_explain.explain import explainer_applies, list_explainers
from fer_explain.explain import mask_scores as ms
from fer_explain.faces.action_units import EMOTION_AUS, emotion_masks
from fer_explain.faces.landmarks import extract_landmarks, landmark_summary
from fer_explain.train.checkpoint import load_checkpoint

__all__ = ["COLUMNS", "REFERENCES", "THRESHOLDS", "AUAlignmentRun", "alignment_scores", "au_alignment",
           "summarize"]

COLUMNS: tuple[str, ...] = ("method", "emotion", "target", "threshold", "iou", "f1", "pointing_game", "n")
"""The summary's columns (``au_alignment.csv``)."""
THRESHOLDS: tuple[str, ...] = ("top15", "otsu")
TOP_FRACTION = 0.15
REFERENCES: tuple[str, ...] = ("random", "gaussian", "ideal")
"""Reference maps scored beside the methods."""
TARGETS: tuple[str, ...] = ("true", "predicted")
OVERALL, OVERALL_FALLBACK = "all", "all_fallback"
TABLE_FILE, FACES_FILE, POPULATION_FILE = "au_alignment.csv", "au_alignment_faces.csv", "au_alignment_population.csv"
FIGURE_FILE, RECORD_FILE, FACES_MANIFEST = "au_alignment.png", "au_alignment.json", "faces"
GAUSSIAN_SIGMA = 0.25
"""The ``gaussian`` reference's standard deviation, a fraction of the image side."""
_SCORES = ("iou_top15", "f1_top15", "iou_otsu", "f1_otsu", "pointing_game")


@dataclass
class AUAlignmentRun:
    """What :func:`au_alignment` wrote: the summary, the per-face and population tables, the landmark
    sources (:func:`~fer_explain.faces.landmarks.landmark_summary`) and the figure's path."""

    out_dir: Path
    table: pd.DataFrame
    faces: pd.DataFrame
    population: pd.DataFrame
    landmarks: pd.DataFrame
    figure: Path
    methods: list[str]

    @property
    def n_faces(self) -> int:
        return int(self.landmarks["rows"].sum())

    @property
    def detected_share(self) -> float:
        """Share of the faces whose landmarks dlib's detector found (not the fallback)."""
        return float(self.landmarks.loc["detected", "rows"]) / max(self.n_faces, 1)


# --------------------------------------------------------------------------- scoring
def alignment_scores(maps: Any, masks: Any, fraction: float = TOP_FRACTION, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-face scores of maps ``(N, H, W)`` against masks ``(N, H, W)``: ``iou_top15``, ``f1_top15``
    (the top ``fraction`` of each map), ``iou_otsu``, ``f1_otsu`` and ``pointing_game``, each ``(N,)``
    (NaN for an empty mask)."""
    top = ms.top_fraction(maps, fraction, seed=seed)
    otsu = ms.otsu_binarize(maps)
    return {"iou_top15": ms.mask_iou(top, masks).numpy(), "f1_top15": ms.mask_f1(top, masks).numpy(),
            "iou_otsu": ms.mask_iou(otsu, masks).numpy(), "f1_otsu": ms.mask_f1(otsu, masks).numpy(),
            "pointing_game": ms.pointing_hits(maps, masks).numpy()}


def summarize(faces: pd.DataFrame, emotions: Sequence[str] | None = None) -> pd.DataFrame:
    """The summary (:data:`COLUMNS`) of a per-face table (columns ``method``, ``target``, ``emotion``,
    ``landmark_fallback`` and the scores of :func:`alignment_scores`): means per method, target and
    emotion over faces with landmarks other than the fallback, then ``all`` over those faces and
    ``all_fallback`` over the fallback faces; faces without a mask (NaN) are left out and rows with no
    face are dropped."""
    rows = []
    order = list(emotions) if emotions is not None else list(dict.fromkeys(faces["emotion"]))
    scored = faces[faces["iou_top15"].notna()]
    for method in dict.fromkeys(faces["method"]):
        for target in TARGETS:
            sel = scored[(scored["method"] == method) & (scored["target"] == target)]
            good, fallback = sel[~sel["landmark_fallback"]], sel[sel["landmark_fallback"]]
            groups = [(e, good[good["emotion"] == e]) for e in order] + [(OVERALL, good), (OVERALL_FALLBACK, fallback)]
            for emotion, g in groups:
                if len(g) == 0:
                    continue
                for thr in THRESHOLDS:
                    rows.append({"method": method, "emotion": emotion, "target": target, "threshold": thr,
                                 "iou": float(g[f"iou_{thr}"].mean()), "f1": float(g[f"f1_{thr}"].mean()),
                                 "pointing_game": float(g["pointing_game"].mean()), "n": len(g)})
    return pd.DataFrame(rows, columns=list(COLUMNS))


# --------------------------------------------------------------------------- inputs
def _select(manifest: Manifest, split: str | None, where: str) -> Manifest:
    if split is None:
        faces = manifest
    else:
        present = sorted(str(s) for s in manifest.df["split"].dropna().unique())
        faces = manifest.replace(manifest.df[manifest.df["split"] == split])
        if len(faces) == 0:
            raise ExplainArgumentError("split", f"split {split!r} has no rows in manifest {where}; its splits: {present}")
    if len(faces) == 0:
        raise ExplainArgumentError("split", f"manifest {where} has no rows")
    return faces


def _methods(methods: Sequence[str] | str | None, model: torch.nn.Module, checkpoint: Any) -> list[str]:
    valid = list_explainers()
    if methods is None:
        return [m for m in valid if explainer_applies(m, model)]
    names = [m.strip() for m in (methods.split(",") if isinstance(methods, str) else methods) if m.strip()]
    bad = [m for m in names if m not in valid]
    if bad:
        raise ExplainArgumentError("methods", f"unknown explanation method(s) {bad}; valid: {valid}")
    if not names:
        raise ExplainArgumentError("methods", f"name at least one method; valid: {valid}")
    if len(set(names)) != len(names):
        raise ExplainArgumentError("methods", f"a method is named twice in {names}")
    cannot = [m for m in names if not explainer_applies(m, model)]
    if cannot:
        raise ExplainArgumentError("methods", f"method(s) {cannot} cannot explain checkpoint {checkpoint} "
                                              f"({type(model).__name__})")
    return names


def _with_landmarks(faces: Manifest, out: Path, upsample: int, progress: bool) -> Manifest:
    """The faces with landmarks (computed for rows without; reused from ``out`` when a rerun has them)."""
    if faces.has_landmarks().all():
        return faces
    key = {"faces_hash": faces.content_hash(), "upsample": int(upsample)}
    cached, record = out / f"{FACES_MANIFEST}.csv", out / RECORD_FILE
    if cached.is_file() and record.is_file():
        try:
            if json.loads(record.read_text(encoding="utf-8")).get("landmarks_key") == key:
                return Manifest.load(cached)
        except (OSError, ValueError):
            pass
    done, _ = extract_landmarks(faces, upsample=upsample, fallback=True, progress=progress)
    done.save(out / FACES_MANIFEST)
    _write_record(out, {"landmarks_key": key})
    return Manifest.load(cached)  # as a rerun will read it, so both hash the same table


def _write_record(out: Path, update: Mapping[str, Any]) -> None:
    path = out / RECORD_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        record = {}
    record.update(update)
    atomic_write_bytes(path, (json.dumps(record, indent=2, default=str) + "\n").encode("utf-8"))


# --------------------------------------------------------------------------- explanations
@dataclass
class _Maps:
    maps: dict[str, torch.Tensor]  # method -> (N, H, W) float32, faces in run order
    table: pd.DataFrame  # explain_dataset's table, sorted by position
    landmarks: np.ndarray | None  # (N, 68, 2) in the view


def _read(run: ExplainRun, methods: Sequence[str], landmarks: bool) -> _Maps:
    assert run.table is not None
    parts: dict[str, list[torch.Tensor]] = {m: [] for m in methods}
    lms = []
    for path in run.shard_paths:
        with safe_open(str(path), framework="pt") as f:
            for m in methods:
                parts[m].append(f.get_tensor(f"maps.{m}").float())
            if landmarks:
                lms.append(f.get_tensor("landmarks").numpy())
    table = run.table.sort_values("position").reset_index(drop=True)
    return _Maps({m: torch.cat(v) for m, v in parts.items()}, table,
                 np.concatenate(lms).astype(np.float64) if landmarks else None)


def _explain(checkpoint: Any, faces: Manifest, out: Path, target: str, methods: list[str],
             options: Mapping[str, Any]) -> ExplainRun:
    return explain_dataset(checkpoint, faces, out, split=None, methods=methods, target=target,
                           landmarks="manifest", regions=["face"], dtype="float32", **options)


# --------------------------------------------------------------------------- the one call
def au_alignment(
    checkpoint: str | Path,
    manifest: str | Path | Manifest,
    out_dir: str | Path,
    *,
    split: str | None = "test",
    methods: Sequence[str] | str | None = None,
    max_faces: int | None = None,
    seed: int = 0,
    upsample: int = 1,
    batch_size: int = 32,
    images_per_forward: int | str = 128,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> AUAlignmentRun:
    """Score ``checkpoint``'s explanations of the faces of ``split`` against the action-unit codebook.

    Args:
        checkpoint: the checkpoint's name (``ckpt/run``) or either of its files.
        manifest: a manifest path or a :class:`Manifest`.
        out_dir: the output folder (see the module docstring; a rerun resumes in it).
        split: the split to score (``None``: every row).
        methods: explainer names (default: every explainer of the registry the model can run).
        max_faces: score a class-stratified draw of this many faces (seeded with ``seed``); None: all.
        seed: of the draw, the ``random`` reference and top-15 % tie-breaking.
        upsample: dlib's upsampling for faces without landmarks (1 finds 68 % of FER2013's faces).
        batch_size, images_per_forward, device: as in :func:`~fer_explain.analysis.dataset_explain.explain_dataset`.
        progress: progress bars.

    Raises:
        ExplainArgumentError: (a :class:`~fer_explain.data.errors.UserError` naming the argument) an unknown
            method or one the model cannot run, a split without rows, labels outside the checkpoint's
            classes, ``max_faces`` < 1, or an output folder that holds another run.
        FileNotFoundError: a missing manifest or checkpoint (the message names it).
    """
    if max_faces is not None and (not isinstance(max_faces, int) or max_faces < 1):
        raise ExplainArgumentError("max_faces", f"max_faces must be a positive integer, got {max_faces!r}")
    where = str(manifest) if not isinstance(manifest, Manifest) else repr(manifest.name or "(unnamed)")
    man = manifest if isinstance(manifest, Manifest) else Manifest.load(manifest)
    faces = _select(man, split, where)
    model, meta = load_checkpoint(checkpoint)
    names = _methods(methods, model, checkpoint)
    classes = [str(c) for c in (meta.get("classes") or faces.classes)]
    labels = faces.df["label"].astype(str)
    outside = sorted(set(labels[~labels.isin(classes)]))
    if outside:
        raise ExplainArgumentError("manifest", f"labels {outside} of manifest {where} are not classes of checkpoint "
                                               f"{checkpoint} {classes}")
    if max_faces is not None and max_faces < len(faces):
        faces = faces.replace(faces.df.iloc[stratified_draw(labels.to_numpy(), max_faces, seed=seed)])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    faces = _with_landmarks(faces, out, upsample, progress)
    options = {"batch_size": batch_size, "images_per_forward": images_per_forward, "device": device,
               "progress": progress}
    true = _read(_explain(checkpoint, faces, out / "explain_true", "label", names, options), names, landmarks=True)
    assert true.landmarks is not None
    n, size = len(true.table), int(next(iter(true.maps.values())).shape[-1])
    label_names = true.table["label"].astype(str).to_numpy()
    wrong = np.flatnonzero(true.table["prediction"].astype(str).to_numpy() != label_names)
    predicted_maps = {m: v.clone() for m, v in true.maps.items()}
    predicted = true.table["prediction"].astype(str).to_numpy().copy()
    if wrong.size:
        sub = faces.replace(faces.df.iloc[true.table["position"].to_numpy()[wrong]])
        pred = _read(_explain(checkpoint, sub, out / "explain_predicted", "prediction", names, options), names,
                     landmarks=False)
        for m in names:
            predicted_maps[m][torch.as_tensor(wrong)] = pred.maps[m]
        predicted[wrong] = pred.table["target"].astype(str).to_numpy()  # the class its map explains

    lm = true.landmarks
    codebook = [c for c in classes if c in EMOTION_AUS]
    all_masks = emotion_masks(lm, size, codebook)
    empty = np.zeros((size, size), dtype=bool)

    def masks_of(explained: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.stack([all_masks[e][i] if e in all_masks else empty
                                          for i, e in enumerate(explained)]) if n else np.zeros((0, size, size), bool))

    fallback = true.table["landmark_source"].astype(str).to_numpy() == "fallback"
    base = pd.DataFrame({"position": true.table["position"], "face_id": true.table["face_id"], "label": label_names,
                         "prediction": true.table["prediction"].astype(str), "landmark_source":
                         true.table["landmark_source"].astype(str), "landmark_fallback": fallback})
    references = {"random": ms.random_maps(n, size, seed), "gaussian": ms.gaussian_maps(n, size, GAUSSIAN_SIGMA)}
    frames = []
    steps = [(m, t) for m in [*names, *REFERENCES] for t in TARGETS]
    for method, target in tqdm(steps, desc="AU alignment scores", disable=not progress, leave=False):
        explained = label_names if target == "true" else predicted
        masks = masks_of(explained)
        if method == "ideal":
            maps = ms.ideal_maps(masks)
        elif method in references:
            maps = references[method]
        else:
            maps = (true.maps if target == "true" else predicted_maps)[method]
        scores = alignment_scores(maps, masks, seed=seed)
        frames.append(base.assign(method=method, target=target, emotion=explained, **scores))
    per_face = pd.concat(frames, ignore_index=True)
    table = summarize(per_face, classes)

    # population maps (true class, faces with landmarks other than the fallback) beside the codebook mask
    keep = ~fallback
    ref = reference_landmarks(size)
    template = {e: m[0] for e, m in emotion_masks(ref[None].astype(np.float64), size, codebook).items()}
    pop_rows, grid = [], {"codebook": {e: template[e].astype(np.float32) for e in codebook if template[e].any()}}
    true_masks = masks_of(label_names)
    for method in [*names, *REFERENCES]:
        maps = (ms.ideal_maps(true_masks) if method == "ideal" else references[method] if method in references
                else true.maps[method])
        pops = population_maps(maps[torch.as_tensor(keep)], lm[keep], label_names[keep], classes)
        pops = {e: p for e, p in pops.items() if e in template and template[e].any()}
        if method not in REFERENCES:
            grid[method] = pops
        for e, p in pops.items():
            scores = alignment_scores(p[None], template[e][None], seed=seed)
            for thr in THRESHOLDS:
                pop_rows.append({"method": method, "emotion": e, "threshold": thr,
                                 "iou": float(scores[f"iou_{thr}"][0]), "f1": float(scores[f"f1_{thr}"][0]),
                                 "pointing_game": float(scores["pointing_game"][0]),
                                 "n": int((label_names[keep] == e).sum())})
    population = pd.DataFrame(pop_rows, columns=["method", "emotion", "threshold", "iou", "f1", "pointing_game", "n"])
    emotions = [e for e in classes if e in grid["codebook"] and any(e in g for k, g in grid.items() if k != "codebook")]
    figure = out / FIGURE_FILE
    if emotions:
        fig = plot_population_grid(grid, emotions=emotions, title="population maps vs AU codebook")
        with atomic_path(figure) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
        import matplotlib.pyplot as plt

        plt.close(fig)

    for name, df in ((TABLE_FILE, table), (FACES_FILE, per_face), (POPULATION_FILE, population)):
        atomic_write_bytes(out / name, df.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    lm_table = landmark_summary(faces)
    _write_record(out, {
        "format": "fer_explain.au_alignment", "checkpoint": str(checkpoint), "manifest": where, "split": split,
        "faces": n, "max_faces": max_faces, "seed": seed, "methods": names, "references": list(REFERENCES),
        "misclassified": int(wrong.size), "top_fraction": TOP_FRACTION, "gaussian_sigma": GAUSSIAN_SIGMA,
        "landmark_sources": {str(k): int(v) for k, v in lm_table["rows"].items() if v},
        "files": [TABLE_FILE, FACES_FILE, POPULATION_FILE] + ([FIGURE_FILE] if emotions else []),
    })
    return AUAlignmentRun(out, table, per_face, population, lm_table, figure, names)
