"""Any torchvision ``ImageFolder``-style tree -> Manifest, with a user-given class-folder map.

Layout::

    <root>/<class_folder>/**/*.png|jpg|...                  (has_splits=False: every row is "train")
    <root>/<split>/<class_folder>/**/*.png|jpg|...          (has_splits=True: split = folder name, lower case)

``folder_to_label`` maps each class folder name to a canonical emotion name (see
:data:`fer_explain.labels.EMOTIONS`), e.g. ``{"angry": "anger", "happy": "happiness", ...}``. A class
folder missing from the map is an error listing the folders found, unless ``skip_unmapped=True``
(then it is ignored and counted). Images are found recursively inside each class folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from fer_explain.data.errors import InvalidOptionError
from fer_explain.data.manifest import Manifest, make_manifest
from fer_explain.data.sources._common import (
    IMAGE_EXTENSIONS,
    attach_report,
    fail,
    is_image_name,
    list_dirs,
    require_dir,
)
from fer_explain.labels import EMOTIONS, LabelSpace, get_label_space

LAYOUT = """\
ImageFolder — <root>/[<split>/]<class_folder>/**/*.png|jpg|...  with folder_to_label={folder: emotion}
Split from the first-level folder when has_splits=True, else 'train'."""


def build_imagefolder_manifest(
    root: str | os.PathLike[str],
    folder_to_label: Mapping[str, str],
    has_splits: bool = False,
    *,
    dataset: str = "imagefolder",
    label_space: str | Sequence[str] | LabelSpace | None = None,
    skip_unmapped: bool = False,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    progress: bool = True,
) -> Manifest:
    """Build a manifest from a class-folder tree.

    Args:
        root: the tree's top folder.
        folder_to_label: class folder name -> canonical emotion name.
        has_splits: the first level holds split folders (``train/``, ``test/``...).
        dataset: value of the ``dataset`` column and the manifest's name.
        label_space: the manifest's label space; default basic8 when contempt occurs, else basic7.
        skip_unmapped: ignore class folders missing from ``folder_to_label`` instead of failing.
        extensions: file extensions taken as images (case-insensitive).
        progress: show a progress bar over class folders.
    """
    root = Path(root)
    require_dir(root, "image folder", dataset=dataset)
    if not isinstance(folder_to_label, Mapping):
        raise InvalidOptionError(f"{dataset}: folder_to_label must map class folder names to emotion names, e.g. "
                                 f"{{'angry': 'anger', 'happy': 'happiness'}}; got {folder_to_label!r}")
    bad = {k: v for k, v in folder_to_label.items() if v not in EMOTIONS}
    if bad:
        raise InvalidOptionError(f"{dataset}: folder_to_label maps to unknown emotion names {bad}; valid: {list(EMOTIONS)}")
    exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    split_dirs = list_dirs(root) if has_splits else [""]
    if has_splits and not split_dirs:
        raise FileNotFoundError(f"{dataset}: has_splits=True but {root} has no sub-folders")
    jobs = [(s, c) for s in split_dirs for c in list_dirs(root / s)]
    unmapped = sorted({c for _, c in jobs if c not in folder_to_label})
    if unmapped and not skip_unmapped:
        raise fail(f"class folder(s) {unmapped} are not in folder_to_label (mapped: {sorted(folder_to_label)}); "
                   "add them or pass skip_unmapped=True", dataset=dataset, file=root)
    rows: list[dict[str, object]] = []
    skipped = {"non_image_files": 0, "unmapped_folders": 0}
    for split, cls in tqdm(jobs, desc=f"{dataset} folders", disable=not progress, leave=False):
        if cls not in folder_to_label:
            skipped["unmapped_folders"] += 1
            continue
        label = folder_to_label[cls]
        base = root / split / cls
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = Path(dirpath).relative_to(root).as_posix()
            for fname in sorted(filenames):
                if not is_image_name(fname, exts):
                    skipped["non_image_files"] += 1
                    continue
                rows.append({"dataset": dataset, "image": f"{rel}/{fname}", "label": label,
                             "split": split.lower() if split else "train"})
    df = pd.DataFrame(rows)
    if label_space is None:
        label_space = "basic8" if "contempt" in set(folder_to_label.values()) else "basic7"
    ls = get_label_space(label_space)
    m = make_manifest(df, root, ls, name=dataset)
    return attach_report(m, dataset=dataset, files=[root], skipped=skipped)
