"""AffectNet (Mollahosseini et al., 2017), manually annotated part -> Manifest.

Layout::

    <root>/training.csv      with a header row
    <root>/validation.csv    usually WITHOUT a header row (detected either way)
    <root>/Manually_Annotated_Images/<subDirectory_filePath>

Columns: ``subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks,
expression, valence, arousal``; ``facial_landmarks`` is ``"x1;y1;...;x68;y68"``.

Expression codes: 0 neutral, 1 happiness, 2 sadness, 3 surprise, 4 fear, 5 disgust, 6 anger,
7 contempt, 8 None, 9 Uncertain, 10 No-Face. Codes 8-10 are not emotions and are dropped (counted
as ``none``/``uncertain``/``no_face``); ``classes=7`` also drops contempt (``contempt``). The adapter
reads AffectNet as it is (8 classes by default); a paper's class count belongs to its protocol: seed
001's seven (contempt dropped) come with ``apply_protocol("seed001_affectnet", manifest)``
(:data:`fer_explain.data.protocols.SEED001_AFFECTNET`), whichever ``classes`` built it. Boxes go to
``box_x/box_y/box_w/box_h``, landmarks to ``landmarks`` with ``landmark_source="dataset"``, and
``valence``/``arousal`` are kept. ``training.csv`` -> split ``train``, ``validation.csv`` -> ``val``.
Errors name the CSV and the row as ``line L (data row R)``: ``L`` is the line in an editor (the
header, when present, is line 1) and ``R`` counts data rows from 1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fer_explain.data.errors import InvalidOptionError
from fer_explain.data.manifest import Manifest, make_manifest
from fer_explain.data.sources._common import (
    attach_report,
    fail,
    fail_rows,
    map_codes,
    parse_int_codes,
    relative_to_root,
    require_dir,
    require_file,
)
from fer_explain.labels import AFFECTNET_NON_EMOTION_CODES, DATASET_CODES

LAYOUT = """\
AffectNet — <root>/training.csv (header) and <root>/validation.csv (no header), columns
         subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks ("x1;y1;..."),
         expression (0 neutral 1 happy 2 sad 3 surprise 4 fear 5 disgust 6 anger 7 contempt
         8 none 9 uncertain 10 no-face), valence, arousal
         images under <root>/Manually_Annotated_Images/<subDirectory_filePath> (images_dir=...)
classes=8 (basic8, default) or 7 (contempt dropped); codes 8-10 dropped. Splits train / val."""

COLUMNS: tuple[str, ...] = (
    "subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks", "expression",
    "valence", "arousal",
)
DEFAULT_FILES: dict[str, str] = {"train": "training.csv", "val": "validation.csv"}


def build_affectnet_manifest(
    root: str | os.PathLike[str],
    classes: int = 8,
    *,
    images_dir: str | os.PathLike[str] = "Manually_Annotated_Images",
    files: Mapping[str, str] | None = None,
) -> Manifest:
    """Build the AffectNet manifest (basic8, or basic7 with ``classes=7``).

    Args:
        root: the dataset folder (holding the CSVs).
        classes: 8 (default) keeps contempt; 7 drops it. Under seed 001 apply the ``seed001_affectnet``
            protocol instead, which decides its seven classes in one place.
        images_dir: the image folder, relative to ``root`` (or absolute); the CSV paths are relative
            to it.
        files: split name -> CSV file under ``root``; default ``{"train": "training.csv",
            "val": "validation.csv"}``. Pass e.g. ``{"val": "validation.csv"}`` when only one exists.
    """
    if classes not in (7, 8):
        raise InvalidOptionError(f"affectnet: classes must be 7 or 8, got {classes!r}")
    root = Path(root)
    require_dir(root, "AffectNet folder", dataset="affectnet")
    files = dict(DEFAULT_FILES if files is None else files)
    if not files:
        raise InvalidOptionError("affectnet: files must name at least one CSV, e.g. {'train': 'training.csv'}")
    img_dir = Path(images_dir) if Path(images_dir).is_absolute() else root / images_dir
    require_dir(img_dir, "AffectNet image folder (images_dir=...)", dataset="affectnet")
    img_prefix = relative_to_root(img_dir, root)

    table = DATASET_CODES["affectnet"]
    parts: list[pd.DataFrame] = []
    dropped = {name.replace("-", "_"): 0 for name in AFFECTNET_NON_EMOTION_CODES.values()}
    dropped["contempt"] = 0
    paths: list[Path] = []
    for split, fname in files.items():
        path = require_file(root / fname, f"AffectNet label file for split {split!r}", dataset="affectnet")
        paths.append(path)
        df = read_affectnet_csv(path)
        hl = int(df.attrs.get("header_lines", 1))
        codes = parse_int_codes(df["expression"].str.strip(), dataset="affectnet", file=path, column="expression",
                                header_lines=hl)
        valid = [int(k) for k in table if isinstance(k, int)] + list(AFFECTNET_NON_EMOTION_CODES)
        unknown = np.flatnonzero(~np.isin(codes, valid))
        if len(unknown):
            raise fail_rows(f"unknown expression code; valid codes: {valid}", unknown[:50], dataset="affectnet",
                            file=path, column="expression", details=[f"code {codes[i]}" for i in unknown[:50]],
                            header_lines=hl)
        non_emotion = np.isin(codes, list(AFFECTNET_NON_EMOTION_CODES))
        for code, name in AFFECTNET_NON_EMOTION_CODES.items():
            dropped[name.replace("-", "_")] += int((codes == code).sum())
        keep = ~non_emotion
        if classes == 7:
            contempt = codes == 7
            dropped["contempt"] += int(contempt.sum())
            keep &= ~contempt
        rows = np.flatnonzero(keep)
        labels = map_codes(codes[rows], table, dataset="affectnet", file=path, column="expression")
        sub = df.iloc[rows].reset_index(drop=True)
        box = sub[["face_x", "face_y", "face_width", "face_height"]].apply(
            lambda c: pd.to_numeric(c.str.strip(), errors="coerce"))
        bad = np.flatnonzero(box.isna().any(axis=1).to_numpy())
        if len(bad):
            raise fail_rows("face box is not numeric", rows[bad[:50]], dataset="affectnet", file=path,
                            column="face_x", header_lines=hl)
        lms = [str(v).strip() for v in sub["facial_landmarks"].tolist()]
        n_numbers = np.fromiter((v.count(";") + 1 if v else 0 for v in lms), dtype=np.int64, count=len(lms))
        bad = np.flatnonzero((n_numbers != 136) & (n_numbers != 0))
        if len(bad):
            raise fail_rows("facial_landmarks must hold 136 numbers (68 x;y pairs)", rows[bad[:50]],
                            dataset="affectnet", file=path, column="facial_landmarks",
                            details=[f"{n_numbers[i]} numbers" for i in bad[:50]], header_lines=hl)
        va = sub[["valence", "arousal"]].apply(lambda c: pd.to_numeric(c.str.strip(), errors="coerce"))
        has_lm = n_numbers == 136
        paths_in_csv = sub["subDirectory_filePath"].str.strip()
        parts.append(pd.DataFrame({
            "dataset": "affectnet",
            "image": (img_prefix + "/" + paths_in_csv).to_numpy(dtype=object),
            "label": labels,
            "split": split,
            "box_x": box["face_x"].to_numpy(np.float64),
            "box_y": box["face_y"].to_numpy(np.float64),
            "box_w": box["face_width"].to_numpy(np.float64),
            "box_h": box["face_height"].to_numpy(np.float64),
            "landmarks": [v if ok else None for v, ok in zip(lms, has_lm)],
            "landmark_source": ["dataset" if ok else None for ok in has_lm],
            "valence": va["valence"].to_numpy(np.float64),
            "arousal": va["arousal"].to_numpy(np.float64),
        }))
    out = pd.concat(parts, ignore_index=True)
    m = make_manifest(out, root, "basic8" if classes == 8 else "basic7", name="affectnet")
    return attach_report(m, dataset="affectnet", files=paths, dropped=dropped, classes=classes)


def read_affectnet_csv(path: Path) -> pd.DataFrame:
    """Read one AffectNet CSV with or without its header row; columns named as :data:`COLUMNS` (strings).

    The header is recognised by its first field ``subDirectory_filePath``. A header with other
    names, or rows without 9 fields, raise an error naming the file (and listing what was found).
    """
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        first = f.readline()
    if not first.strip():
        raise fail("the file is empty", dataset="affectnet", file=path)
    has_header = first.split(",", 1)[0].strip().strip('"') == COLUMNS[0]
    try:
        df = pd.read_csv(path, header=0 if has_header else None, dtype=object, keep_default_na=False,
                         encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise fail(f"cannot parse CSV ({exc}); expected {len(COLUMNS)} columns {list(COLUMNS)}",
                   dataset="affectnet", file=path) from exc
    if has_header:
        found = [str(c).strip() for c in df.columns]
        missing = [c for c in COLUMNS if c not in found]
        if missing:
            raise fail(f"missing column(s) {missing}; found columns {found}; expected {list(COLUMNS)}",
                       dataset="affectnet", file=path)
        df.columns = found
        df = df[list(COLUMNS)]
    else:
        if df.shape[1] != len(COLUMNS):
            raise fail(f"no header row and {df.shape[1]} columns; expected {len(COLUMNS)} columns "
                       f"{list(COLUMNS)} (first line: {first.strip()[:80]!r})", dataset="affectnet", file=path)
        df.columns = list(COLUMNS)
    df.attrs["header_lines"] = 1 if has_header else 0
    return df
