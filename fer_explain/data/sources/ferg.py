"""FERG-DB, the Facial Expression Research Group 2D database (Aneja et al., 2016) -> Manifest.

Layout::

    <root>/FERG_DB_256/<character>/<character>_<expression>/<character>_<expression>_<n>.png

(``root`` may also be the ``FERG_DB_256`` folder itself.) Characters: aia, bonnie, jules, malcolm,
mery, ray — each is a ``subject``. Expressions: anger, disgust, fear, joy (-> happiness), neutral,
sadness, surprise. Label space basic7. No official split: ``train`` unless ``test_size`` is given
(a seeded split stratified by label; FERG's characters all show every expression).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from fer_explain.data.manifest import Manifest, make_manifest
from fer_explain.data.sources._common import (
    attach_report,
    fail,
    is_image_name,
    list_dirs,
    list_files,
    relative_to_root,
    require_dir,
)
from fer_explain.data.splits import stratified_split
from fer_explain.labels import DATASET_CODES

LAYOUT = """\
FERG-DB — <root>/FERG_DB_256/<character>/<character>_<expression>/<character>_<expression>_<n>.png
         (expressions anger disgust fear joy neutral sadness surprise; joy -> happiness)
Subject = character. Split 'train' unless test_size is given (stratified, seeded)."""


def build_ferg_manifest(root: str | os.PathLike[str], *, test_size: float | None = None, seed: int = 0,
                        progress: bool = True) -> Manifest:
    """Build the FERG-DB manifest (basic7).

    Args:
        root: the folder holding ``FERG_DB_256/`` (or that folder itself).
        test_size: when given, a seeded stratified train/test split with this test fraction.
        seed: seed of that split.
        progress: show a progress bar over characters.
    """
    root = Path(root)
    require_dir(root, "FERG-DB folder", dataset="ferg")
    base = root / "FERG_DB_256" if (root / "FERG_DB_256").is_dir() else root
    prefix = relative_to_root(base, root)
    prefix = "" if prefix == "." else prefix + "/"
    table = DATASET_CODES["ferg"]
    characters = list_dirs(base)
    if not characters:
        raise FileNotFoundError(f"ferg: no character folders under {base} (expected FERG_DB_256/<character>/)")
    rows: list[dict[str, object]] = []
    skipped = 0
    for character in tqdm(characters, desc="ferg characters", disable=not progress, leave=False):
        for expr_dir in list_dirs(base / character):
            head, sep, expression = expr_dir.rpartition("_")
            if not sep or head.lower() != character.lower():
                raise fail(f"expression folder {expr_dir!r} is not named {character}_<expression>",
                           dataset="ferg", file=base / character / expr_dir)
            label = table.get(expression.lower())
            if label is None:
                raise fail(f"unknown expression {expression!r}; valid: {list(table)}", dataset="ferg",
                           file=base / character / expr_dir)
            for fname in list_files(base / character / expr_dir):
                if not is_image_name(fname):
                    skipped += 1
                    continue
                rows.append({
                    "dataset": "ferg", "image": f"{prefix}{character}/{expr_dir}/{fname}", "label": label,
                    "split": "train", "subject": character,
                })
    df = pd.DataFrame(rows)
    if len(df) and test_size is not None:
        df["split"] = stratified_split(df["label"], test_size=test_size, seed=seed)
    m = make_manifest(df, root, "basic7", name="ferg")
    return attach_report(m, dataset="ferg", files=[base], skipped={"non_image_files": skipped},
                         test_size=test_size, seed=seed)
