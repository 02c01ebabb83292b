"""FER+ (Barsoum et al., 2016): ten crowd votes per FER2013 face -> Manifest with majority labels.

``fer2013new.csv`` has one row per row of ``fer2013.csv`` (same order)::

    Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF

The pixels stay in ``fer2013.csv``: each manifest row has ``image="fer2013.csv"`` (the path of that
file relative to the root) and ``pixel_row`` = the row's 0-based position.

Label rule — Microsoft's ``FERPlusReader._process_data(..., mode="majority")``:

1. outlier removal: every vote count ``<= 1`` is set to zero (unknown and NF included);
2. the label is the argmax (first one on ties) when it holds *more than half* of the remaining
   votes, otherwise the row is dropped (``no_majority``; this includes rows whose votes were all
   removed as outliers);
3. rows whose winner is ``unknown`` or ``NF`` are dropped (``unknown`` / ``not_face``), and so is every
   row with an empty ``Image name`` (FER+ marks non-faces that way: ``no_image_name``).

Drop counts are in the build report (``source_report(manifest)["dropped"]``) and logged.

Votes: the eight ``votes_<emotion>`` columns hold the **raw** vote counts as published (before the
outlier removal) by default, so nothing of the annotation is lost; ``votes="outliers_removed"`` stores
the counts after step 1 instead (what Microsoft's code normalises into its soft targets).
``votes_unknown`` is not an emotion: the unknown/NF counts are kept as the plain columns
``ferplus_unknown`` and ``ferplus_nf``. Label space basic8 (contempt included).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from fer_explain.data.errors import InvalidOptionError
from fer_explain.data.manifest import Manifest, make_manifest
from fer_explain.data.sources._common import (
    attach_report,
    fail,
    fail_rows,
    relative_to_root,
    require_dir,
    require_file,
)
from fer_explain.data.sources.fer2013 import usage_splits
from fer_explain.labels import DATASET_CODES

LAYOUT = """\
FER+ — <root>/fer2013new.csv  (Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,
         contempt,unknown,NF; same row order as fer2013.csv) and the pixels in fer2013.csv
         (default <root>/fer2013.csv, or fer2013_csv=PATH).
Label: Microsoft's majority rule (votes <= 1 removed, winner needs > half of the rest; unknown/NF and
empty image names dropped). votes_<emotion> columns keep the raw votes. Label space basic8."""

VOTE_COLUMNS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF",
)
"""The ten vote columns of fer2013new.csv, in file order (the last two are not emotions)."""


def majority_labels(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Microsoft's FER+ majority rule over ``(N, 10)`` vote counts in :data:`VOTE_COLUMNS` order.

    Returns ``(winner, ok)``: the argmax column after outlier removal (counts <= 1 set to zero) and
    whether it holds more than half of the remaining votes. Rows with ``ok`` False have no majority.
    """
    v = np.asarray(votes, dtype=np.float64).copy()
    v[v < 1.0 + np.finfo(np.float64).eps] = 0.0
    total = v.sum(axis=1)
    winner = np.argmax(v, axis=1)
    peak = v[np.arange(len(v)), winner]
    return winner, peak > 0.5 * total


def build_ferplus_manifest(
    root: str | os.PathLike[str],
    fer2013_csv: str | os.PathLike[str] | None = None,
    *,
    ferplus_csv: str | os.PathLike[str] | None = None,
    votes: Literal["raw", "outliers_removed"] = "raw",
) -> Manifest:
    """Build the FER+ manifest (majority labels, basic8) from ``fer2013new.csv`` and ``fer2013.csv``.

    Args:
        root: the dataset folder (image paths are relative to it).
        fer2013_csv: path of the original ``fer2013.csv`` holding the pixels (default
            ``root/fer2013.csv``); its data-row count must equal fer2013new.csv's.
        ferplus_csv: path of ``fer2013new.csv`` (default ``root/fer2013new.csv``).
        votes: which counts the ``votes_<emotion>`` columns hold: ``"raw"`` (default, as published)
            or ``"outliers_removed"`` (counts <= 1 zeroed, as used by the majority rule).
    """
    root = Path(root)
    require_dir(root, "FER+ folder", dataset="ferplus")
    if votes not in ("raw", "outliers_removed"):
        raise InvalidOptionError(f"ferplus: votes must be 'raw' or 'outliers_removed', got {votes!r}")
    new_path = require_file(Path(ferplus_csv) if ferplus_csv else root / "fer2013new.csv",
                            "FER+ label file fer2013new.csv", dataset="ferplus")
    pix_path = require_file(Path(fer2013_csv) if fer2013_csv else root / "fer2013.csv",
                            "FER2013 pixel file fer2013.csv (pass fer2013_csv=PATH)", dataset="ferplus")

    head = pd.read_csv(new_path, nrows=0)
    by_name = {str(c).strip().lower(): c for c in head.columns}
    needed = ("Usage", "Image name", *VOTE_COLUMNS)
    missing = [c for c in needed if c.lower() not in by_name]
    if missing:
        raise fail(f"missing column(s) {missing}; found columns {[str(c) for c in head.columns]}; "
                   f"expected {list(needed)}", dataset="ferplus", file=new_path)
    df = pd.read_csv(new_path, usecols=[by_name[c.lower()] for c in needed], dtype=object, keep_default_na=False)
    df = df[[by_name[c.lower()] for c in needed]]
    df.columns = list(needed)

    n_pixels = _count_data_rows(pix_path)
    if n_pixels != len(df):
        raise fail(f"{new_path.name} has {len(df)} data rows but {pix_path.name} has {n_pixels}; FER+ rows must "
                   f"match fer2013.csv row for row", dataset="ferplus", file=new_path)

    raw = df[list(VOTE_COLUMNS)].apply(lambda c: pd.to_numeric(c.str.strip(), errors="coerce"))
    vote_arr = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(np.isnan(vote_arr).any(axis=1) | (vote_arr < 0).any(axis=1))
    if len(bad):
        raise fail_rows("vote counts must be non-negative numbers", bad[:50], dataset="ferplus", file=new_path,
                        details=[", ".join(f"{c}={df[c].iat[i]!r}" for c in VOTE_COLUMNS) for i in bad[:50]])
    split = usage_splits(df["Usage"], dataset="ferplus", file=new_path)

    name = df["Image name"].str.strip()
    no_image = (name == "").to_numpy()
    winner, has_majority = majority_labels(vote_arr)
    is_unknown = winner == VOTE_COLUMNS.index("unknown")
    is_nf = winner == VOTE_COLUMNS.index("NF")
    no_majority = ~no_image & ~has_majority
    unknown = ~no_image & has_majority & is_unknown
    not_face = ~no_image & has_majority & is_nf
    keep = ~(no_image | no_majority | unknown | not_face)

    codes = DATASET_CODES["ferplus"]
    emotions = np.array([codes.get(c, "") for c in VOTE_COLUMNS], dtype=object)
    stored = vote_arr if votes == "raw" else np.where(vote_arr <= 1.0, 0.0, vote_arr)
    idx = np.flatnonzero(keep)
    out = pd.DataFrame({
        "dataset": "ferplus",
        "image": relative_to_root(pix_path, root),
        "label": emotions[winner[idx]],
        "split": split.to_numpy(dtype=object)[idx],
        "pixel_row": idx.astype(np.int64),
    })
    for j, col in enumerate(VOTE_COLUMNS[:8]):
        out[f"votes_{codes[col]}"] = stored[idx, j]
    out["ferplus_unknown"] = stored[idx, 8]
    out["ferplus_nf"] = stored[idx, 9]
    out["ferplus_image"] = name.to_numpy(dtype=object)[idx]
    m = make_manifest(out, root, "basic8", name="ferplus")
    return attach_report(
        m, dataset="ferplus", files=[new_path, pix_path],
        dropped={"no_image_name": int(no_image.sum()), "no_majority": int(no_majority.sum()),
                 "unknown": int(unknown.sum()), "not_face": int(not_face.sum())},
        votes=votes,
    )


def _count_data_rows(path: Path) -> int:
    """Data rows of a CSV without parsing it (newline count less the header; FER2013 has no quoted newlines)."""
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        n += 1
    return max(n - 1, 0)
