"""RAF-DB adapter: label list, aligned/original paths, splits from the prefix, error paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fer_explain.data.io import load_image
from fer_explain.data.sources import SourceError, build_manifest, source_report
from fer_explain.data.sources.rafdb import build_rafdb_manifest

# train_00001..00007 with codes 1..7, then test_0001..0003 with codes 4, 7, 1
ENTRIES = [(f"train_{i:05d}.jpg", i) for i in range(1, 8)] + [
    ("test_0001.jpg", 4), ("test_0002.jpg", 7), ("test_0003.jpg", 1),
]


def write_rafdb(root: Path, write_image, entries=ENTRIES, skip_image: str | None = None) -> None:
    (root / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("".join(f"{n} {c}\n" for n, c in entries))
    for k, (name, _) in enumerate(entries):
        if name == skip_image:
            continue
        stem = name[:-4]
        write_image(root / "Image" / "aligned" / f"{stem}_aligned.jpg", size=(12, 12), mode="RGB", seed=k)
        write_image(root / "Image" / "original" / name, size=(20, 16), mode="RGB", seed=k)


def test_aligned_manifest(tmp_path: Path, write_image) -> None:
    write_rafdb(tmp_path, write_image)
    m = build_rafdb_manifest(tmp_path)
    assert len(m) == 10
    assert m.df["split"].value_counts().to_dict() == {"train": 7, "test": 3}
    assert list(m.df["label"][:7]) == ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]
    assert list(m.df["label"][7:]) == ["happiness", "neutral", "surprise"]
    assert m.df["image"].iat[0] == "Image/aligned/train_00001_aligned.jpg"
    assert m.df["image"].iat[7] == "Image/aligned/test_0001_aligned.jpg"
    assert load_image(m.root, m.df["image"].iat[7]).shape == (12, 12, 3)
    assert source_report(m)["missing_images"] == 0


def test_original_images(tmp_path: Path, write_image) -> None:
    write_rafdb(tmp_path, write_image)
    m = build_manifest("raf-db", tmp_path, aligned=False)
    assert m.df["image"].iat[1] == "Image/original/train_00002.jpg"
    assert load_image(m.root, m.df["image"].iat[1]).shape == (16, 20, 3)


def test_missing_images_are_counted_not_opened(tmp_path: Path, write_image) -> None:
    write_rafdb(tmp_path, write_image, skip_image="test_0002.jpg")
    m = build_rafdb_manifest(tmp_path)
    assert len(m) == 10 and source_report(m)["missing_images"] == 1
    problems = m.problems(check_files=True)
    assert len(problems) == 1 and problems[0].row == 8 and "test_0002_aligned.jpg" in str(problems[0])


def test_unknown_code_names_line(tmp_path: Path, write_image) -> None:
    entries = list(ENTRIES)
    entries[3] = ("train_00004.jpg", 8)
    write_rafdb(tmp_path, write_image, entries)
    with pytest.raises(SourceError, match=r"list_patition_label\.txt, line 4: unknown label code 8"):
        build_rafdb_manifest(tmp_path)


def test_malformed_lines(tmp_path: Path, write_image) -> None:
    write_rafdb(tmp_path, write_image)
    label = tmp_path / "EmoLabel" / "list_patition_label.txt"
    label.write_text("train_00001.jpg 1\ntrain_00002.jpg\n")
    with pytest.raises(SourceError, match=r"line 2: expected '<image name> <code>'"):
        build_rafdb_manifest(tmp_path)
    label.write_text("train_00001.jpg 1\nval_00002.jpg 3\n")
    with pytest.raises(SourceError, match=r"line 2: image name 'val_00002.jpg' does not start with train_"):
        build_rafdb_manifest(tmp_path)
    label.write_text("train_00001.jpg happy\n")
    with pytest.raises(SourceError, match=r"line 1: label code 'happy' is not an integer"):
        build_rafdb_manifest(tmp_path)
    label.write_text("\n")
    with pytest.raises(SourceError, match="empty"):
        build_rafdb_manifest(tmp_path)


def test_missing_label_file_and_image_folder(tmp_path: Path, write_image) -> None:
    with pytest.raises(FileNotFoundError, match=r"list_patition_label\.txt"):
        build_rafdb_manifest(tmp_path)
    write_rafdb(tmp_path, write_image)
    shutil.rmtree(tmp_path / "Image" / "original")
    with pytest.raises(FileNotFoundError, match="Image/original"):
        build_rafdb_manifest(tmp_path, aligned=False)
