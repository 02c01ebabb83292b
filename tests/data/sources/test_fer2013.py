"""FER2013 adapter: the CSV, icml_face_data.csv and image-folder layouts, and their error paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fer_explain.data.io import load_image
from fer_explain.data.manifest import ManifestError
from fer_explain.data.sources import SourceError, build_manifest, source_report
from fer_explain.data.sources.fer2013 import build_fer2013_manifest, detect_fer2013_variant

# 7 classes x (2 Training, 1 PublicTest, 1 PrivateTest) = 28 rows
USAGES = ["Training", "Training", "PublicTest", "PrivateTest"]
CODE_NAMES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]


def _rows() -> list[tuple[int, str]]:
    return [(code, usage) for code in range(7) for usage in USAGES]


def write_fer2013_csv(root: Path, pixel_string, *, icml: bool = False, overrides: dict | None = None) -> Path:
    """Write fer2013.csv (or icml_face_data.csv with its spaced header) with the rows of :func:`_rows`."""
    overrides = overrides or {}
    lines = ["emotion, Usage, pixels" if icml else "emotion,pixels,Usage"]
    for i, (code, usage) in enumerate(_rows()):
        code, usage, pixels = overrides.get(i, (code, usage, pixel_string(seed=i)))
        lines.append(f"{code},{usage},{pixels}" if icml else f"{code},{pixels},{usage}")
    path = root / ("icml_face_data.csv" if icml else "fer2013.csv")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_layout_counts_labels_and_pixels(tmp_path: Path, pixel_string) -> None:
    write_fer2013_csv(tmp_path, pixel_string)
    m = build_fer2013_manifest(tmp_path, progress=False)
    assert len(m) == 28
    assert m.df["split"].value_counts().to_dict() == {"train": 14, "publictest": 7, "privatetest": 7}
    assert list(m.df["pixel_row"]) == list(range(28))
    assert set(m.df["image"]) == {"fer2013.csv"}
    assert list(m.df["label"]) == [CODE_NAMES[c] for c, _ in _rows()]
    assert m.label_space.name == "basic7"
    # data row 9 (code 2 = fear, Training) decodes to the pixels written for it
    img = load_image(m.root, m.df["image"].iat[9], int(m.df["pixel_row"].iat[9]))
    expected = np.array(pixel_string(seed=9).split(), dtype=np.uint8).reshape(48, 48)
    np.testing.assert_array_equal(img, expected)
    assert source_report(m)["variant"] == "csv"


def test_icml_variant_strips_header_spaces(tmp_path: Path, pixel_string) -> None:
    write_fer2013_csv(tmp_path, pixel_string, icml=True)
    assert detect_fer2013_variant(tmp_path) == "icml"
    m = build_manifest("fer2013", tmp_path)
    assert len(m) == 28 and set(m.df["image"]) == {"icml_face_data.csv"}
    assert m.df["split"].value_counts()["privatetest"] == 7
    assert list(m.df["label"][:4]) == ["anger"] * 4
    img = load_image(m.root, "icml_face_data.csv", 27)
    np.testing.assert_array_equal(img.ravel(), np.array(pixel_string(seed=27).split(), dtype=np.uint8))


def test_wrong_pixel_length_names_file_and_row(tmp_path: Path, pixel_string) -> None:
    short = " ".join(pixel_string(seed=5).split()[:-1])
    write_fer2013_csv(tmp_path, pixel_string, overrides={5: (1, "Training", short)})
    with pytest.raises(SourceError) as err:
        build_fer2013_manifest(tmp_path)
    msg = str(err.value)
    assert "fer2013.csv, line 7 (data row 6), column 'pixels'" in msg and "2303 values" in msg
    assert [p.row for p in err.value.problems] == [5]


def test_double_spaces_are_not_a_length_error(tmp_path: Path, pixel_string) -> None:
    spaced = pixel_string(seed=3).replace(" ", "  ", 10)
    write_fer2013_csv(tmp_path, pixel_string, overrides={3: (0, "PrivateTest", spaced)})
    m = build_fer2013_manifest(tmp_path)
    assert m.df["split"].iat[3] == "privatetest"


def test_unknown_code_and_usage_name_row(tmp_path: Path, pixel_string) -> None:
    write_fer2013_csv(tmp_path, pixel_string, overrides={2: (9, "Training", pixel_string(seed=2))})
    with pytest.raises(SourceError, match=r"fer2013\.csv, line 4 \(data row 3\), column 'emotion': unknown label code"):
        build_fer2013_manifest(tmp_path)
    write_fer2013_csv(tmp_path, pixel_string, overrides={4: (1, "Validation", pixel_string(seed=4))})
    with pytest.raises(SourceError, match=r"line 6 \(data row 5\).*unknown Usage value.*'Validation'"):
        build_fer2013_manifest(tmp_path)
    write_fer2013_csv(tmp_path, pixel_string, overrides={6: ("x", "Training", pixel_string(seed=6))})
    with pytest.raises(SourceError, match=r"line 8 \(data row 7\).*not an integer"):
        build_fer2013_manifest(tmp_path)


def test_missing_column_lists_columns_found(tmp_path: Path) -> None:
    (tmp_path / "fer2013.csv").write_text("emotion,Usage\n0,Training\n")
    with pytest.raises(SourceError) as err:
        build_fer2013_manifest(tmp_path)
    msg = str(err.value)
    assert "fer2013.csv" in msg and "['pixels']" in msg and "found columns ['emotion', 'Usage']" in msg


def test_header_only_csv_is_an_empty_dataset(tmp_path: Path) -> None:
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n")
    with pytest.raises(ManifestError, match="no faces"):
        build_fer2013_manifest(tmp_path)


def test_nothing_under_root(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"fer2013\.csv.*notes\.txt"):
        build_fer2013_manifest(tmp_path)
    with pytest.raises(FileNotFoundError, match="FER2013 folder"):
        build_fer2013_manifest(tmp_path / "absent")


def write_fer2013_folders(root: Path, write_image) -> None:
    folders = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    n = 0
    for cls in folders:
        for k in range(2):
            write_image(root / "train" / cls / f"Training_{100 + n}.jpg", size=(48, 48), seed=n)
            n += 1
        write_image(root / "test" / cls / f"PublicTest_{200 + n}.jpg", size=(48, 48), seed=n)
        write_image(root / "test" / cls / f"PrivateTest_{300 + n}.jpg", size=(48, 48), seed=n)
        n += 1
    write_image(root / "test" / "happy" / "extra_face.png", size=(48, 48))  # no known prefix -> 'test'
    (root / "train" / "angry" / "README.txt").write_text("not an image")


def test_folder_layout_splits_from_prefix(tmp_path: Path, write_image) -> None:
    write_fer2013_folders(tmp_path, write_image)
    assert detect_fer2013_variant(tmp_path) == "folders"
    m = build_fer2013_manifest(tmp_path, progress=False)
    assert m.df["split"].value_counts().to_dict() == {"train": 14, "publictest": 7, "privatetest": 7, "test": 1}
    assert "pixel_row" not in m.df
    row = m.df[m.df["image"] == "test/happy/extra_face.png"]
    assert list(row["split"]) == ["test"] and list(row["label"]) == ["happiness"]
    assert m.class_distribution().loc["sadness", "train"] == 2
    assert source_report(m)["skipped"] == {"non_image_files": 1}
    assert load_image(m.root, m.df["image"].iat[0]).shape == (48, 48)


def test_folder_layout_unknown_class_folder(tmp_path: Path, write_image) -> None:
    write_fer2013_folders(tmp_path, write_image)
    write_image(tmp_path / "train" / "contempt" / "Training_1.jpg")
    with pytest.raises(SourceError, match=r"train/contempt.*unknown class folder 'contempt'.*'angry'"):
        build_fer2013_manifest(tmp_path, progress=False)


def test_variant_can_be_forced(tmp_path: Path, write_image, pixel_string) -> None:
    write_fer2013_folders(tmp_path, write_image)
    write_fer2013_csv(tmp_path, pixel_string)
    assert source_report(build_fer2013_manifest(tmp_path))["variant"] == "csv"
    assert source_report(build_fer2013_manifest(tmp_path, "folders", progress=False))["variant"] == "folders"
    with pytest.raises(ValueError, match="unknown variant 'parquet'"):
        build_fer2013_manifest(tmp_path, "parquet")  # type: ignore[arg-type]
