"""JAFFE, the Japanese Female Facial Expression database (Lyons et al., 1998) -> Manifest.

Layout: one flat folder of ``<subject>.<EXPR><n>.<id>.tiff`` files, e.g. ``KA.AN1.39.tiff``
(subject ``KA``, expression ``AN``, its first take, image id 39). Expression codes: AN anger,
DI disgust, FE fear, HA happiness, NE neutral, SA sadness, SU surprise.

Stray files are tolerated and counted in the build report: non-image files (README, .DS_Store...)
are ignored (``non_image_files``); images whose names do not follow the pattern are ignored
(``unparsed_names``); when one stem exists in several formats (``KA.AN1.39.tiff`` beside
``KA.AN1.39.png``) one file is kept, preferring .tiff/.tif, then .png, then the rest
(``duplicate_formats``). A well-formed name with an unknown expression code is an error naming the
file. Label space basic7. No official split: ``train`` unless ``test_fraction`` is given (a seeded
subject-disjoint split).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from fer_explain.data.manifest import Manifest, make_manifest
from fer_explain.data.sources._common import (
    attach_report,
    fail,
    is_image_name,
    list_files,
    require_dir,
)
from fer_explain.data.splits import subject_disjoint_split
from fer_explain.labels import DATASET_CODES

LAYOUT = """\
JAFFE — flat folder <root>/KA.AN1.39.tiff  (<subject>.<EXPR><take>.<id>; AN DI FE HA NE SA SU)
Other formats of the same stem are skipped (tiff preferred); non-image files ignored. Subject from the
prefix. Split 'train' unless test_fraction is given (subject-disjoint)."""

NAME_RE = re.compile(r"^(?P<subject>[A-Za-z]+)\.(?P<code>[A-Za-z]{2})(?P<take>\d*)\.(?P<id>\d+)$")
FORMAT_PREFERENCE: tuple[str, ...] = (".tiff", ".tif", ".png", ".bmp", ".jpg", ".jpeg")


def _rank(ext: str) -> int:
    ext = ext.lower()
    return FORMAT_PREFERENCE.index(ext) if ext in FORMAT_PREFERENCE else len(FORMAT_PREFERENCE)


def build_jaffe_manifest(root: str | os.PathLike[str], *, test_fraction: float | None = None,
                         seed: int = 0) -> Manifest:
    """Build the JAFFE manifest (basic7) from a flat folder of ``KA.AN1.39.tiff`` files.

    Args:
        root: the folder holding the images.
        test_fraction: when given, a seeded subject-disjoint train/test split of about this fraction.
        seed: seed of that split.
    """
    root = Path(root)
    require_dir(root, "JAFFE folder", dataset="jaffe")
    table = DATASET_CODES["jaffe"]
    by_stem: dict[str, list[str]] = {}
    skipped = {"non_image_files": 0, "unparsed_names": 0, "duplicate_formats": 0}
    for fname in list_files(root):
        if not is_image_name(fname):
            skipped["non_image_files"] += 1
            continue
        stem = os.path.splitext(fname)[0]
        if not NAME_RE.match(stem):
            skipped["unparsed_names"] += 1
            continue
        by_stem.setdefault(stem, []).append(fname)
    rows: list[dict[str, object]] = []
    for stem, names in sorted(by_stem.items()):
        names.sort(key=lambda n: (_rank(os.path.splitext(n)[1]), n))
        skipped["duplicate_formats"] += len(names) - 1
        m = NAME_RE.match(stem)
        assert m is not None
        code = m.group("code").upper()
        if code not in table:
            raise fail(f"unknown expression code {code!r} in the file name; valid: {list(table)}",
                       dataset="jaffe", file=root / names[0])
        rows.append({
            "dataset": "jaffe", "image": names[0], "label": table[code], "split": "train",
            "subject": m.group("subject").upper(),
        })
    df = pd.DataFrame(rows)
    if len(df) and test_fraction is not None:
        df["split"] = subject_disjoint_split(df["subject"], df["label"], test_fraction, seed)
    m_ = make_manifest(df, root, "basic7", name="jaffe")
    return attach_report(m_, dataset="jaffe", files=[root], skipped=skipped, test_fraction=test_fraction,
                         seed=seed)
