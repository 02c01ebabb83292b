"""The manifest's column schema and its validation, shared by :mod:`.manifest` and :mod:`.check`.

This module holds what both need — the column names, the landmark string format and
:func:`find_problems` — so that ``manifest.py`` does not import ``check.py`` (and neither imports
the other in a cycle). It depends only on :mod:`.errors` and :mod:`.io`; a manifest is taken as any
object with ``df``, ``root`` and ``label_space`` attributes.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fer_explain.data.errors import Problem, csv_problem, describe_row
from fer_explain.data.io import ImageReadError, load_image
from fer_explain.labels import LabelSpace

SCHEMA_VERSION = 1
REQUIRED_COLUMNS: tuple[str, ...] = ("dataset", "image", "label", "split")
BOX_COLUMNS: tuple[str, ...] = ("box_x", "box_y", "box_w", "box_h")
OPTIONAL_COLUMNS: tuple[str, ...] = ("pixel_row", "subject", *BOX_COLUMNS, "landmarks", "landmark_source")
LANDMARK_SOURCES: tuple[str, ...] = ("detected", "fallback", "dataset", "synthetic")
VOTE_PREFIX = "votes_"
N_LANDMARKS = 68

STRING_COLUMNS: tuple[str, ...] = ("dataset", "image", "label", "split", "subject", "landmarks", "landmark_source")
"""Columns always read back as text (never as numbers or missing-value tokens such as ``"NA"``)."""


class ManifestLike(Protocol):
    """What validation needs of a manifest (a :class:`~fer_explain.data.manifest.Manifest` fits)."""

    df: pd.DataFrame
    root: os.PathLike[str] | str
    label_space: LabelSpace


def format_landmarks(points: np.ndarray) -> str:
    """``(68, 2)`` array -> ``"x1;y1;...;x68;y68"`` (two decimals)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (N_LANDMARKS, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {pts.shape}")
    return ";".join(f"{v:.2f}" for v in pts.reshape(-1))


def parse_landmarks(value: object, *, row: int | None = None) -> np.ndarray:
    """``"x1;y1;..."`` -> ``(68, 2)`` float32 array; NaNs for a missing value.

    ``row`` (the 0-based manifest row index) is named in errors as ``line L (data row R)``.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return np.full((N_LANDMARKS, 2), np.nan, dtype=np.float32)
    where = f"{describe_row(row)}: " if row is not None else ""
    try:
        nums = np.array([float(v) for v in str(value).split(";")], dtype=np.float32)
    except ValueError:
        raise ValueError(f"{where}landmarks contain a non-number") from None
    if nums.size != 2 * N_LANDMARKS:
        raise ValueError(f"{where}landmarks have {nums.size} numbers, expected 136 (68 x, y pairs)")
    return nums.reshape(N_LANDMARKS, 2)


def _rows(message: str, mask: np.ndarray | pd.Series, column: str | None = None) -> list[Problem]:
    """One problem per true entry of ``mask`` (manifest rows: line = index + 2)."""
    return [csv_problem(message, int(i), column=column) for i in np.flatnonzero(np.asarray(mask, dtype=bool))]


def find_problems(manifest: ManifestLike, check_files: bool = False, progress: bool = False) -> list[Problem]:
    """All problems of a manifest: columns, labels, splits, boxes, landmarks and (optionally) images."""
    df = manifest.df
    out: list[Problem] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        return [Problem(f"missing required column(s) {missing}; found {list(df.columns)}")]
    if len(df) == 0:
        return [Problem("the manifest has no rows (empty dataset)")]

    for col in REQUIRED_COLUMNS:
        out.extend(_rows("empty value", df[col].isna() | (df[col].astype(str).str.strip() == ""), col))

    classes = manifest.label_space.classes
    bad_label = (~df["label"].isin(set(classes)) & df["label"].notna()).to_numpy()
    out.extend(csv_problem(f"label {df['label'].iat[i]!r} not in label space {classes}", int(i), column="label")
               for i in np.flatnonzero(bad_label))

    present_boxes = [c for c in BOX_COLUMNS if c in df.columns]
    if present_boxes and len(present_boxes) != 4:
        out.append(Problem(f"box columns must come together {BOX_COLUMNS}; found only {present_boxes}"))
    elif present_boxes:
        b = df[list(BOX_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        some = ~np.isnan(b).all(axis=1)
        partial = some & np.isnan(b).any(axis=1)
        out.extend(_rows("face box is partly missing", partial, "box_x"))
        out.extend(_rows("face box has non-positive width/height",
                         some & ~partial & ((b[:, 2] <= 0) | (b[:, 3] <= 0)), "box_w"))

    if "landmarks" in df.columns:
        col = df["landmarks"]
        for i in np.flatnonzero(col.notna().to_numpy()):
            try:
                parse_landmarks(col.iat[i])
            except ValueError as exc:
                out.append(csv_problem(str(exc), int(i), column="landmarks"))
    if "landmark_source" in df.columns:
        src = df["landmark_source"]
        bad_src = (src.notna() & ~src.isin(LANDMARK_SOURCES)).to_numpy()
        out.extend(csv_problem(f"landmark_source {src.iat[i]!r} not one of {LANDMARK_SOURCES}", int(i),
                               column="landmark_source") for i in np.flatnonzero(bad_src))

    if "pixel_row" in df.columns:
        pr = pd.to_numeric(df["pixel_row"], errors="coerce")
        out.extend(_rows("pixel_row must be a non-negative integer",
                         df["pixel_row"].notna() & (pr.isna() | (pr < 0)), "pixel_row"))

    if check_files:
        out.extend(image_problems(manifest, progress=progress))
    return out


def image_problems(manifest: ManifestLike, progress: bool = False) -> list[Problem]:
    """One problem per row whose image (or pixel-CSV row) cannot be read."""
    df = manifest.df
    rows = df["pixel_row"] if "pixel_row" in df.columns else pd.Series([None] * len(df))
    out: list[Problem] = []
    for i in tqdm(range(len(df)), desc="checking images", disable=not progress, leave=False):
        image = df["image"].iat[i]
        if not isinstance(image, str) or not image:
            continue
        pr = rows.iat[i]
        try:
            load_image(manifest.root, image, None if pd.isna(pr) else int(pr))
        except ImageReadError as exc:
            out.append(csv_problem(str(exc), i, column="image"))
    return out
