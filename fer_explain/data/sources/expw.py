"""ExpW, Expression in-the-Wild (Zhang et al., 2018) -> Manifest, one row per face.

Layout::

    <root>/label/label.lst     "image_name face_id top left right bottom cofidence label" per line,
                               space separated, no header (``cofidence`` is ExpW's spelling)
    <root>/image/origin/<image_name>

Codes: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral. An image may hold several
faces; each becomes a row with its box (``box_x=left``, ``box_y=top``, ``box_w=right-left``,
``box_h=bottom-top``) and the columns ``face_id`` and ``confidence``. Faces with confidence
``<= min_confidence`` (seed 002 kept ``> 60``) or a box of non-positive size are dropped and counted.

ExpW ships no split: a seeded stratified split (4:1 train/test by default) is made with
:func:`fer_explain.data.splits.stratified_split`. Errors name the label file and its 1-based line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from fer_explain.data.manifest import Manifest, make_manifest
from fer_explain.data.sources._common import (
    attach_report,
    fail,
    read_text_lines,
    relative_to_root,
    require_dir,
    require_file,
)
from fer_explain.data.splits import stratified_split
from fer_explain.labels import DATASET_CODES

LAYOUT = """\
ExpW — <root>/label/label.lst  lines 'image_name face_id top left right bottom confidence label'
         (0 angry 1 disgust 2 fear 3 happy 4 sad 5 surprise 6 neutral), images <root>/image/origin/
One row per face with its box; faces with confidence <= min_confidence (default 60) dropped.
No official split: seeded stratified train/test (test_size=0.2)."""

FIELDS: tuple[str, ...] = ("image_name", "face_id", "top", "left", "right", "bottom", "confidence", "label")


def build_expw_manifest(
    root: str | os.PathLike[str],
    min_confidence: float = 60.0,
    *,
    test_size: float = 0.2,
    seed: int = 0,
    label_file: str = "label/label.lst",
    images_dir: str = "image/origin",
) -> Manifest:
    """Build the ExpW manifest (basic7), one row per face.

    Args:
        root: the dataset folder.
        min_confidence: keep faces whose confidence is strictly greater (default 60, as seed 002).
        test_size: fraction of each class put in ``test`` (the rest is ``train``).
        seed: seed of the stratified split.
        label_file: the label list, relative to ``root``.
        images_dir: the image folder, relative to ``root`` (or absolute).
    """
    root = Path(root)
    require_dir(root, "ExpW folder", dataset="expw")
    path = require_file(root / label_file, "ExpW label file", dataset="expw")
    img_dir = Path(images_dir) if Path(images_dir).is_absolute() else root / images_dir
    require_dir(img_dir, "ExpW image folder (images_dir=...)", dataset="expw")
    prefix = relative_to_root(img_dir, root)

    table = DATASET_CODES["expw"]
    rows: list[list[object]] = []
    for ln, line in enumerate(read_text_lines(path, dataset="expw"), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(FIELDS):
            raise fail(f"expected {len(FIELDS)} space-separated fields {list(FIELDS)}, got {len(parts)}: "
                       f"{line.strip()[:100]!r}", dataset="expw", file=path, line=ln)
        try:
            nums = [float(v) for v in parts[1:]]
        except ValueError:
            raise fail(f"non-numeric field in {line.strip()[:100]!r}", dataset="expw", file=path, line=ln) from None
        code = nums[-1]
        if not code.is_integer() or int(code) not in table:
            raise fail(f"unknown label code {parts[-1]!r}; valid codes: {list(table)}", dataset="expw", file=path,
                       line=ln)
        rows.append([parts[0], *nums[:-1], table[int(code)]])
    if not rows:
        raise fail("the label file holds no faces", dataset="expw", file=path)
    df = pd.DataFrame(rows, columns=list(FIELDS))
    low_conf = (df["confidence"] <= float(min_confidence)).to_numpy()
    w = (df["right"] - df["left"]).to_numpy()
    h = (df["bottom"] - df["top"]).to_numpy()
    bad_box = ~low_conf & ((w <= 0) | (h <= 0))
    keep = ~low_conf & ~bad_box
    df = df[keep].reset_index(drop=True)
    if len(df) == 0:
        raise fail(f"no face has confidence > {min_confidence}", dataset="expw", file=path)
    out = pd.DataFrame({
        "dataset": "expw",
        "image": (prefix + "/" + df["image_name"]).to_numpy(dtype=object),
        "label": df["label"].to_numpy(dtype=object),
        "split": stratified_split(df["label"].to_numpy(), test_size=test_size, seed=seed),
        "box_x": df["left"].to_numpy(np.float64),
        "box_y": df["top"].to_numpy(np.float64),
        "box_w": w[keep].astype(np.float64),
        "box_h": h[keep].astype(np.float64),
        "face_id": df["face_id"].astype(np.int64).to_numpy(),
        "confidence": df["confidence"].to_numpy(np.float64),
    })
    m = make_manifest(out, root, "basic7", name="expw")
    return attach_report(m, dataset="expw", files=[path],
                         dropped={"low_confidence": int(low_conf.sum()), "bad_box": int(bad_box.sum())},
                         min_confidence=float(min_confidence), seed=seed, test_size=test_size)
