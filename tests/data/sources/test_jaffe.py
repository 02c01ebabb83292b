"""JAFFE adapter: file-name parsing, stray duplicates and non-images, subjects, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fer_explain.data.io import load_image
from fer_explain.data.sources import SourceError, build_manifest, source_report
from fer_explain.data.sources.jaffe import build_jaffe_manifest

SUBJECTS = ["KA", "KL", "KM", "NA"]
CODES = ["AN", "DI", "FE", "HA", "NE", "SA", "SU"]


def write_jaffe(root: Path, write_image) -> None:
    n = 0
    for s in SUBJECTS:
        for c in CODES:
            n += 1
            write_image(root / f"{s}.{c}1.{n}.tiff", size=(16, 16), seed=n)
    write_image(root / "KA.AN1.1.png", size=(16, 16))        # same stem as a .tiff: skipped
    write_image(root / "KA.AN2.99.jpg", size=(16, 16))       # a second take only as .jpg: kept
    write_image(root / "portrait.png", size=(16, 16))        # does not follow the pattern
    (root / "README").write_text("JAFFE")
    (root / ".DS_Store").write_bytes(b"\0")


def test_manifest(tmp_path: Path, write_image) -> None:
    write_jaffe(tmp_path, write_image)
    m = build_jaffe_manifest(tmp_path)
    assert len(m) == 4 * 7 + 1
    assert m.df["label"].value_counts()["anger"] == 5
    assert sorted(set(m.df["subject"])) == SUBJECTS
    ka_an = m.df[(m.df["subject"] == "KA") & (m.df["label"] == "anger")]
    assert sorted(ka_an["image"]) == ["KA.AN1.1.tiff", "KA.AN2.99.jpg"]
    assert source_report(m)["skipped"] == {"non_image_files": 2, "unparsed_names": 1, "duplicate_formats": 1}
    assert m.df.loc[m.df["image"] == "NA.SU1.28.tiff", "label"].item() == "surprise"
    assert load_image(m.root, "KA.HA1.4.tiff").shape == (16, 16)
    assert set(m.df["split"]) == {"train"}


def test_subject_disjoint_split(tmp_path: Path, write_image) -> None:
    write_jaffe(tmp_path, write_image)
    m = build_manifest("jaffe", tmp_path, test_fraction=0.25, seed=2)
    assert (m.df.groupby("subject")["split"].nunique() == 1).all()
    assert m.df.loc[m.df["split"] == "test", "subject"].nunique() == 1


def test_unknown_expression_code(tmp_path: Path, write_image) -> None:
    write_jaffe(tmp_path, write_image)
    write_image(tmp_path / "KA.XX1.200.tiff")
    with pytest.raises(SourceError, match=r"KA\.XX1\.200\.tiff: unknown expression code 'XX'"):
        build_jaffe_manifest(tmp_path)


def test_empty_or_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="no faces"):
        build_jaffe_manifest(tmp_path)
    with pytest.raises(FileNotFoundError, match="JAFFE folder"):
        build_jaffe_manifest(tmp_path / "absent")
