"""ImageFolder adapter: class-folder map, optional split level, unmapped folders, label spaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from fer_explain.data.manifest import ManifestError
from fer_explain.data.sources import SourceError, build_manifest, source_report
from fer_explain.data.sources.imagefolder import build_imagefolder_manifest

MAP = {"Angry": "anger", "Happy": "happiness", "Calm": "neutral"}


def write_tree(root: Path, write_image, splits: tuple[str, ...] = ("",)) -> None:
    for split in splits:
        for cls, n in (("Angry", 2), ("Happy", 3), ("Calm", 1)):
            for k in range(n):
                write_image(root / split / cls / f"{k}.png", size=(8, 8))
        write_image(root / split / "Happy" / "nested" / "deep.JPG", size=(8, 8))
        (root / split / "Angry" / "notes.txt").write_text("x")


def test_flat_tree(tmp_path: Path, write_image) -> None:
    write_tree(tmp_path, write_image, ("",))
    m = build_imagefolder_manifest(tmp_path, MAP, progress=False)
    assert len(m) == 7 and set(m.df["split"]) == {"train"}
    assert m.df["label"].value_counts().to_dict() == {"happiness": 4, "anger": 2, "neutral": 1}
    assert "Happy/nested/deep.JPG" in set(m.df["image"])
    assert m.label_space.name == "basic7"
    assert source_report(m)["skipped"] == {"non_image_files": 1}


def test_split_level(tmp_path: Path, write_image) -> None:
    write_tree(tmp_path, write_image, ("Train", "Test"))
    m = build_manifest("imagefolder", tmp_path, folder_to_label=MAP, has_splits=True, dataset="mine",
                       progress=False)
    assert m.df["split"].value_counts().to_dict() == {"test": 7, "train": 7}
    assert set(m.df["dataset"]) == {"mine"} and m.name == "mine"
    assert m.df["image"].str.startswith(("Train/", "Test/")).all()


def test_unmapped_and_bad_map(tmp_path: Path, write_image) -> None:
    write_tree(tmp_path, write_image, ("",))
    write_image(tmp_path / "Other" / "a.png")
    with pytest.raises(SourceError, match=r"\['Other'\] are not in folder_to_label"):
        build_imagefolder_manifest(tmp_path, MAP)
    m = build_imagefolder_manifest(tmp_path, MAP, skip_unmapped=True, progress=False)
    assert len(m) == 7 and source_report(m)["skipped"]["unmapped_folders"] == 1
    with pytest.raises(ValueError, match=r"unknown emotion names \{'Calm': 'calm'\}"):
        build_imagefolder_manifest(tmp_path, {**MAP, "Calm": "calm"})


def test_label_space(tmp_path: Path, write_image) -> None:
    write_tree(tmp_path, write_image, ("",))
    m = build_imagefolder_manifest(tmp_path, {**MAP, "Calm": "contempt"}, progress=False)
    assert m.label_space.name == "basic8"
    with pytest.raises(ManifestError, match="not in label space"):
        build_imagefolder_manifest(tmp_path, MAP, label_space=["anger", "happiness"], progress=False)
