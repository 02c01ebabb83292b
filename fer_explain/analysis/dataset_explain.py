"""Explain every face of a manifest split with one checkpoint: per-face maps in shards plus one table.

Its one job is :func:`explain_dataset` (what ``fer-explain explain`` runs)::

    >>> run = explain_dataset("checkpoints/synthetic/se_resnet18", "synth/manifest.csv", "expl/",
    ...                       split="test", methods=("gradcam", "occlusion", "regions"))
    >>> run.table.filter(like="gradcam_mass_").groupby(run.table["label"]).mean()

Faces are read in the checkpoint's evaluation view (:class:`~fer_explain.train.inputs.CheckpointInput`),
explained in batches of ``batch_size`` faces with the registry's explainers and defaults
(:func:`~fer_explain.explain.make_explainer`; ``"regions"`` is face-region masking,
:class:`~fer_explain.explain.RegionAblation` over :func:`~fer_explain.faces.regions.base_feature_mask`),
and scored with :mod:`fer_explain.explain.metrics`. The explained class is the true label
(``target="label"``) or the prediction (``target="prediction"``). Region statistics use the landmarks of
the manifest, or computed on the fly (``landmarks="compute"``, dlib through
:func:`~fer_explain.faces.landmarks.extract_landmarks`), in the view, with :data:`REGION_DEFAULTS`
unless told otherwise; ``landmarks="none"`` skips them.

On disk (``out_dir``)
---------------------
``explain.json``
    the run record, written once when the run starts: ``key`` (checkpoint SHA-256, architecture,
    input and view, the split's manifest hash, every argument that changes a number), the shard list,
    the names of the ``stats`` columns. A folder whose record holds another key is refused.
``shard-00000.safetensors`` ...
    shard ``i`` holds the faces at positions ``[i * shard_size, (i + 1) * shard_size)`` of the split,
    written atomically (a temporary file, then ``os.replace``): ``maps.<method>`` ``(n, H, W)`` at the
    input resolution in the view (``float16`` by default), ``position`` ``(n,)`` int64, ``probs``
    ``(n, K)`` float32, ``stats`` ``(n, S)`` float64 (the table's numbers), and with regions
    ``landmarks`` ``(n, 68, 2)`` float32 in the view and ``landmark_source`` ``(n,)`` int8 (an index
    into :data:`LANDMARK_SOURCE_CODES`); its metadata ``explain`` (JSON) names the run, the shard and
    its faces ``[start, end]``.
``table.parquet``, ``table.csv``
    one row per face: ``face_id`` (image, ``#pixel_row`` for pixel CSVs), ``position``, ``label``,
    ``label_index`` (in the checkpoint's classes, -1 if absent), ``target``, ``prediction``,
    ``correct``, ``prob_<class>``, ``landmark_source`` and ``landmark_fallback`` (regions only), then per
    method ``<m>_mass_<region>`` (share of the positive map in each region), ``<m>_sparsity`` (Gini)
    and ``<m>_drop`` (the target's probability minus its probability with the map's top 10 % pixels
    set to black: the first step of :func:`~fer_explain.explain.metrics.deletion_curve`; with the
    default target, the drop for the true class); ``regions`` adds ``regions_drop_<region>`` (the drop
    when each of :data:`~fer_explain.faces.regions.BASE_FEATURE_IDS`'s regions is blacked out) and
    ``shard``. Written by rank 0 once every shard exists (rewritten, identically, by a rerun).

Resume, sharding, memory
------------------------
A rerun with the same arguments skips every shard whose file is complete (it only ever appears by
an atomic rename and names the run) and recomputes the rest. A shard's batches are fixed (faces
``[start, start + batch_size)``, ... of the shard; occlusion's ``perturbations_per_eval`` follows from
``images_per_forward`` and the batch), so a killed and resumed run ends bit-identical to an
uninterrupted one. ``images_per_forward="auto"`` measures the fastest forward size once
(:func:`~fer_explain.explain.occlusion.calibrated_batch`) and the faster layout of the model for
occlusion's and region masking's forwards (:func:`~fer_explain.explain.memory_format.fastest_memory_format`,
NHWC on this project's CPUs) and records both in ``explain.json``: resumed runs reuse them, but two fresh
runs may measure differently (same maps to ~1e-6, not bit for bit). With an explicit ``images_per_forward``
the model runs as it is (``"contiguous"``), measured nothing.
Bit-identical means: the same software and device type (float results depend on the batch size,
which is why batches are fixed, and on kernels). Under ``torchrun`` every rank takes shards
``rank, rank + N, ...`` (disjoint; rank 0 writes ``explain.json`` before any shard, the ranks meet at
a barrier, and again before rank 0 writes the table), so the files equal a single process's.

Memory is bounded by the shard size: one shard is held at a time, its maps at most three times over
(per batch, concatenated, serialised): ``3 x shard_size x methods x H x W x 2`` bytes in float16
(512 faces, 3 methods at 48 px: 21 MB), plus the faces and landmarks of one batch and one forward
pass's perturbed copies (``images_per_forward`` images for occlusion and region masking, 256 for the
deletion drop).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import Tensor
from tqdm.auto import tqdm

from fer_explain._atomic import atomic_path, atomic_write_bytes
from fer_explain.data.errors import InvalidOptionError
from fer_explain.data.manifest import LANDMARK_SOURCES, Manifest
from fer_explain.explain import (
    REGION_DEFAULTS,
    RegionAblation,
    explainer_applies,
    list_explainers,
    make_explainer,
)
from fer_explain.explain import metrics as xm
from fer_explain.explain.base import explaining
from fer_explain.explain.memory_format import fastest_memory_format, forward_format
from fer_explain.explain.occlusion import balanced_chunk, calibrated_batch, window_starts
from fer_explain.explain.registry import occlusion_window
from fer_explain.faces.landmarks import extract_landmarks, predictor_path
from fer_explain.faces.regions import (
    BASE_FEATURE_IDS,
    BASE_REGIONS,
    MEAN_FACE_68,
    base_ids,
    get_region,
    list_regions,
    margin_pixels,
    region_masks_many,
)
from fer_explain.train.checkpoint import checkpoint_paths, file_sha256, load_checkpoint
from fer_explain.train.distributed import DistInfo, setup_distributed
from fer_explain.train.inputs import CheckpointInput

__all__ = ["LANDMARK_SOURCE_CODES", "REGION_METHOD", "ExplainArgumentError", "ExplainRun", "dataset_methods",
           "explain_dataset"]

REGION_METHOD = "regions"
"""The method name of face-region masking (needs landmarks), beside the registry's explainers."""
RECORD_FILE = "explain.json"
TABLE_FILES = ("table.parquet", "table.csv")
RECORD_FORMAT = "fer_explain.explain_run"
FORMAT_VERSION = 1
DELETION_STEPS = 10
"""``<m>_drop`` is the first of 10 deletion steps: the map's top 10 % pixels set to black."""
LANDMARK_SOURCE_CODES: tuple[str, ...] = ("none", *LANDMARK_SOURCES, "unknown")
"""What the shards' ``landmark_source`` codes mean."""
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
LANDMARK_MODES = ("manifest", "compute", "none")


class ExplainArgumentError(InvalidOptionError):
    """A bad argument of :func:`explain_dataset`; ``argument`` is the parameter's name (the CLI shows its flag)."""

    def __init__(self, argument: str, message: str):
        super().__init__(message)
        self.argument = argument


def dataset_methods() -> list[str]:
    """Method names :func:`explain_dataset` accepts: the registry's and :data:`REGION_METHOD`."""
    return [*list_explainers(), REGION_METHOD]


@dataclass
class ExplainRun:
    """What :func:`explain_dataset` did: the folder, the record, the shards computed now and skipped
    (found complete), and the table (``None`` on ranks other than 0)."""

    out_dir: Path
    record: dict[str, Any]
    computed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    table: pd.DataFrame | None = None
    rank: int = 0

    @property
    def shard_paths(self) -> list[Path]:
        return [self.out_dir / s["file"] for s in self.record["shards"]]


@dataclass
class _Setup:
    model: torch.nn.Module
    inp: CheckpointInput
    faces: Manifest
    device: torch.device
    methods: list[str]
    target: str
    landmarks: str
    region_set: str
    margin: Any
    regions: list[str]
    label_index: np.ndarray
    batch_size: int
    dtype: torch.dtype
    images_per_forward: int = 0
    memory_format: str = "contiguous"


# --------------------------------------------------------------------------- arguments
def _check_arguments(methods: Sequence[str], target: str, landmarks: str, shard_size: int, batch_size: int,
                     dtype: str, images_per_forward: int | str) -> list[str]:
    methods = [m.strip() for m in ([methods] if isinstance(methods, str) else methods) if m.strip()]
    valid = dataset_methods()
    bad = [m for m in methods if m not in valid]
    if bad:
        raise ExplainArgumentError("methods", f"unknown explanation method(s) {bad}; valid: {valid}")
    if not methods:
        raise ExplainArgumentError("methods", f"name at least one method; valid: {valid}")
    if len(set(methods)) != len(methods):
        raise ExplainArgumentError("methods", f"a method is named twice in {methods}")
    if target not in ("label", "prediction"):
        raise ExplainArgumentError("target", f"target must be 'label' or 'prediction', got {target!r}")
    if landmarks not in LANDMARK_MODES:
        raise ExplainArgumentError("landmarks", f"landmarks must be one of {LANDMARK_MODES}, got {landmarks!r}")
    if landmarks == "none" and REGION_METHOD in methods:
        raise ExplainArgumentError("methods", f"method {REGION_METHOD!r} needs landmarks (landmarks='none' was given)")
    for name, value in (("shard_size", shard_size), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ExplainArgumentError(name, f"{name} must be a positive integer, got {value!r}")
    if dtype not in DTYPES:
        raise ExplainArgumentError("dtype", f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    if images_per_forward != "auto" and (not isinstance(images_per_forward, int) or images_per_forward < 1):
        raise ExplainArgumentError("images_per_forward",
                                   f"images_per_forward must be a positive integer or 'auto', got {images_per_forward!r}")
    return methods


def _select(manifest: Manifest, split: str | None, where: str) -> Manifest:
    if split is None:
        faces = manifest
    else:
        present = sorted(str(s) for s in manifest.df["split"].dropna().unique())
        faces = manifest.replace(manifest.df[manifest.df["split"] == split]) if split in present else None
        if faces is None or len(faces) == 0:
            raise ExplainArgumentError("split", f"split {split!r} has no rows in manifest {where}; its splits: {present}")
    if len(faces) == 0:
        raise ExplainArgumentError("split", f"manifest {where} has no rows")
    return faces



def _run_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _stat_columns(methods: Sequence[str], regions: Sequence[str]) -> list[str]:
    cols = ["target", "prediction"]
    for m in methods:
        cols += [f"{m}_mass_{r}" for r in regions] + [f"{m}_sparsity", f"{m}_drop"]
        if m == REGION_METHOD:
            cols += [f"{REGION_METHOD}_drop_{name}" for name in BASE_FEATURE_IDS.values()]
    return cols


# --------------------------------------------------------------------------- the run record
def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _claim(out: Path, record: dict[str, Any], dist_info: DistInfo) -> dict[str, Any]:
    """Check that ``out`` is free or holds this run (raising before anything is written); rank 0 writes the
    record of a new run. Returns the record in force (the existing one on a rerun)."""
    path = out / RECORD_FILE
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ExplainArgumentError("out_dir", f"{path}: unreadable run record ({exc}); pass another output "
                                                  "folder") from None
        if not isinstance(old, dict) or old.get("format") != RECORD_FORMAT or not isinstance(old.get("key"), dict):
            raise ExplainArgumentError("out_dir", f"{path} is not a fer_explain explain record; pass another "
                                                  "output folder")
        new_key, old_key = record["key"], old["key"]
        diff = [k for k in sorted(set(new_key) | set(old_key)) if new_key.get(k) != old_key.get(k)]
        if diff:
            details = "; ".join(f"{k}: {_short(old_key.get(k))} there, {_short(new_key.get(k))} now" for k in diff[:4])
            raise ExplainArgumentError("out_dir", f"output folder {out} holds the shards of another run ({path} "
                                                  f"differs in {', '.join(diff)}: {details}); pass another output "
                                                  "folder or delete it")
        return old
    stray = sorted(out.glob("shard-*.safetensors")) if out.is_dir() else []
    if stray:
        raise ExplainArgumentError("out_dir", f"output folder {out} holds shards ({stray[0].name}, ...) but no "
                                              f"{RECORD_FILE}: they belong to an unknown run; pass another output folder")
    if dist_info.is_main:
        atomic_write_bytes(path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return record


def _shard_done(path: Path, run: str, start: int, end: int) -> bool:
    """A complete shard of this run: it exists (atomic rename) and its metadata names the run and its faces."""
    if not path.is_file():
        return False
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (OSError, SafetensorError):  # a damaged file is recomputed (it is ours: it names no other run)
        return False
    try:
        info = json.loads(meta.get("explain", ""))
    except ValueError:
        return False
    return isinstance(info, dict) and info.get("run") == run and info.get("faces") == [start, end]


# --------------------------------------------------------------------------- explaining
def _copies_per_forward(setup: _Setup, n_copies: int, n: int) -> int:
    """Perturbed copies of a batch of ``n`` faces per forward pass, out of ``n_copies`` (occlusion's window
    positions, region masking's regions): ``images_per_forward`` images (the calibrated size when
    ``"auto"``; all regions of a 32-face batch at once spilled past it), balanced over the copies."""
    return balanced_chunk(n_copies, max(1, setup.images_per_forward // n))


def _occlusion_ppe(setup: _Setup, n: int) -> int:
    window, stride = occlusion_window(setup.inp.size)
    return _copies_per_forward(setup, len(window_starts(setup.inp.size, window, stride)) ** 2, n)


def _first_deletion_drop(model: torch.nn.Module, x: Tensor, exp: Any, black: Tensor) -> Tensor:
    """``<m>_drop``: step 1 of :func:`~fer_explain.explain.metrics.deletion_curve` (``DELETION_STEPS`` steps,
    black baseline: the same pixels, ranked the same way) in one forward pass instead of the whole curve,
    from the explainer's own unperturbed probabilities."""
    n, _, h, w = x.shape
    k = int(torch.round(torch.linspace(0, h * w, DELETION_STEPS + 1))[1])
    order = exp.maps.flatten(1).to(x.device).argsort(dim=1, descending=True, stable=True)
    changed = torch.zeros(n, h * w, dtype=torch.bool, device=x.device).scatter_(1, order[:, :k], True)
    with torch.no_grad():
        batch = torch.where(changed.view(n, 1, h, w), black.expand_as(x), x)
        p1 = model(batch).float().softmax(dim=1).gather(1, exp.targets.to(x.device)[:, None])[:, 0]
    return (exp.target_probs.to(x.device) - p1).double().cpu()


def _explain_batch(setup: _Setup, x: Tensor, targets: Tensor | None, lm: np.ndarray | None,
                   ) -> tuple[dict[str, Tensor], Tensor, dict[str, Tensor]]:
    """Maps per method, probabilities and the stats columns of one batch of faces."""
    model, size, black = setup.model, setup.inp.size, setup.inp.black().to(x.device)
    # every region mask of the batch at once (each hull rasterised once), the base partition included
    wanted = list(dict.fromkeys([*setup.regions, *(BASE_REGIONS if REGION_METHOD in setup.methods else ())]))
    all_masks = region_masks_many(lm, wanted, (size, size), margin=setup.margin,
                                  region_set=setup.region_set) if lm is not None else {}
    masks = {r: all_masks[r] for r in setup.regions} if lm is not None else {}
    maps: dict[str, Tensor] = {}
    cols: dict[str, Tensor] = {}
    probs: Tensor | None = None
    for m in setup.methods:
        if m == REGION_METHOD:
            assert lm is not None
            fm = base_ids(all_masks)
            ppe = _copies_per_forward(setup, len(BASE_FEATURE_IDS), len(x))
            exp = RegionAblation(model, fm, baseline=black, perturbations_per_eval=ppe,
                                 memory_format=setup.memory_format).attribute(x, target=targets)
            names = list(BASE_FEATURE_IDS.values())
            drops = torch.full((len(x), len(names)), float("nan"), dtype=torch.float64)
            for j, rid in enumerate(exp.extras["region_ids"]):
                col = exp.extras["drops"][:, j].double()
                drops[:, list(BASE_FEATURE_IDS).index(rid)] = torch.where(exp.extras["present"][:, j], col, math.nan)
            cols |= {f"{REGION_METHOD}_drop_{name}": drops[:, k] for k, name in enumerate(names)}
        else:
            params = ({"perturbations_per_eval": _occlusion_ppe(setup, len(x)), "memory_format": setup.memory_format}
                      if m == "occlusion" else {})
            exp = make_explainer(m, model, input_size=size, black=black, **params).attribute(x, target=targets)
        if probs is None:
            probs = exp.probs
            cols["target"], cols["prediction"] = exp.targets.double(), exp.predictions.double()
        if masks:
            mass = xm.region_mass(exp, masks)
            cols |= {f"{m}_mass_{r}": torch.tensor(mass[r].to_numpy(), dtype=torch.float64) for r in setup.regions}
        cols[f"{m}_sparsity"] = xm.sparsity(exp).double()
        cols[f"{m}_drop"] = _first_deletion_drop(model, x, exp, black)
        maps[m] = exp.maps
    assert probs is not None
    return maps, probs, cols


def _landmark_codes(faces: Manifest) -> Tensor:
    has = faces.has_landmarks()
    src = faces.df["landmark_source"] if "landmark_source" in faces.df else pd.Series([None] * len(faces))
    codes = [LANDMARK_SOURCE_CODES.index(str(s)) if h and str(s) in LANDMARK_SOURCES
             else (LANDMARK_SOURCE_CODES.index("unknown") if h else 0) for s, h in zip(src, has)]
    return torch.tensor(codes, dtype=torch.int8)


def _explain_shard(setup: _Setup, start: int, end: int, columns: list[str], bar: Any) -> dict[str, Tensor]:
    """Every tensor of one shard (faces ``start:end`` of the split), in fixed batches."""
    faces = setup.faces.replace(setup.faces.df.iloc[start:end])
    if setup.landmarks == "compute":
        faces, _ = extract_landmarks(faces, progress=False)
    lm_all = setup.inp.landmarks(faces) if setup.landmarks != "none" else None
    ds = setup.inp.dataset(faces, cache_dir=False)
    labels = torch.as_tensor(setup.label_index[start:end], dtype=torch.long)
    maps: dict[str, list[Tensor]] = {m: [] for m in setup.methods}
    probs, stats = [], []
    for b in range(0, len(faces), setup.batch_size):
        idx = range(b, min(len(faces), b + setup.batch_size))
        x = torch.stack([ds[i][0] for i in idx]).to(setup.device)
        targets = labels[b:idx.stop].to(setup.device) if setup.target == "label" else None
        lm = lm_all[b:idx.stop] if lm_all is not None else None
        bmaps, bprobs, cols = _explain_batch(setup, x, targets, lm)
        for m, v in bmaps.items():
            maps[m].append(v.to(setup.dtype))
        probs.append(bprobs.float())
        stats.append(torch.stack([cols[c].cpu() for c in columns], dim=1))
        bar.update(len(idx))
    out = {f"maps.{m}": torch.cat(v).contiguous() for m, v in maps.items()}
    out |= {"position": torch.arange(start, end, dtype=torch.int64), "probs": torch.cat(probs).contiguous(),
            "stats": torch.cat(stats).contiguous()}
    if lm_all is not None:
        out |= {"landmarks": torch.from_numpy(np.ascontiguousarray(lm_all, dtype=np.float32)),
                "landmark_source": _landmark_codes(faces)}
    return out


# --------------------------------------------------------------------------- the table
def _face_ids(faces: Manifest) -> list[str]:
    ids = faces.df["image"].astype(str).tolist()
    if "pixel_row" in faces.df:
        ids = [f"{i}#{int(p)}" if pd.notna(p) else i for i, p in zip(ids, faces.df["pixel_row"])]
    return ids


def _write_table(out: Path, record: dict[str, Any], faces: Manifest, label_index: np.ndarray) -> pd.DataFrame:
    shards = [load_file(str(out / s["file"])) for s in record["shards"]]
    pos = torch.cat([s["position"] for s in shards]).numpy()
    stats = torch.cat([s["stats"] for s in shards]).numpy()
    probs = torch.cat([s["probs"] for s in shards]).numpy()
    classes = record["key"]["classes"]
    col = {c: stats[:, j] for j, c in enumerate(record["stat_columns"])}
    target, pred = col.pop("target").astype(np.int64), col.pop("prediction").astype(np.int64)
    data: dict[str, Any] = {
        "face_id": np.asarray(_face_ids(faces), dtype=object)[pos], "position": pos,
        "label": faces.df["label"].astype(str).to_numpy()[pos], "label_index": label_index[pos],
        "target": np.asarray(classes, dtype=object)[target], "prediction": np.asarray(classes, dtype=object)[pred],
        "correct": label_index[pos] == pred,
    }
    data |= {f"prob_{c}": probs[:, k] for k, c in enumerate(classes)}
    if "landmark_source" in shards[0]:
        src = np.asarray(LANDMARK_SOURCE_CODES, dtype=object)[torch.cat([s["landmark_source"] for s in shards]).long()]
        data |= {"landmark_source": src, "landmark_fallback": src == "fallback"}
    data |= col
    data["shard"] = np.concatenate([np.full(len(s["position"]), i) for i, s in enumerate(shards)])
    df = pd.DataFrame(data)
    with atomic_path(out / TABLE_FILES[0]) as tmp:
        df.to_parquet(tmp, index=False)
    atomic_write_bytes(out / TABLE_FILES[1], df.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return df


# --------------------------------------------------------------------------- the one call
def explain_dataset(
    checkpoint: str | Path,
    manifest: str | Path | Manifest,
    out_dir: str | Path,
    *,
    split: str | None = "test",
    methods: Sequence[str] = ("gradcam", "occlusion", REGION_METHOD),
    target: str = "label",
    landmarks: str = "manifest",
    regions: Sequence[str] | None = None,
    region_set: str | None = None,
    margin: float | str | None = None,
    shard_size: int = 512,
    batch_size: int = 32,
    dtype: str = "float16",
    images_per_forward: int | str = 128,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> ExplainRun:
    """Explain every face of ``split`` with ``checkpoint``; write shards and the table into ``out_dir``.

    Args:
        checkpoint: the checkpoint's name (``ckpt/run``) or either of its files.
        manifest: a manifest path (``.csv``/``.parquet``/``.json`` or its stem) or a :class:`Manifest`.
        out_dir: the output folder (created); a rerun with the same arguments resumes in it.
        split: the split to explain (``None``: every row).
        methods: names of :func:`dataset_methods` (the registry's explainers and ``"regions"``).
        target: explain the true ``"label"`` (its index in the checkpoint's classes) or the ``"prediction"``.
        landmarks: ``"manifest"`` (every face must have them), ``"compute"`` (dlib, for rows without),
            ``"none"`` (no region statistics).
        regions: regions for ``<m>_mass_<region>`` (default: every region of ``region_set``).
        region_set, margin: default :data:`~fer_explain.explain.REGION_DEFAULTS` (symmetric, 5 %).
        shard_size: faces per shard file (and the memory bound, see the module docstring).
        batch_size: faces per explainer call.
        dtype: of the stored maps: ``"float16"``, ``"bfloat16"`` or ``"float32"``.
        images_per_forward: perturbed images per forward pass (occlusion's and region masking's
            batching), or ``"auto"``.
        device: ``"cpu"``, ``"cuda"`` (under torchrun: each rank's ``LOCAL_RANK`` GPU)...
        progress: a tqdm bar (faces/s) on rank 0.

    Raises:
        ExplainArgumentError: (a :class:`~fer_explain.data.errors.UserError`, naming the argument) an
            unknown method or one the model cannot run, a split without rows, faces without landmarks,
            labels outside the checkpoint's classes, or an output folder holding another run's shards.
            Nothing is written before these checks pass.
    """
    methods = _check_arguments(methods, target, landmarks, shard_size, batch_size, dtype, images_per_forward)
    where = str(manifest) if not isinstance(manifest, Manifest) else repr(manifest.name or "(unnamed)")
    man = manifest if isinstance(manifest, Manifest) else Manifest.load(manifest)
    faces = _select(man, split, where)
    region_set = str(REGION_DEFAULTS["region_set"] if region_set is None else region_set)
    margin = REGION_DEFAULTS["margin"] if margin is None else margin
    try:
        names = list_regions(region_set) if regions is None else [get_region(r, region_set).name for r in regions]
    except KeyError as exc:
        raise ExplainArgumentError("regions" if regions is not None else "region_set", str(exc.args[0])) from None
    try:
        margin_pixels(margin, MEAN_FACE_68[None] * 48)
    except (TypeError, ValueError) as exc:
        raise ExplainArgumentError("margin", str(exc)) from None
    names = [] if landmarks == "none" else names
    dist_info = setup_distributed(torch.device(device))
    dev = torch.device(device)
    if dev.type == "cuda" and dist_info.enabled:
        dev = torch.device("cuda", dist_info.local_rank)
    model, meta = load_checkpoint(checkpoint, device=dev)
    inp = CheckpointInput.from_checkpoint({**meta, "path": str(checkpoint)}, model)
    arch = meta.get("architecture") or type(model).__name__
    for m in methods:
        if m != REGION_METHOD and not explainer_applies(m, model):
            need = "a global-average-pooling + linear head" if m == "cam" else "SE blocks"
            raise ExplainArgumentError("methods", f"method {m!r} cannot explain checkpoint {checkpoint} ({arch}): "
                                                  f"it needs {need}")
    classes = [str(c) for c in (meta.get("classes") or faces.classes)]
    label_index = np.array([classes.index(c) if c in classes else -1 for c in faces.df["label"].astype(str)])
    if target == "label" and (label_index < 0).any():
        bad = sorted(set(faces.df["label"].astype(str)[label_index < 0]))
        raise ExplainArgumentError("target", f"labels {bad} of manifest {where} are not classes of checkpoint "
                                             f"{checkpoint} {classes}; explain the prediction instead")
    if landmarks == "manifest":
        missing = np.flatnonzero(~faces.has_landmarks())
        if missing.size:
            raise ExplainArgumentError("landmarks", f"{missing.size} of {len(faces)} faces of split {split!r} in "
                                                    f"manifest {where} have no landmarks (positions "
                                                    f"{missing[:5].tolist()}...); compute them on the fly or skip "
                                                    "the region statistics")
    elif landmarks == "compute":
        predictor_path()  # a missing dlib model fails now, not after the first shard
    weights, _ = checkpoint_paths(checkpoint)
    key = {
        "checkpoint_sha256": meta.get("weights_sha256") or file_sha256(weights), "architecture": arch,
        "classes": classes, "input": {**inp.as_block(), "view_resize": inp.view.resize},
        "manifest_hash": faces.content_hash(), "split": split, "faces": len(faces), "methods": methods,
        "target": target, "landmarks": landmarks, "region_set": region_set, "margin": margin, "regions": names,
        "shard_size": shard_size, "batch_size": batch_size, "dtype": dtype, "images_per_forward": images_per_forward,
        "device": dev.type, "deletion_steps": DELETION_STEPS, "format_version": FORMAT_VERSION,
    }
    setup = _Setup(model, inp, faces, dev, methods, target, landmarks, region_set, margin, names, label_index,
                   batch_size, DTYPES[dtype])
    run = _run_hash(key)
    bounds = [(s, min(len(faces), s + shard_size)) for s in range(0, len(faces), shard_size)]
    record = {"format": RECORD_FORMAT, "format_version": FORMAT_VERSION, "run": run, "checkpoint": str(checkpoint),
              "manifest": where, "key": key,
              "shards": [{"file": f"shard-{i:05d}.safetensors", "start": s, "end": e} for i, (s, e) in enumerate(bounds)],
              "stat_columns": _stat_columns(methods, names), "tables": list(TABLE_FILES)}
    out = Path(out_dir)
    out_exists = (out / RECORD_FILE).is_file()
    batched = "occlusion" in methods or REGION_METHOD in methods
    if images_per_forward == "auto" and not out_exists and dist_info.is_main and batched:
        x = torch.stack([inp.dataset(faces.replace(faces.df.iloc[:1]), cache_dir=False)[0][0]]).to(dev)
        with explaining(model):
            layout = fastest_memory_format(model, x)
            with forward_format(model, layout):
                record["images_per_forward"] = calibrated_batch(model, x)
        record["memory_format"] = layout
    record = _claim(out, record, dist_info)
    if dist_info.enabled:
        import torch.distributed as dist

        dist.barrier()
        record = json.loads((out / RECORD_FILE).read_text(encoding="utf-8"))
    resolved = record.get("images_per_forward", images_per_forward)
    setup.images_per_forward = int(resolved) if resolved != "auto" else 1
    setup.memory_format = str(record.get("memory_format", "contiguous"))

    result = ExplainRun(out, record, rank=dist_info.rank)
    mine = [i for i in range(len(bounds)) if i % dist_info.world_size == dist_info.rank]
    todo = []
    for i in mine:
        s, e = bounds[i]
        path = out / record["shards"][i]["file"]
        for stale in out.glob(f".{path.name}.*.tmp"):  # left by a run killed while writing
            stale.unlink(missing_ok=True)
        (result.skipped if _shard_done(path, run, s, e) else todo).append(i)
    bar = tqdm(total=sum(bounds[i][1] - bounds[i][0] for i in todo), unit="face", desc=f"explain {split or 'all'}",
               disable=not progress or not dist_info.is_main, dynamic_ncols=True)
    try:
        for i in todo:
            s, e = bounds[i]
            bar.set_postfix(shard=f"{i + 1}/{len(bounds)}")
            tensors = _explain_shard(setup, s, e, record["stat_columns"], bar)
            # one metadata entry: safetensors writes several in a random order, and the bytes must not vary
            info = json.dumps({"format": RECORD_FORMAT, "run": run, "shard": i, "faces": [s, e]}, sort_keys=True)
            atomic_write_bytes(out / record["shards"][i]["file"], safetensors_bytes(tensors, metadata={"explain": info}))
            result.computed.append(i)
    finally:
        bar.close()
    if dist_info.enabled:
        import torch.distributed as dist

        dist.barrier()
    if dist_info.is_main:
        result.table = _write_table(out, record, faces, label_index)
    return result
