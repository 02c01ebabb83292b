"""Checking a manifest in one pass: every problem reported, and a cleaned copy with the dropped rows.

``fer-explain check-manifest`` is a thin wrapper over :func:`check_manifest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fer_explain.data.io import ImageReadError, load_image
from fer_explain.data.manifest import (
    BOX_COLUMNS,
    LANDMARK_SOURCES,
    REQUIRED_COLUMNS,
    Problem,
    parse_landmarks,
)

if TYPE_CHECKING:
    from fer_explain.data.manifest import Manifest


def find_problems(manifest: Manifest, check_files: bool = False, progress: bool = False) -> list[Problem]:
    """All problems of a manifest: columns, labels, splits, boxes, landmarks and (optionally) images."""
    df = manifest.df
    out: list[Problem] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        return [Problem(f"missing required column(s) {missing}; found {list(df.columns)}")]
    if len(df) == 0:
        return [Problem("the manifest has no rows (empty dataset)")]

    for col in REQUIRED_COLUMNS:
        bad = df[col].isna() | (df[col].astype(str).str.strip() == "")
        out.extend(Problem("empty value", row=int(i), column=col) for i in np.flatnonzero(bad.to_numpy()))

    valid = set(manifest.label_space.classes)
    bad_label = ~df["label"].isin(valid) & df["label"].notna()
    out.extend(
        Problem(f"label {df['label'].iat[i]!r} not in label space {manifest.label_space.classes}", row=int(i),
                column="label")
        for i in np.flatnonzero(bad_label.to_numpy())
    )

    present_boxes = [c for c in BOX_COLUMNS if c in df.columns]
    if present_boxes and len(present_boxes) != 4:
        out.append(Problem(f"box columns must come together {BOX_COLUMNS}; found only {present_boxes}"))
    elif present_boxes:
        b = df[list(BOX_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        some = ~np.isnan(b).all(axis=1)
        partial = some & np.isnan(b).any(axis=1)
        neg = some & ~partial & ((b[:, 2] <= 0) | (b[:, 3] <= 0))
        out.extend(Problem("face box is partly missing", row=int(i), column="box_x") for i in np.flatnonzero(partial))
        out.extend(Problem("face box has non-positive width/height", row=int(i), column="box_w")
                   for i in np.flatnonzero(neg))

    if "landmarks" in df.columns:
        col = df["landmarks"]
        for i in np.flatnonzero(col.notna().to_numpy()):
            try:
                parse_landmarks(col.iat[i], row=int(i))
            except ValueError as exc:
                out.append(Problem(str(exc).split(": ", 1)[-1], row=int(i), column="landmarks"))
    if "landmark_source" in df.columns:
        src = df["landmark_source"]
        bad_src = src.notna() & ~src.isin(LANDMARK_SOURCES)
        out.extend(Problem(f"landmark_source {src.iat[i]!r} not one of {LANDMARK_SOURCES}", row=int(i),
                           column="landmark_source") for i in np.flatnonzero(bad_src.to_numpy()))

    if "pixel_row" in df.columns:
        pr = pd.to_numeric(df["pixel_row"], errors="coerce")
        bad_pr = df["pixel_row"].notna() & (pr.isna() | (pr < 0))
        out.extend(Problem("pixel_row must be a non-negative integer", row=int(i), column="pixel_row")
                   for i in np.flatnonzero(bad_pr.to_numpy()))

    if check_files:
        out.extend(_image_problems(manifest, progress=progress))
    return out


def _image_problems(manifest: Manifest, progress: bool) -> list[Problem]:
    df = manifest.df
    rows = df["pixel_row"] if "pixel_row" in df.columns else pd.Series([None] * len(df))
    out: list[Problem] = []
    it = range(len(df))
    for i in tqdm(it, desc="checking images", disable=not progress, leave=False):
        image = df["image"].iat[i]
        if not isinstance(image, str) or not image:
            continue
        pr = rows.iat[i]
        try:
            load_image(manifest.root, image, None if pd.isna(pr) else int(pr))
        except ImageReadError as exc:
            out.append(Problem(str(exc), row=i, file=image))
    return out


@dataclass
class CheckReport:
    """What :func:`check_manifest` found: every problem, the rows to keep and the rows dropped."""

    manifest: Manifest
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def table_problems(self) -> list[Problem]:
        """Problems not tied to a row (missing columns, empty dataset): these cannot be cleaned away."""
        return [p for p in self.problems if p.row is None]

    def dropped(self) -> pd.DataFrame:
        """One row per dropped manifest row: its index, the reasons and the original columns."""
        reasons: dict[int, list[str]] = {}
        for p in self.problems:
            if p.row is not None:
                reasons.setdefault(p.row, []).append(str(p))
        idx = sorted(reasons)
        out = self.manifest.df.iloc[idx].copy()
        out.insert(0, "reason", ["; ".join(reasons[i]) for i in idx])
        out.insert(0, "row", idx)
        return out.reset_index(drop=True)

    def cleaned(self) -> Manifest:
        """The manifest without the rows that have problems."""
        if self.table_problems:
            raise ValueError("cannot clean a manifest with table-level problems: "
                             + "; ".join(str(p) for p in self.table_problems))
        bad = {p.row for p in self.problems if p.row is not None}
        keep = [i for i in range(len(self.manifest)) if i not in bad]
        return self.manifest.replace(self.manifest.df.iloc[keep])

    def summary(self) -> str:
        m = self.manifest
        lines = [f"{m.name or 'manifest'}: {len(m)} rows, root {m.root}"]
        if self.ok:
            lines.append("no problems found")
        else:
            n_rows = len({p.row for p in self.problems if p.row is not None})
            lines.append(f"{len(self.problems)} problem(s) in {n_rows} row(s)"
                         + (f" and {len(self.table_problems)} table-level" if self.table_problems else ""))
            lines.extend(f"  {p}" for p in self.problems)
        return "\n".join(lines)


def check_manifest(manifest: Manifest, check_files: bool = True, progress: bool = True) -> CheckReport:
    """Check a manifest in one pass, reporting every problem (not only the first)."""
    return CheckReport(manifest, find_problems(manifest, check_files=check_files, progress=progress))


def write_cleaned(report: CheckReport, out: str | Path) -> tuple[Path, Path]:
    """Save the cleaned manifest at ``out`` and the dropped rows beside it as ``<out>.dropped.csv``."""
    out = Path(out)
    base = out.with_suffix("") if out.suffix in (".csv", ".json", ".parquet") else out
    cleaned_path = report.cleaned().save(base)
    dropped_path = base.parent / f"{base.name}.dropped.csv"
    report.dropped().to_csv(dropped_path, index=False)
    return cleaned_path, dropped_path
