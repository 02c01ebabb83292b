"""AffectNet adapter: header/no-header CSVs, classes 7/8, dropped codes, boxes, landmarks, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fer_explain.data.sources import SourceError, build_manifest, source_report
from fer_explain.data.sources.affectnet import COLUMNS, build_affectnet_manifest

TRAIN_CODES = list(range(11))  # 0..7 emotions, 8 none, 9 uncertain, 10 no-face
VAL_CODES = [1, 7, 9, 6]


def _landmarks(seed: int, n: int = 136) -> str:
    pts = np.random.default_rng(seed).uniform(0, 200, n)
    return ";".join(f"{v:.2f}" for v in pts)


def _line(i: int, code: int, landmarks: str | None = None) -> str:
    lm = _landmarks(i) if landmarks is None else landmarks
    return f"{i % 3}/img_{i:03d}.jpg,{10 + i},{20 + i},{100 + i},{110 + i},{lm},{code},{0.1 * i:.2f},{-0.05 * i:.2f}"


def write_affectnet(root: Path, write_image, *, train_lines: list[str] | None = None,
                    val_lines: list[str] | None = None, images_dir: str = "Manually_Annotated_Images") -> None:
    root.mkdir(parents=True, exist_ok=True)
    train = train_lines if train_lines is not None else [_line(i, c) for i, c in enumerate(TRAIN_CODES)]
    val = val_lines if val_lines is not None else [_line(100 + i, c) for i, c in enumerate(VAL_CODES)]
    (root / "training.csv").write_text(",".join(COLUMNS) + "\n" + "\n".join(train) + "\n")
    (root / "validation.csv").write_text("\n".join(val) + "\n")  # no header, as shipped
    write_image(root / images_dir / "0" / "img_000.jpg", size=(16, 16), mode="RGB")


def test_classes8(tmp_path: Path, write_image) -> None:
    write_affectnet(tmp_path, write_image)
    m = build_affectnet_manifest(tmp_path)
    assert m.label_space.name == "basic8"
    assert m.df["split"].value_counts().to_dict() == {"train": 8, "val": 3}
    assert list(m.df["label"][:8]) == ["neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger",
                                       "contempt"]
    assert list(m.df["label"][8:]) == ["happiness", "contempt", "anger"]
    assert source_report(m)["dropped"] == {"none": 1, "uncertain": 2, "no_face": 1}
    assert m.df["image"].iat[0] == "Manually_Annotated_Images/0/img_000.jpg"
    np.testing.assert_array_equal(m.boxes()[2], [12, 22, 102, 112])
    assert m.df["valence"].iat[2] == pytest.approx(0.2) and m.df["arousal"].iat[2] == pytest.approx(-0.1)
    lms = m.landmarks()
    assert lms.shape == (11, 68, 2) and not np.isnan(lms).any()
    np.testing.assert_allclose(lms[1].ravel(), [float(v) for v in _landmarks(1).split(";")], atol=1e-3)
    assert set(m.df["landmark_source"]) == {"dataset"}
    m.validate(check_files=False)


def test_classes7_drops_contempt(tmp_path: Path, write_image) -> None:
    write_affectnet(tmp_path, write_image)
    m = build_manifest("affectnet", tmp_path, classes=7)
    assert m.label_space.name == "basic7" and "contempt" not in set(m.df["label"])
    assert len(m) == 9 and source_report(m)["dropped"]["contempt"] == 2
    with pytest.raises(ValueError, match="classes must be 7 or 8"):
        build_affectnet_manifest(tmp_path, classes=6)


def test_validation_with_header_and_custom_images_dir(tmp_path: Path, write_image) -> None:
    write_affectnet(tmp_path, write_image, images_dir="imgs")
    (tmp_path / "validation.csv").write_text(",".join(COLUMNS) + "\n" + _line(5, 3) + "\n")
    m = build_affectnet_manifest(tmp_path, images_dir="imgs")
    assert m.df["split"].value_counts()["val"] == 1
    assert m.df["image"].iat[-1] == "imgs/2/img_005.jpg"
    with pytest.raises(FileNotFoundError, match="Manually_Annotated_Images"):
        build_affectnet_manifest(tmp_path)


def test_missing_landmarks_value_is_allowed(tmp_path: Path, write_image) -> None:
    write_affectnet(tmp_path, write_image, val_lines=[_line(0, 1, landmarks="")])
    m = build_affectnet_manifest(tmp_path)
    has = np.asarray(m.has_landmarks(), dtype=bool)
    assert not has[-1] and has[:-1].all()
    assert m.df["landmark_source"].isna().sum() == 1


def test_unknown_code_names_file_and_row(tmp_path: Path, write_image) -> None:
    write_affectnet(tmp_path, write_image, val_lines=[_line(0, 1), _line(1, 12)])
    with pytest.raises(SourceError, match=r"validation\.csv, line 2 \(data row 2\), column 'expression': unknown expression code"):
        build_affectnet_manifest(tmp_path)


def test_wrong_landmark_count_names_row(tmp_path: Path, write_image) -> None:
    lines = [_line(i, c) for i, c in enumerate(TRAIN_CODES)]
    lines[3] = _line(3, 3, landmarks=_landmarks(3, 134))
    write_affectnet(tmp_path, write_image, train_lines=lines)
    with pytest.raises(SourceError, match=r"training\.csv, line 5 \(data row 4\), column 'facial_landmarks'.*\(134 numbers\)"):
        build_affectnet_manifest(tmp_path)


def test_wrong_columns(tmp_path: Path, write_image) -> None:
    write_affectnet(tmp_path, write_image)
    cols = ",".join(c if c != "expression" else "emotion" for c in COLUMNS)
    (tmp_path / "training.csv").write_text(cols + "\n" + _line(0, 1) + "\n")
    with pytest.raises(SourceError) as err:
        build_affectnet_manifest(tmp_path)
    assert "training.csv" in str(err.value) and "['expression']" in str(err.value) and "'emotion'" in str(err.value)
    write_affectnet(tmp_path, write_image, val_lines=["0/a.jpg,1,2,3,4,5"])
    with pytest.raises(SourceError, match=r"validation\.csv.*no header row and 6 columns; expected 9"):
        build_affectnet_manifest(tmp_path)


def test_missing_file_and_one_file_only(tmp_path: Path, write_image) -> None:
    write_affectnet(tmp_path, write_image)
    (tmp_path / "training.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"split 'train'.*training\.csv"):
        build_affectnet_manifest(tmp_path)
    m = build_affectnet_manifest(tmp_path, files={"val": "validation.csv"})
    assert set(m.df["split"]) == {"val"} and len(m) == 3
