"""FERG-DB adapter: character/expression folders, joy -> happiness, subjects, split, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fer_explain.data.sources import SourceError, build_manifest, source_report
from fer_explain.data.sources.ferg import build_ferg_manifest

CHARACTERS = ["aia", "bonnie", "mery"]
EXPRESSIONS = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]


def write_ferg(base: Path, write_image, per_class: int = 2) -> None:
    for ch in CHARACTERS:
        for ex in EXPRESSIONS:
            for n in range(1, per_class + 1):
                write_image(base / ch / f"{ch}_{ex}" / f"{ch}_{ex}_{n}.png", size=(8, 8), mode="RGB", seed=n)
    (base / "aia" / "aia_joy" / "._aia_joy_1.png").write_bytes(b"\0")  # macOS resource fork


def test_manifest(tmp_path: Path, write_image) -> None:
    write_ferg(tmp_path / "FERG_DB_256", write_image)
    m = build_ferg_manifest(tmp_path, progress=False)
    assert len(m) == 3 * 7 * 2
    assert m.df["label"].value_counts()["happiness"] == 6 and "joy" not in set(m.df["label"])
    assert sorted(set(m.df["subject"])) == CHARACTERS
    assert m.df["image"].iat[0] == "FERG_DB_256/aia/aia_anger/aia_anger_1.png"
    assert source_report(m)["skipped"] == {"non_image_files": 1}
    inner = build_ferg_manifest(tmp_path / "FERG_DB_256", progress=False)
    assert inner.df["image"].iat[0] == "aia/aia_anger/aia_anger_1.png"


def test_stratified_split(tmp_path: Path, write_image) -> None:
    write_ferg(tmp_path / "FERG_DB_256", write_image, per_class=5)
    m = build_manifest("ferg", tmp_path, test_size=0.2, seed=0, progress=False)
    table = m.class_distribution()
    assert (table.loc[list(m.classes), "test"] == 3).all() and (table.loc[list(m.classes), "train"] == 12).all()


def test_bad_folders(tmp_path: Path, write_image) -> None:
    base = tmp_path / "FERG_DB_256"
    write_ferg(base, write_image)
    write_image(base / "ray" / "ray_contempt" / "ray_contempt_1.png")
    with pytest.raises(SourceError, match=r"ray_contempt: unknown expression 'contempt'"):
        build_ferg_manifest(tmp_path, progress=False)
    (base / "ray" / "ray_contempt" / "ray_contempt_1.png").unlink()
    (base / "ray" / "ray_contempt").rmdir()
    write_image(base / "ray" / "happy" / "x.png")
    with pytest.raises(SourceError, match=r"'happy' is not named ray_<expression>"):
        build_ferg_manifest(tmp_path, progress=False)


def test_empty_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no character folders"):
        build_ferg_manifest(tmp_path)
