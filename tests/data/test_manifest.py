import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_explain.data.check import check_manifest, write_cleaned
from fer_explain.data.manifest import (
    Manifest,
    ManifestError,
    format_landmarks,
    make_manifest,
    parse_landmarks,
)


def _rows(n=6):
    labels = ["anger", "happiness", "neutral"]
    return [
        {"dataset": "toy", "image": f"img/{i}.png", "label": labels[i % 3], "split": "train" if i < 4 else "test"}
        for i in range(n)
    ]


def _write_images(root, n=6):
    (root / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8), i * 10, np.uint8)).save(root / "img" / f"{i}.png")


def test_save_load_roundtrip_keeps_root_hash_and_columns(tmp_path):
    _write_images(tmp_path)
    rows = _rows()
    rows[0]["landmarks"] = format_landmarks(np.arange(136).reshape(68, 2))
    rows[0]["landmark_source"] = "dataset"
    m = make_manifest(rows, tmp_path, name="toy")
    path = m.save(tmp_path / "manifests" / "toy", parquet=True)
    assert path.suffix == ".csv" and path.with_suffix(".json").is_file() and path.with_suffix(".parquet").is_file()
    back = Manifest.load(path)
    assert back.root == tmp_path.resolve()
    assert back.content_hash() == m.content_hash()
    assert back.landmarks()[0, 67].tolist() == [134.0, 135.0]
    assert np.isnan(back.landmarks()[1]).all()
    assert list(back.label_indices()) == [0, 3, 6, 0, 3, 6]
    pq = Manifest.load(path.with_suffix(".parquet"))
    assert len(pq) == 6


def test_edited_table_is_detected_by_hash(tmp_path):
    m = make_manifest(_rows(), tmp_path, name="toy")
    path = m.save(tmp_path / "toy")
    text = path.read_text().replace("anger", "fear", 1)
    path.write_text(text)
    with pytest.raises(ManifestError, match="content hash"):
        Manifest.load(path)
    assert Manifest.load(path, verify_hash=False).df["label"].iat[0] == "fear"


def test_make_manifest_reports_every_problem_at_once(tmp_path):
    rows = _rows()
    rows[1]["label"] = "joy"
    rows[2]["split"] = ""
    rows[3]["landmarks"] = "1;2;3"
    with pytest.raises(ManifestError) as err:
        make_manifest(rows, tmp_path, name="bad")
    msg = str(err.value)
    assert "3 problem(s)" in msg
    # rows are named as in an editor: header = line 1, so the first data row (index 0) is line 2
    assert "line 3 (data row 2), column 'label': label 'joy'" in msg
    assert "line 4 (data row 3), column 'split': empty value" in msg
    assert "line 5 (data row 4), column 'landmarks'" in msg and "136" in msg
    assert sorted(p.row for p in err.value.problems) == [1, 2, 3]  # 0-based indices for code


def test_empty_and_missing_columns(tmp_path):
    with pytest.raises(ManifestError, match="no faces found"):
        make_manifest([], tmp_path)
    (tmp_path / "m.csv").write_text("dataset,image\ntoy,a.png\n")
    with pytest.raises(ManifestError, match=r"missing required column\(s\) \['label', 'split'\]"):
        Manifest.load(tmp_path / "m.csv")


def test_check_manifest_finds_missing_and_corrupt_images_and_cleans(tmp_path):
    _write_images(tmp_path)
    (tmp_path / "img" / "2.png").write_bytes(b"not a png")
    (tmp_path / "img" / "4.png").unlink()
    m = make_manifest(_rows(), tmp_path, name="toy")
    report = check_manifest(m, progress=False)
    assert not report.ok
    assert sorted(p.row for p in report.problems) == [2, 4]
    assert "corrupt" in str(report.problems[0]) and "not found" in str(report.problems[1])
    assert str(report.problems[0]).startswith("line 4 (data row 3), column 'image': ")
    cleaned, dropped = write_cleaned(report, tmp_path / "clean")
    kept = Manifest.load(cleaned)
    assert len(kept) == 4
    lost = pd.read_csv(dropped)
    assert lost["line"].tolist() == [4, 6] and lost["data_row"].tolist() == [3, 5]
    assert lost["image"].tolist() == ["img/2.png", "img/4.png"]


def test_pixel_csv_rows_are_checked(tmp_path):
    good = " ".join(["7"] * 2304)
    pd.DataFrame({"emotion": [0, 3], "pixels": [good, "1 2 3"], "Usage": ["Training"] * 2}).to_csv(
        tmp_path / "fer2013.csv", index=False
    )
    rows = [
        {"dataset": "fer2013", "image": "fer2013.csv", "pixel_row": i, "label": "anger", "split": "train"}
        for i in range(2)
    ]
    report = check_manifest(make_manifest(rows, tmp_path), progress=False)
    assert [p.row for p in report.problems] == [1]
    msg = str(report.problems[0])
    # the manifest's row (line 3 of the manifest CSV) and the pixel CSV's row (line 3 of fer2013.csv)
    assert msg.startswith("line 3 (data row 2), column 'image': ")
    assert "fer2013.csv line 3 (data row 2)" in msg and "3 pixel values" in msg


def test_select_class_distribution_and_label_space(tmp_path):
    rows = _rows() + [{"dataset": "toy", "image": "x.png", "label": "contempt", "split": "train"}]
    m = make_manifest(rows, tmp_path, label_space="basic8")
    table = m.class_distribution()
    assert table.loc["total", "total"] == 7
    assert table.loc["anger", "train"] == 2 and table.loc["contempt", "train"] == 1
    assert len(m.select("test")) == 2
    with pytest.raises(KeyError, match="present"):
        m.select("val")
    m7 = m.with_label_space("basic7")
    assert len(m7) == 6 and m7.label_space.num_classes == 7


def test_parse_landmarks_errors():
    with pytest.raises(ValueError, match=r"line 7 \(data row 6\): landmarks have 2 numbers.*136"):
        parse_landmarks("1;2", row=5)
    with pytest.raises(ValueError, match="68, 2"):
        format_landmarks(np.zeros((5, 2)))


def test_manifest_and_check_do_not_import_each_other():
    """manifest.py -> schema.py/errors.py <- check.py: no cycle, and the public names stay where they were."""
    import ast
    from pathlib import Path

    import fer_explain.data as data_pkg

    folder = Path(data_pkg.__file__).parent
    modules = ("manifest", "check", "schema", "errors", "io")
    graph = {}
    for name in modules:
        tree = ast.parse((folder / f"{name}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        graph[name] = {m.rsplit(".", 1)[-1] for m in imported if m.startswith("fer_explain.data.")} & set(modules)
    assert "check" not in graph["manifest"]

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n))) for n in graph[start])

    assert not any(reaches(m, m) for m in modules), graph

    from fer_explain.data.check import BOX_COLUMNS, CheckReport, Problem, find_problems  # noqa: F401
    from fer_explain.data.manifest import (  # noqa: F401
        LANDMARK_SOURCES,
        N_LANDMARKS,
        REQUIRED_COLUMNS,
        VOTE_PREFIX,
    )
    from fer_explain.data.manifest import Problem as P2

    assert P2 is Problem
