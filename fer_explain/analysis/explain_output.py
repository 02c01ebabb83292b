"""Read what ``fer-explain explain`` wrote, so analyses reuse its maps instead of recomputing them.

:func:`~fer_explain.analysis.dataset_explain.explain_dataset` leaves a folder of shards and one table (see
its module docstring). Here:

* :func:`load_explain_run` -- the folder -> an :class:`~fer_explain.analysis.dataset_explain.ExplainRun`
  (its record and table), refusing a folder that is not a finished run (the message names it);
* :func:`run_maps` -- one method's maps (``float32``, in the checkpoint's view) as an
  :class:`~fer_explain.explain.Explanation` with the faces' landmarks in the view, their true labels and
  split positions (:class:`RunMaps`); what :func:`~fer_explain.analysis.population.population_maps` and
  :func:`~fer_explain.analysis.attribution.region_emotion_table` take;
* :func:`run_region_emotion_table` / :func:`run_region_masking_table` -- region x emotion tables from the
  run's table alone (the per-face region shares and region-masking drops it already holds), in the layout
  of :func:`~fer_explain.analysis.attribution.region_emotion_table` / ``region_masking_table``;
* :func:`check_run_matches` -- refuse a run made with another checkpoint, manifest split or split
  (:class:`ExplainOutputError`, naming the folder).

Maps are read shard by shard (a shard at a time, only the requested faces kept), so asking for a few faces
of a large run reads little more than their shards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError, safe_open

from fer_explain.analysis.dataset_explain import (
    RECORD_FILE,
    RECORD_FORMAT,
    REGION_METHOD,
    TABLE_FILES,
    ExplainRun,
)
from fer_explain.data.errors import UserError
from fer_explain.explain.base import Explanation

__all__ = [
    "ExplainOutputError",
    "RunMaps",
    "check_run_matches",
    "describe_run",
    "load_explain_run",
    "run_maps",
    "run_masking_regions",
    "run_region_emotion_table",
    "run_region_masking_table",
]


class ExplainOutputError(UserError, ValueError):
    """An ``explain`` output folder that cannot be used: missing, unfinished, or made with other inputs."""


@dataclass(frozen=True)
class RunMaps:
    """One method's maps of a loaded run and what analyses need beside them.

    Attributes:
        method: the method name (``"gradcam"``...).
        explanation: ``maps`` ``(N, H, W)`` float32 (as stored, e.g. float16-rounded), ``targets`` (the
            explained class), ``probs``, ``labels`` (the true class index in ``classes``, -1 if absent).
        landmarks: ``(N, 68, 2)`` float32 in the maps' pixel coordinates, or ``None`` (run without
            landmarks).
        label_names: ``(N,)`` the manifest's label of each face (``object`` array).
        classes: the checkpoint's classes.
        positions: ``(N,)`` the faces' positions in the run's split.
    """

    method: str
    explanation: Explanation
    landmarks: np.ndarray | None
    label_names: np.ndarray
    classes: list[str]
    positions: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """True class indices into :attr:`classes` (-1: the label is not one of them)."""
        assert self.explanation.labels is not None
        return self.explanation.labels.numpy()

    def __len__(self) -> int:
        return len(self.positions)


def load_explain_run(out_dir: str | os.PathLike[str]) -> ExplainRun:
    """The run in ``out_dir``: its record (``explain.json``) and table, every shard checked to exist.

    Raises:
        ExplainOutputError: no record, a record of another format, a missing shard or table (an
            unfinished run: rerun the same ``fer-explain explain`` command to finish it).
    """
    folder = Path(out_dir)
    path = folder / RECORD_FILE
    if not folder.is_dir():
        raise ExplainOutputError(f"explain output folder {folder} does not exist")
    if not path.is_file():
        raise ExplainOutputError(f"{folder} holds no {RECORD_FILE}: it is not an output folder of fer-explain explain")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExplainOutputError(f"{path}: unreadable run record ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT or not isinstance(record.get("key"), dict):
        raise ExplainOutputError(f"{path} is not a fer_explain explain record")
    missing = [s["file"] for s in record["shards"] if not (folder / s["file"]).is_file()]
    table_path = folder / TABLE_FILES[0]
    if missing or not table_path.is_file():
        what = f"shards {missing[:3]}{'...' if len(missing) > 3 else ''}" if missing else f"{TABLE_FILES[0]}"
        raise ExplainOutputError(f"explain run {folder} is unfinished (no {what}); rerun the same fer-explain "
                                 "explain command to finish it")
    return ExplainRun(folder, record, table=pd.read_parquet(table_path))


def describe_run(run: ExplainRun) -> str:
    """One line naming what the run explained: folder, checkpoint, manifest and split, faces, methods, target."""
    key = run.record["key"]
    return (f"explain run {run.out_dir}: checkpoint {run.record.get('checkpoint')} ({key.get('architecture')}), "
            f"manifest {run.record.get('manifest')} split {key.get('split')!r}, {key.get('faces')} faces, methods "
            f"{', '.join(key.get('methods', []))}, target {key.get('target')}, regions {key.get('region_set')} "
            f"margin {key.get('margin')}")


def _methods(run: ExplainRun) -> list[str]:
    return list(run.record["key"]["methods"])


def _positions(run: ExplainRun, positions: Sequence[int] | np.ndarray | None) -> np.ndarray:
    n = int(run.record["key"]["faces"])
    pos = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64).reshape(-1)
    if pos.size and (pos.min() < 0 or pos.max() >= n):
        raise ExplainOutputError(f"explain run {run.out_dir} has {n} faces; positions {pos[(pos < 0) | (pos >= n)][:5]}"
                                 " lie outside")
    return pos


def _read(run: ExplainRun, names: Sequence[str], pos: np.ndarray) -> dict[str, torch.Tensor]:
    """The tensors ``names`` of the faces at ``pos`` (in that order), read a shard at a time."""
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in names}
    order: list[np.ndarray] = []
    for shard in run.record["shards"]:
        start, end = int(shard["start"]), int(shard["end"])
        where = np.flatnonzero((pos >= start) & (pos < end))
        if not where.size:
            continue
        path = run.out_dir / shard["file"]
        try:
            with safe_open(str(path), framework="pt") as f:
                for k in names:
                    parts[k].append(f.get_tensor(k)[torch.as_tensor(pos[where] - start)])
        except (OSError, SafetensorError) as exc:
            raise ExplainOutputError(f"{path}: unreadable shard ({exc}); delete it and rerun fer-explain explain "
                                     "to recompute it") from None
        order.append(where)
    if not order:
        return {k: torch.empty(0) for k in names}
    back = np.argsort(np.concatenate(order), kind="stable")
    return {k: torch.cat(v)[torch.as_tensor(back)] for k, v in parts.items()}


def run_maps(run: ExplainRun, method: str, positions: Sequence[int] | np.ndarray | None = None) -> RunMaps:
    """``method``'s maps of the faces at ``positions`` of the run's split (default: every face).

    Raises:
        ExplainOutputError: the run has no maps of ``method`` (the message lists the ones it has).
    """
    if method not in _methods(run):
        raise ExplainOutputError(f"explain run {run.out_dir} holds no {method!r} maps; its methods: {_methods(run)}")
    pos = _positions(run, positions)
    names = [f"maps.{method}", "probs", "stats"] + (["landmarks"] if "landmarks" in _keys(run) else [])
    t = _read(run, names, pos)
    cols = run.record["stat_columns"]
    table = run.table
    assert table is not None
    label_index = table["label_index"].to_numpy()[pos]
    exp = Explanation(maps=t[f"maps.{method}"].float().reshape(len(pos), *t[f"maps.{method}"].shape[1:]),
                      raw=None, targets=t["stats"][:, cols.index("target")].long().reshape(len(pos)),
                      probs=t["probs"].float().reshape(len(pos), -1), method=method,
                      params={"explain_dir": str(run.out_dir), "run": run.record.get("run")},
                      labels=torch.as_tensor(label_index, dtype=torch.long))
    lm = t["landmarks"].numpy().reshape(len(pos), 68, 2) if "landmarks" in t else None
    return RunMaps(method, exp, lm, table["label"].to_numpy(dtype=object)[pos], list(run.record["key"]["classes"]),
                   pos)


def _keys(run: ExplainRun) -> set[str]:
    with safe_open(str(run.shard_paths[0]), framework="pt") as f:
        return set(f.keys())


def _region_names(run: ExplainRun, regions: Sequence[str] | None, available: Sequence[str], what: str) -> list[str]:
    from fer_explain.faces.regions import get_region

    if regions is None:
        return list(available)
    out = []
    for r in regions:
        try:
            name = get_region(r, run.record["key"]["region_set"]).name
        except KeyError:
            name = str(r)
        if name not in available:
            raise ExplainOutputError(f"explain run {run.out_dir} has no {what} for region {r!r}; its regions: "
                                     f"{list(available)}")
        out.append(name)
    return out


def _grouped(run: ExplainRun, values: pd.DataFrame, by: str, counts: bool) -> pd.DataFrame:
    if by not in ("label", "target", "prediction"):
        raise ValueError(f"by must be 'label', 'target' or 'prediction', got {by!r}")
    table = run.table
    assert table is not None
    values = values.copy()
    values["emotion"] = table[by].astype(str).to_numpy()
    out = values.groupby("emotion", sort=False).mean().T
    if counts:
        first = values.columns[0]
        out.loc["n"] = values.groupby("emotion", sort=False)[first].count().reindex(out.columns)
    classes = [str(c) for c in run.record["key"]["classes"]]
    out = out[[c for c in classes if c in out.columns]]
    out.index.name = "region"
    out.columns.name = "emotion"
    return out


def run_region_emotion_table(run: ExplainRun, method: str, regions: Sequence[str] | None = None, *,
                             by: str = "label", counts: bool = False) -> pd.DataFrame:
    """Mean share of ``method``'s positive attribution per region and emotion, over every face of the run.

    The same numbers as :func:`~fer_explain.analysis.attribution.region_emotion_table` on the run's
    (unrounded) maps and landmarks with its region set and margin, from the table's
    ``<method>_mass_<region>`` columns. ``by``: group by the true ``"label"``, the explained
    ``"target"`` or the ``"prediction"``. ``regions`` default: every region of the run.
    """
    if method not in _methods(run):
        raise ExplainOutputError(f"explain run {run.out_dir} holds no {method!r} maps; its methods: {_methods(run)}")
    available = list(run.record["key"]["regions"])
    if not available:
        raise ExplainOutputError(f"explain run {run.out_dir} has no region statistics (made with landmarks='none')")
    names = _region_names(run, regions, available, f"{method} shares")
    assert run.table is not None
    values = pd.DataFrame({r: run.table[f"{method}_mass_{r}"].to_numpy() for r in names})
    return _grouped(run, values, by, counts)


def run_masking_regions(run: ExplainRun) -> list[str]:
    """Regions of the run's region-masking drops (``[]`` without the ``regions`` method)."""
    assert run.table is not None
    prefix = f"{REGION_METHOD}_drop_"
    return [c[len(prefix):] for c in run.table.columns if c.startswith(prefix)]


def run_region_masking_table(run: ExplainRun, regions: Sequence[str] = ("eyes", "nose", "mouth"), *,
                             counts: bool = False) -> pd.DataFrame:
    """Mean drop in the explained class's probability when each region is blacked out, per emotion.

    From the run's ``regions_drop_<region>`` columns, grouped by the explained class (the true label for a
    run made with ``target="label"``): what :func:`~fer_explain.analysis.attribution.region_masking_table`
    computes with ``target`` = the run's target, the run's margin and a black baseline.
    """
    available = run_masking_regions(run)
    if not available:
        raise ExplainOutputError(f"explain run {run.out_dir} holds no region-masking drops (run it with the "
                                 f"{REGION_METHOD!r} method)")
    names = _region_names(run, regions, available, "masking drop")
    assert run.table is not None
    values = pd.DataFrame({r: run.table[f"{REGION_METHOD}_drop_{r}"].to_numpy() for r in names})
    return _grouped(run, values, "target", counts)


def check_run_matches(run: ExplainRun, *, checkpoint_sha256: str, manifest_hash: str, split: str | None) -> None:
    """Refuse a run made with another checkpoint (weights' SHA-256), manifest split (content hash) or split.

    Raises:
        ExplainOutputError: naming the folder and what differs.
    """
    key = run.record["key"]
    diff = []
    if key.get("checkpoint_sha256") != checkpoint_sha256:
        diff.append(f"another checkpoint ({run.record.get('checkpoint')}, weights SHA-256 "
                    f"{str(key.get('checkpoint_sha256'))[:12]}... not {checkpoint_sha256[:12]}...)")
    if key.get("split") != split:
        diff.append(f"another split ({key.get('split')!r}, not {split!r})")
    elif key.get("manifest_hash") != manifest_hash:
        diff.append(f"another manifest split ({run.record.get('manifest')}: its rows differ from this manifest's "
                    f"split {split!r})")
    if diff:
        raise ExplainOutputError(f"explain run {run.out_dir} was made with {' and '.join(diff)}; explain this "
                                 "checkpoint and manifest into another folder (fer-explain explain)")
