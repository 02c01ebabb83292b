"""ExpW adapter: one row per face, boxes, confidence threshold, seeded stratified split, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fer_explain.data.sources import SourceError, build_manifest, source_report
from fer_explain.data.sources.expw import build_expw_manifest


def _lines() -> list[str]:
    out = []
    for code in range(7):
        for k in range(5):
            # image angry_0.jpg etc.; k == 0 images hold a second face (below)
            out.append(f"img_{code}_{k}.jpg 0 {10 + k} {20 + k} {80 + k} {95 + k} {70.5 + k} {code}")
    out.append("img_3_0.jpg 1 100 120 160 190 88.0 6")   # a second face in one image (neutral)
    out.append("img_1_1.jpg 1 5 5 50 50 60.0 2")          # confidence exactly 60: dropped (strict >)
    out.append("img_1_2.jpg 1 5 5 50 50 12.3 2")          # low confidence
    out.append("img_2_2.jpg 1 50 60 40 90 99.0 4")        # right < left: bad box
    return out


def write_expw(root: Path, write_image, lines: list[str] | None = None) -> None:
    (root / "label").mkdir(parents=True, exist_ok=True)
    (root / "label" / "label.lst").write_text("\n".join(_lines() if lines is None else lines) + "\n")
    write_image(root / "image" / "origin" / "img_3_0.jpg", size=(200, 200), mode="RGB")


def test_faces_boxes_and_drops(tmp_path: Path, write_image) -> None:
    write_expw(tmp_path, write_image)
    m = build_expw_manifest(tmp_path)
    assert len(m) == 36
    assert source_report(m)["dropped"] == {"low_confidence": 2, "bad_box": 1}
    faces = m.df[m.df["image"] == "image/origin/img_3_0.jpg"]
    assert list(faces["label"]) == ["happiness", "neutral"] and list(faces["face_id"]) == [0, 1]
    np.testing.assert_array_equal(faces[["box_x", "box_y", "box_w", "box_h"]].to_numpy()[1], [120, 100, 40, 90])
    assert m.df["label"].value_counts()["neutral"] == 6
    assert (m.df["confidence"] > 60).all()


def test_stratified_split_is_seeded(tmp_path: Path, write_image) -> None:
    write_expw(tmp_path, write_image)
    m = build_expw_manifest(tmp_path, seed=3)
    table = m.class_distribution()
    # 5 faces per class -> 4 train / 1 test; neutral has 6 -> 5 / 1 (largest remainder of 4.8 / 1.2)
    assert (table.loc["anger", ["test", "train"]].tolist()) == [1, 4]
    assert (table.loc["neutral", ["test", "train"]].tolist()) == [1, 5]
    again = build_manifest("expw", tmp_path, seed=3)
    assert list(again.df["split"]) == list(m.df["split"])
    others = [list(build_expw_manifest(tmp_path, seed=s).df["split"]) for s in range(4, 8)]
    assert any(o != list(m.df["split"]) for o in others)


def test_min_confidence(tmp_path: Path, write_image) -> None:
    write_expw(tmp_path, write_image)
    m = build_expw_manifest(tmp_path, min_confidence=73.0)
    # faces at 70.5..74.5 per class: only k=3,4 (73.5, 74.5) pass, plus the 88.0 second face
    assert len(m) == 7 * 2 + 1
    with pytest.raises(SourceError, match="no face has confidence > 99"):
        build_expw_manifest(tmp_path, min_confidence=99.0)


def test_errors_name_line(tmp_path: Path, write_image) -> None:
    lines = _lines()
    lines[4] = "img_0_4.jpg 0 10 20 80 95 70.0 7"
    write_expw(tmp_path, write_image, lines)
    with pytest.raises(SourceError, match=r"label\.lst, line 5: unknown label code '7'"):
        build_expw_manifest(tmp_path)
    lines[4] = "img_0_4.jpg 0 10 20 80 95 70.0"
    write_expw(tmp_path, write_image, lines)
    with pytest.raises(SourceError, match=r"line 5: expected 8 space-separated fields"):
        build_expw_manifest(tmp_path)
    lines[4] = "img_0_4.jpg 0 10 twenty 80 95 70.0 1"
    write_expw(tmp_path, write_image, lines)
    with pytest.raises(SourceError, match=r"line 5: non-numeric field"):
        build_expw_manifest(tmp_path)


def test_missing_label_file(tmp_path: Path) -> None:
    (tmp_path / "image" / "origin").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"label/label\.lst"):
        build_expw_manifest(tmp_path)
