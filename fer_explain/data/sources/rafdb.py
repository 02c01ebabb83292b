"""RAF-DB basic emotions (Li et al., 2017) -> Manifest.

Layout::

    <root>/EmoLabel/list_patition_label.txt     "train_00001.jpg 5" per line (the file name's typo is RAF-DB's)
    <root>/Image/aligned/train_00001_aligned.jpg  100x100 aligned faces (test_0001_aligned.jpg: 4 digits)
    <root>/Image/original/train_00001.jpg          the original images (``aligned=False``)

Codes: 1 surprise, 2 fear, 3 disgust, 4 happiness, 5 sadness, 6 anger, 7 neutral. The split
(``train``/``test``) comes from the file-name prefix. Images are not opened at build time; how many
listed images are absent on disk is counted in the build report (``missing_images``) and logged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from fer_explain.data.manifest import Manifest, make_manifest
from fer_explain.data.sources._common import (
    attach_report,
    count_missing,
    fail,
    logger,
    map_codes,
    read_text_lines,
    require_dir,
    require_file,
)
from fer_explain.labels import DATASET_CODES

LAYOUT = """\
RAF-DB (basic) — <root>/EmoLabel/list_patition_label.txt  lines 'train_00001.jpg 5'
         (1 surprise 2 fear 3 disgust 4 happiness 5 sadness 6 anger 7 neutral)
         <root>/Image/aligned/train_00001_aligned.jpg, test_0001_aligned.jpg  (aligned=True, default)
         <root>/Image/original/train_00001.jpg                                (aligned=False)
Split train/test from the file-name prefix."""

LABEL_FILE = "EmoLabel/list_patition_label.txt"


def build_rafdb_manifest(root: str | os.PathLike[str], aligned: bool = True, *,
                         label_file: str = LABEL_FILE) -> Manifest:
    """Build the RAF-DB basic-emotion manifest (basic7).

    Args:
        root: the RAF-DB ``basic`` folder (holding ``EmoLabel/`` and ``Image/``).
        aligned: use ``Image/aligned/<stem>_aligned.jpg`` (default) or ``Image/original/<name>``.
        label_file: the label list, relative to ``root``.

    Malformed lines, unknown codes and file names without a ``train_``/``test_`` prefix raise an
    error naming the label file and the (1-based) line.
    """
    root = Path(root)
    require_dir(root, "RAF-DB folder", dataset="rafdb")
    path = require_file(root / label_file, "RAF-DB label list", dataset="rafdb")
    names: list[str] = []
    raw_codes: list[str] = []
    line_no: list[int] = []
    for i, line in enumerate(read_text_lines(path, dataset="rafdb"), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise fail(f"expected '<image name> <code>', got {line.strip()!r}", dataset="rafdb", file=path,
                       line=i)
        names.append(parts[0])
        raw_codes.append(parts[1])
        line_no.append(i)
    if not names:
        raise fail("the label list is empty", dataset="rafdb", file=path)
    lines = np.array(line_no)
    codes = pd.to_numeric(pd.Series(raw_codes), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(codes) | (np.floor(codes) != codes))
    if len(bad):
        raise fail(f"label code {raw_codes[bad[0]]!r} is not an integer", dataset="rafdb", file=path,
                   line=int(lines[bad[0]]))
    table = DATASET_CODES["rafdb"]
    unknown = np.flatnonzero(~np.isin(codes.astype(np.int64), [k for k in table if isinstance(k, int)]))
    if len(unknown):
        raise fail(f"unknown label code {int(codes[unknown[0]])}; valid codes: {list(table)} "
                   f"({len(unknown)} line(s) affected)", dataset="rafdb", file=path, line=int(lines[unknown[0]]))
    labels = map_codes(codes.astype(np.int64), table, dataset="rafdb", file=path, column="code")

    splits: list[str] = []
    images: list[str] = []
    folder = "Image/aligned" if aligned else "Image/original"
    for name, ln in zip(names, line_no):
        prefix = name.split("_", 1)[0].lower()
        if prefix not in ("train", "test"):
            raise fail(f"image name {name!r} does not start with train_ or test_", dataset="rafdb", file=path,
                       line=ln)
        splits.append(prefix)
        if aligned:
            stem, ext = os.path.splitext(name)
            images.append(f"{folder}/{stem}_aligned{ext}")
        else:
            images.append(f"{folder}/{name}")
    if not (root / folder).is_dir():
        raise FileNotFoundError(f"rafdb: image folder not found: {root / folder} "
                                f"({'aligned' if aligned else 'original'} images)")
    missing = count_missing(root, images)
    if missing:
        logger.warning("rafdb: %d of %d listed images are missing under %s", missing, len(images), root / folder)
    out = pd.DataFrame({"dataset": "rafdb", "image": images, "label": labels, "split": splits})
    m = make_manifest(out, root, "basic7", name="rafdb")
    return attach_report(m, dataset="rafdb", files=[path, root / folder], missing_images=missing,
                         aligned=aligned)
