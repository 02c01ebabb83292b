"""Checking a manifest in one pass: every problem reported, and a cleaned copy with the dropped rows.

``fer-explain check-manifest`` is a thin wrapper over :func:`check_manifest`. The checks themselves
(:func:`find_problems`) live in :mod:`fer_explain.data.schema`, which :mod:`fer_explain.data.manifest`
also uses; this module imports the manifest module, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from fer_explain.data.errors import Problem
from fer_explain.data.schema import (
    BOX_COLUMNS,
    LANDMARK_SOURCES,
    REQUIRED_COLUMNS,
    find_problems,
    image_problems,
    parse_landmarks,
)

if TYPE_CHECKING:
    from fer_explain.data.manifest import Manifest


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
        """One row per dropped manifest row: where it was, the reasons and the original columns.

        ``line`` is the row's line in the manifest CSV (header = line 1) and ``data_row`` its
        1-based data-row number, as in the problem messages.
        """
        reasons: dict[int, list[str]] = {}
        for p in self.problems:
            if p.row is not None:
                reasons.setdefault(p.row, []).append(str(p))
        idx = sorted(reasons)
        out = self.manifest.df.iloc[idx].copy()
        out.insert(0, "reason", ["; ".join(reasons[i]) for i in idx])
        out.insert(0, "data_row", [i + 1 for i in idx])
        out.insert(0, "line", [i + 2 for i in idx])
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


__all__ = [
    "BOX_COLUMNS",
    "LANDMARK_SOURCES",
    "REQUIRED_COLUMNS",
    "CheckReport",
    "Problem",
    "check_manifest",
    "find_problems",
    "image_problems",
    "parse_landmarks",
    "write_cleaned",
]
