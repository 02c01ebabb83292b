"""FER+ adapter: Microsoft's majority rule, drop reasons, votes, and error paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fer_explain.data.io import load_image
from fer_explain.data.sources import SourceError, build_manifest, source_report
from fer_explain.data.sources.ferplus import VOTE_COLUMNS, build_ferplus_manifest, majority_labels

HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
#            usage          name             ne ha su sa an di fe co un NF     expected
ROWS = [
    ("Training", "fer0000000.png", [0, 8, 2, 0, 0, 0, 0, 0, 0, 0]),   # happiness
    ("Training", "fer0000001.png", [4, 4, 2, 0, 0, 0, 0, 0, 0, 0]),   # no majority (4 of 10)
    ("Training", "fer0000002.png", [5, 1, 1, 1, 1, 1, 0, 0, 0, 0]),   # neutral: single votes removed, 5 of 5
    ("Training", "fer0000003.png", [4, 0, 0, 0, 0, 0, 0, 0, 6, 0]),   # unknown wins
    ("Training", "fer0000004.png", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]),  # not a face
    ("Training", "", [10, 0, 0, 0, 0, 0, 0, 0, 0, 0]),                # empty name: non-face, dropped
    ("Training", "fer0000006.png", [0, 0, 0, 0, 4, 0, 0, 6, 0, 0]),   # contempt
    ("Training", "fer0000007.png", [3, 3, 3, 0, 0, 0, 0, 0, 1, 0]),   # three-way tie: no majority
    ("PublicTest", "fer0000008.png", [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),  # all outliers: no majority
    ("PublicTest", "fer0000009.png", [0, 0, 0, 0, 0, 3, 7, 0, 0, 0]),  # fear
    ("PrivateTest", "fer0000010.png", [0, 0, 0, 0, 10, 0, 0, 0, 0, 0]),  # anger
]


def write_ferplus(root: Path, pixel_string, rows=ROWS, *, n_pixel_rows: int | None = None,
                  header: str = HEADER, pixel_name: str = "fer2013.csv") -> None:
    lines = [header] + [f"{u},{n}," + ",".join(str(v) for v in votes) for u, n, votes in rows]
    (root / "fer2013new.csv").write_text("\n".join(lines) + "\n")
    n = len(rows) if n_pixel_rows is None else n_pixel_rows
    pix = ["emotion,pixels,Usage"] + [f"0,{pixel_string(seed=i)},{rows[min(i, len(rows) - 1)][0]}" for i in range(n)]
    (root / pixel_name).parent.mkdir(parents=True, exist_ok=True)
    (root / pixel_name).write_text("\n".join(pix) + "\n")


def test_majority_rule_and_drop_counts(tmp_path: Path, pixel_string) -> None:
    write_ferplus(tmp_path, pixel_string)
    m = build_ferplus_manifest(tmp_path)
    assert list(m.df["pixel_row"]) == [0, 2, 6, 9, 10]
    assert list(m.df["label"]) == ["happiness", "neutral", "contempt", "fear", "anger"]
    assert list(m.df["split"]) == ["train", "train", "train", "publictest", "privatetest"]
    assert m.label_space.name == "basic8"
    report = source_report(m)
    assert report["dropped"] == {"no_image_name": 1, "no_majority": 3, "unknown": 1, "not_face": 1}
    assert report["votes"] == "raw"


def test_votes_raw_and_outliers_removed(tmp_path: Path, pixel_string) -> None:
    write_ferplus(tmp_path, pixel_string)
    raw = build_ferplus_manifest(tmp_path)
    assert raw.vote_columns() == [f"votes_{e}" for e in
                                  ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral",
                                   "contempt")]
    r2 = raw.df[raw.df["pixel_row"] == 2].iloc[0]
    assert (r2["votes_neutral"], r2["votes_happiness"], r2["votes_anger"]) == (5, 1, 1)
    cleaned = build_ferplus_manifest(tmp_path, votes="outliers_removed")
    c2 = cleaned.df[cleaned.df["pixel_row"] == 2].iloc[0]
    assert (c2["votes_neutral"], c2["votes_happiness"], c2["votes_anger"]) == (5, 0, 0)
    soft = cleaned.soft_labels()
    assert soft is not None and np.allclose(soft.sum(axis=1), 1.0)
    assert soft[1, cleaned.label_space.index("neutral")] == 1.0
    assert raw.df["ferplus_image"].iat[0] == "fer0000000.png"


def test_pixels_come_from_fer2013_csv(tmp_path: Path, pixel_string) -> None:
    write_ferplus(tmp_path, pixel_string)
    m = build_manifest("FER+", tmp_path)
    img = load_image(m.root, m.df["image"].iat[3], int(m.df["pixel_row"].iat[3]))
    np.testing.assert_array_equal(img.ravel(), np.array(pixel_string(seed=9).split(), dtype=np.uint8))


def test_fer2013_csv_elsewhere(tmp_path: Path, pixel_string) -> None:
    write_ferplus(tmp_path, pixel_string, pixel_name="pixels/fer2013.csv")
    with pytest.raises(FileNotFoundError, match=r"fer2013\.csv.*fer2013_csv=PATH"):
        build_ferplus_manifest(tmp_path)
    m = build_ferplus_manifest(tmp_path, fer2013_csv=tmp_path / "pixels" / "fer2013.csv")
    assert set(m.df["image"]) == {"pixels/fer2013.csv"}
    assert load_image(m.root, "pixels/fer2013.csv", 0).shape == (48, 48)


def test_row_count_mismatch(tmp_path: Path, pixel_string) -> None:
    write_ferplus(tmp_path, pixel_string, n_pixel_rows=5)
    with pytest.raises(SourceError, match=r"11 data rows but fer2013\.csv has 5"):
        build_ferplus_manifest(tmp_path)


def test_missing_column_and_bad_votes(tmp_path: Path, pixel_string) -> None:
    write_ferplus(tmp_path, pixel_string, header=HEADER.replace(",NF", ",nf_").replace("contempt,", "cont,"))
    with pytest.raises(SourceError) as err:
        build_ferplus_manifest(tmp_path)
    assert "fer2013new.csv" in str(err.value) and "['contempt', 'NF']" in str(err.value)
    assert "found columns ['Usage', 'Image name'" in str(err.value)
    bad = list(ROWS)
    bad[4] = ("Training", "fer0000004.png", [0, 0, 0, "x", 0, 0, 0, 0, 0, 10])
    write_ferplus(tmp_path, pixel_string, rows=bad)
    with pytest.raises(SourceError, match=r"fer2013new\.csv, line 6 \(data row 5\): vote counts must be non-negative numbers"):
        build_ferplus_manifest(tmp_path)
    (tmp_path / "fer2013new.csv").unlink()
    with pytest.raises(FileNotFoundError, match="fer2013new.csv"):
        build_ferplus_manifest(tmp_path)


def test_majority_labels_function() -> None:
    votes = np.array([r[2] for r in ROWS], dtype=float)
    winner, ok = majority_labels(votes)
    assert list(ok) == [True, False, True, True, True, True, True, False, False, True, True]
    assert [VOTE_COLUMNS[w] for w in winner[[0, 2, 3, 4, 6]]] == ["happiness", "neutral", "unknown", "NF",
                                                                    "contempt"]
