"""Helpers shared by the dataset adapters: errors that name file and row, file listing, build reports.

Errors name the file and where in it: a row of a CSV as ``line L (data row R)`` (the header is
line 1, so data row 1 is line 2), a line of a plain text list as ``line L``.

Every adapter attaches a *build report* to the manifest it returns, in
``manifest.df.attrs["source_report"]`` (read it with :func:`source_report`), and logs a one-line
summary of it at INFO level on the ``fer_explain.data.sources`` logger. The report is a plain dict::

    {"dataset": "ferplus", "rows": 35_000, "files": [...],
     "dropped": {"no_majority": 2_000, ...},   # rows of the label file left out, by reason
     "skipped": {"non_image_files": 3, ...}}    # files on disk that were not used, by reason

pandas carries ``attrs`` through most operations but does not save them: the report describes the
manifest *as built* and is not part of a saved manifest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fer_explain.data.errors import ManifestError, Problem, csv_problem
from fer_explain.data.manifest import Manifest

logger = logging.getLogger("fer_explain.data.sources")

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm")
"""File extensions treated as images when a layout is scanned (compared case-insensitively)."""

REPORT_KEY = "source_report"


class SourceError(ManifestError):
    """A dataset's label files do not match the expected layout; ``problems`` name file and row."""

    def __init__(self, problems: Sequence[Problem], source: str = "dataset", limit: int = 20):
        super().__init__(problems, source=source, limit=limit)


def fail(message: str, *, dataset: str, file: str | os.PathLike[str] | None = None,
         row: int | None = None, column: str | None = None, line: int | None = None,
         header_lines: int = 1) -> SourceError:
    """One-problem :class:`SourceError` (to ``raise``).

    ``row`` is a 0-based CSV data row (shown as ``line L (data row R)`` with ``header_lines`` header
    lines); ``line`` a 1-based line of a text file (shown as ``line L``).
    """
    file_s = None if file is None else str(file)
    if row is not None:
        problem = csv_problem(message, row, file=file_s, column=column, header_lines=header_lines)
    else:
        problem = Problem(message, file=file_s, column=column, line=line)
    return SourceError([problem], source=dataset)


def fail_rows(message: str, rows: Iterable[int], *, dataset: str, file: str | os.PathLike[str],
              column: str | None = None, details: Sequence[str] | None = None,
              header_lines: int = 1) -> SourceError:
    """A :class:`SourceError` with one problem per bad 0-based CSV data row (``details[i]`` appended).

    Rows are shown as ``line L (data row R)``; ``header_lines`` is 1 for a CSV with a header, 0 without.
    """
    problems = [
        csv_problem(message + (f" ({details[i]})" if details is not None else ""), int(r), file=str(file),
                    column=column, header_lines=header_lines)
        for i, r in enumerate(rows)
    ]
    return SourceError(problems, source=dataset)


def _nearby(path: Path, missing_folder: bool) -> str:
    """A hint for a missing path: what its folder holds (or, optionally, that the folder is missing)."""
    if path.parent.is_dir():
        return f"; {path.parent} holds {sorted(p.name for p in path.parent.iterdir())[:15]}"
    if missing_folder and not path.parent.exists():
        return f"; folder {path.parent} does not exist"
    return ""


def require_file(path: Path, what: str, *, dataset: str) -> Path:
    """``path`` if it is a file, else a FileNotFoundError naming it and what it should hold."""
    if not path.is_file():
        raise FileNotFoundError(f"{dataset}: {what} not found: {path}{_nearby(path, missing_folder=True)}")
    return path


def require_dir(path: Path, what: str, *, dataset: str) -> Path:
    """``path`` if it is a folder, else a FileNotFoundError naming it (or, for a file, its folder to pass)."""
    if path.is_file():
        raise FileNotFoundError(f"{dataset}: {what} expected, but {path} is a file; pass the folder that "
                                 f"holds it: {path.parent}")
    if not path.is_dir():
        raise FileNotFoundError(f"{dataset}: {what} not found: {path}{_nearby(path, missing_folder=False)}")
    return path


def is_image_name(name: str, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> bool:
    """True for a visible file name with an image extension."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in extensions


def list_files(folder: Path) -> list[str]:
    """Names of the plain files directly in ``folder``, sorted (one ``scandir``, no stat per file)."""
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_file())


def list_dirs(folder: Path) -> list[str]:
    """Names of the sub-folders of ``folder`` (hidden ones excluded), sorted."""
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))


def relative_to_root(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes, or absolute when it lies outside root."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def count_missing(root: Path, images: Iterable[str]) -> int:
    """How many relative image paths do not exist, listing each folder once (cheap for 100k files)."""
    listing: dict[str, set[str]] = {}
    missing = 0
    for rel in images:
        folder, _, name = rel.rpartition("/")
        if folder not in listing:
            d = root / folder
            listing[folder] = set(list_files(d)) if d.is_dir() else set()
        if name not in listing[folder]:
            missing += 1
    return missing


def read_text_lines(path: Path, *, dataset: str) -> list[str]:
    """Lines of a text label file (UTF-8, tolerating a BOM); errors name the file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise fail(f"cannot read label file ({exc})", dataset=dataset, file=path) from exc
    return text.splitlines()


def attach_report(manifest: Manifest, *, dataset: str, files: Sequence[str | os.PathLike[str]] = (),
                  dropped: Mapping[str, int] | None = None, skipped: Mapping[str, int] | None = None,
                  details: Mapping[str, object] | None = None, **extra: object) -> Manifest:
    """Store the build report in ``manifest.df.attrs`` and log its summary; returns the manifest."""
    dropped = {k: int(v) for k, v in (dropped or {}).items() if v}
    skipped = {k: int(v) for k, v in (skipped or {}).items() if v}
    report: dict[str, object] = {
        "dataset": dataset,
        "rows": len(manifest),
        "files": [str(f) for f in files],
        "dropped": dropped,
        "skipped": skipped,
        **(details or {}),
        **extra,
    }
    manifest.df.attrs[REPORT_KEY] = report
    splits = ", ".join(f"{k}={v}" for k, v in manifest.df["split"].value_counts().sort_index().items())
    msg = f"{dataset}: {len(manifest)} faces ({splits})"
    if dropped:
        msg += "; dropped " + ", ".join(f"{k}={v}" for k, v in dropped.items())
    if skipped:
        msg += "; skipped " + ", ".join(f"{k}={v}" for k, v in skipped.items())
    logger.info(msg)
    return manifest


def source_report(manifest: Manifest) -> dict[str, object]:
    """The build report an adapter attached to ``manifest`` (see the module docstring)."""
    try:
        return dict(manifest.df.attrs[REPORT_KEY])
    except KeyError:
        raise KeyError("this manifest carries no source report (it was not built by an adapter in this "
                       "session, or was loaded from disk)") from None


def parse_int_codes(values: pd.Series, *, dataset: str, file: Path, column: str,
                    row_offset: int = 0, header_lines: int = 1) -> np.ndarray:
    """Integer codes of a column; rows holding a non-integer raise one error naming each row.

    ``row_offset`` is added to positions to give 0-based data rows; they are reported as
    ``line L (data row R)`` with ``header_lines`` header lines.
    """
    num = pd.to_numeric(values, errors="coerce")
    arr = num.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(arr) | (np.floor(arr) != arr)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise fail_rows("label code is not an integer", (i + row_offset for i in idx[:50]), dataset=dataset,
                        file=file, column=column, details=[f"value {values.iat[i]!r}" for i in idx[:50]],
                        header_lines=header_lines)
    return arr.astype(np.int64)


def map_codes(codes: np.ndarray, table: Mapping[object, str], *, dataset: str, file: Path, column: str,
              row_offset: int = 0, header_lines: int = 1) -> np.ndarray:
    """Canonical names for integer codes; unknown codes raise one error naming each bad row
    (``row_offset`` and ``header_lines`` as in :func:`parse_int_codes`)."""
    keys = np.array(sorted(k for k in table if isinstance(k, int)), dtype=np.int64)
    known = np.isin(codes, keys)
    if not known.all():
        idx = np.flatnonzero(~known)
        raise fail_rows(f"unknown label code; valid codes: {list(table)}", (i + row_offset for i in idx[:50]),
                        dataset=dataset, file=file, column=column,
                        details=[f"code {int(codes[i])}" for i in idx[:50]], header_lines=header_lines)
    lut = {int(k): v for k, v in table.items() if isinstance(k, int)}
    return np.array([lut[int(c)] for c in codes], dtype=object) if len(codes) else np.array([], dtype=object)
