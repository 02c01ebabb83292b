"""CK+, the extended Cohn-Kanade dataset (Lucey et al., 2010) -> Manifest, in two layouts.

Official layout (``variant="sequences"``)::

    <root>/cohn-kanade-images/S005/001/S005_001_00000001.png ... S005_001_00000011.png
    <root>/Emotion/S005/001/S005_001_00000011_emotion.txt        one float, e.g. "   3.0000000e+00"
    <root>/Landmarks/S005/001/S005_001_00000001_landmarks.txt    optional, 68 lines "x y"

Emotion codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise.
Only sequences with an emotion file are used (the others are counted as ``no_emotion_file``). The
last ``last_k`` frames of a sequence take its emotion; with ``first_as_neutral`` its first frame is
also added as ``neutral`` (when it is not among the last ``last_k``). Landmark files of the chosen
frames are read (``landmark_source="dataset"``); a frame without one has no landmarks.

Widespread ``CK+48`` layout (``variant="ck48"``)::

    <root>/CK+48/<anger|contempt|disgust|fear|happy|sadness|surprise>/S010_004_00000017.png
    (or the class folders directly under <root>)

Subject ids (``S005``) come from the folder or file name; ``sequence`` holds ``S005_001``. Label
space basic8. CK+ has no official split: every row is ``train`` unless ``test_fraction`` is given,
which makes a seeded subject-disjoint split (no subject in both parts).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fer_explain.data.errors import InvalidOptionError
from fer_explain.data.manifest import Manifest, format_landmarks, make_manifest
from fer_explain.data.sources._common import (
    attach_report,
    fail,
    is_image_name,
    list_dirs,
    list_files,
    relative_to_root,
    require_dir,
)
from fer_explain.data.splits import subject_disjoint_split
from fer_explain.labels import DATASET_CODES

LAYOUT = """\
CK+ — <root>/cohn-kanade-images/S005/001/S005_001_00000001.png ...
         <root>/Emotion/S005/001/S005_001_00000011_emotion.txt  (one float: 0 neutral 1 anger 2 contempt
         3 disgust 4 fear 5 happy 6 sadness 7 surprise)
         <root>/Landmarks/S005/001/S005_001_00000001_landmarks.txt  (optional, 68 'x y' lines)
      or <root>/CK+48/<anger|contempt|disgust|fear|happy|sadness|surprise>/S010_004_00000017.png
Last last_k (3) frames take the emotion, first frame neutral (first_as_neutral). Label space basic8.
Split 'train' unless test_fraction is given (subject-disjoint)."""

Variant = Literal["auto", "sequences", "ck48"]


def detect_ckplus_variant(root: str | os.PathLike[str], images_dir: str = "cohn-kanade-images") -> str:
    """``"sequences"`` for the official layout, ``"ck48"`` for CK+48 class folders."""
    root = Path(root)
    if (root / images_dir).is_dir():
        return "sequences"
    if (root / "CK+48").is_dir():
        return "ck48"
    dirs = list_dirs(root) if root.is_dir() else []
    if dirs and all(d.lower() in DATASET_CODES["ckplus48"] for d in dirs):
        return "ck48"
    raise FileNotFoundError(
        f"ckplus: no CK+ layout under {root}: expected {images_dir}/ (with Emotion/) or CK+48/<class>/ folders; "
        f"found {dirs}"
    )


def build_ckplus_manifest(
    root: str | os.PathLike[str],
    last_k: int = 3,
    first_as_neutral: bool = True,
    *,
    variant: Variant = "auto",
    test_fraction: float | None = None,
    seed: int = 0,
    landmarks: bool = True,
    images_dir: str = "cohn-kanade-images",
    emotion_dir: str = "Emotion",
    landmarks_dir: str = "Landmarks",
    progress: bool = True,
) -> Manifest:
    """Build the CK+ manifest (basic8) from the official sequences or from CK+48.

    Args:
        root: the dataset folder.
        last_k: frames at the end of each sequence that take its emotion (official layout).
        first_as_neutral: add each sequence's first frame as ``neutral`` (official layout).
        variant: ``"auto"``, ``"sequences"`` or ``"ck48"``.
        test_fraction: when given, a seeded subject-disjoint train/test split of about this fraction.
        seed: seed of that split.
        landmarks: read the dataset's landmark files for the chosen frames.
        images_dir, emotion_dir, landmarks_dir: the three folders of the official layout.
        progress: show a progress bar over subjects.
    """
    root = Path(root)
    require_dir(root, "CK+ folder", dataset="ckplus")
    if last_k < 1:
        raise InvalidOptionError(f"ckplus: last_k must be >= 1, got {last_k}")
    if variant == "auto":
        variant = detect_ckplus_variant(root, images_dir)  # type: ignore[assignment]
    extra: dict[str, object] = {}
    if variant == "sequences":
        df, files, skipped, extra = _sequences(root, last_k, first_as_neutral, landmarks, images_dir, emotion_dir,
                                landmarks_dir, progress)
    elif variant == "ck48":
        df, files, skipped = _ck48(root)
    else:
        raise InvalidOptionError(f"ckplus: unknown variant {variant!r}; valid: ['auto', 'sequences', 'ck48']")
    if len(df) and test_fraction is not None:
        df["split"] = subject_disjoint_split(df["subject"], df["label"], test_fraction, seed)
    m = make_manifest(df, root, "basic8", name="ckplus")
    return attach_report(m, dataset="ckplus", files=files, skipped=skipped, variant=variant,
                         test_fraction=test_fraction, seed=seed, details=extra)


def read_emotion_file(path: Path) -> str:
    """Canonical emotion of a CK+ ``*_emotion.txt`` (one float code); errors name the file."""
    text = path.read_text(errors="replace").strip()
    try:
        value = float(text.split()[0]) if text else float("nan")
    except ValueError:
        raise fail(f"expected one number (an emotion code), got {text[:40]!r}", dataset="ckplus", file=path,
                   line=1) from None
    table = DATASET_CODES["ckplus"]
    if not value.is_integer() or int(value) not in table:
        raise fail(f"unknown emotion code {text[:40]!r}; valid codes: {list(table)}", dataset="ckplus", file=path,
                   line=1)
    return table[int(value)]


def read_landmark_file(path: Path) -> str:
    """A CK+ ``*_landmarks.txt`` (68 lines ``x y``) as the manifest's ``"x1;y1;..."`` string."""
    try:
        nums = np.array(path.read_text(errors="replace").split(), dtype=np.float64)
    except ValueError:
        raise fail("landmark file holds a non-number", dataset="ckplus", file=path) from None
    if nums.size != 136:
        raise fail(f"landmark file holds {nums.size} numbers, expected 136 (68 lines 'x y')", dataset="ckplus",
                   file=path)
    return format_landmarks(nums.reshape(68, 2))


def _sequences(root: Path, last_k: int, first_as_neutral: bool, landmarks: bool, images_dir: str,
               emotion_dir: str, landmarks_dir: str, progress: bool
               ) -> tuple[pd.DataFrame, list[Path], dict[str, int], dict[str, object]]:
    img_root = require_dir(root / images_dir, "CK+ image folder", dataset="ckplus")
    emo_root = require_dir(root / emotion_dir, "CK+ emotion folder (Emotion/)", dataset="ckplus")
    lm_root = root / landmarks_dir
    img_prefix = relative_to_root(img_root, root)
    rows: list[dict[str, object]] = []
    skipped = {"no_emotion_file": 0, "no_frames": 0}
    n_seq = 0
    for subject in tqdm(list_dirs(img_root), desc="ckplus subjects", disable=not progress, leave=False):
        for seq in list_dirs(img_root / subject):
            n_seq += 1
            frames = [f for f in list_files(img_root / subject / seq) if is_image_name(f)]
            emo_folder = emo_root / subject / seq
            emo_files = [f for f in list_files(emo_folder) if f.endswith("_emotion.txt")] if emo_folder.is_dir() else []
            if not emo_files:
                skipped["no_emotion_file"] += 1
                continue
            if not frames:
                skipped["no_frames"] += 1
                continue
            if len(emo_files) > 1:
                raise fail(f"more than one emotion file in one sequence: {emo_files}", dataset="ckplus",
                           file=emo_folder)
            emotion = read_emotion_file(emo_folder / emo_files[0])
            chosen = [(f, emotion) for f in frames[-last_k:]]
            if first_as_neutral and len(frames) > last_k:
                chosen.insert(0, (frames[0], "neutral"))
            for fname, label in chosen:
                row: dict[str, object] = {
                    "dataset": "ckplus",
                    "image": f"{img_prefix}/{subject}/{seq}/{fname}",
                    "label": label,
                    "split": "train",
                    "subject": subject,
                    "sequence": f"{subject}_{seq}",
                    "frame": frames.index(fname) + 1,
                }
                if landmarks:
                    lm = lm_root / subject / seq / f"{os.path.splitext(fname)[0]}_landmarks.txt"
                    has = lm.is_file()
                    row["landmarks"] = read_landmark_file(lm) if has else None
                    row["landmark_source"] = "dataset" if has else None
                rows.append(row)
    extra: dict[str, object] = {"sequences": n_seq, "last_k": last_k, "first_as_neutral": first_as_neutral}
    return pd.DataFrame(rows), [img_root, emo_root], skipped, extra


def _ck48(root: Path) -> tuple[pd.DataFrame, list[Path], dict[str, int]]:
    base = root / "CK+48" if (root / "CK+48").is_dir() else root
    table = DATASET_CODES["ckplus48"]
    prefix = relative_to_root(base, root)
    prefix = "" if prefix == "." else prefix + "/"
    rows: list[dict[str, object]] = []
    skipped = 0
    for cls in list_dirs(base):
        label = table.get(cls.lower())
        if label is None:
            raise fail(f"unknown class folder {cls!r}; valid: {list(table)}", dataset="ckplus", file=base / cls)
        for fname in list_files(base / cls):
            if not is_image_name(fname):
                skipped += 1
                continue
            parts = fname.split("_")
            rows.append({
                "dataset": "ckplus",
                "image": f"{prefix}{cls}/{fname}",
                "label": label,
                "split": "train",
                "subject": parts[0],
                "sequence": "_".join(parts[:2]) if len(parts) >= 3 else None,
            })
    return pd.DataFrame(rows), [base], {"non_image_files": skipped}
