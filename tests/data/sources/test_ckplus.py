"""CK+ adapter: sequences with emotion/landmark files, frame selection, CK+48, splits, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fer_explain.data.sources import SourceError, build_manifest, source_report
from fer_explain.data.sources.ckplus import build_ckplus_manifest, detect_ckplus_variant

# (subject, sequence, frames, emotion code or None, landmarks written?)
SEQUENCES = [
    ("S005", "001", 5, 3, False),     # disgust
    ("S005", "002", 4, None, False),  # no emotion file: skipped
    ("S010", "004", 6, 5, True),      # happiness, with landmarks
    ("S011", "001", 2, 7, False),     # surprise, shorter than last_k: no neutral frame
    ("S022", "001", 5, 2, False),     # contempt
    ("S026", "002", 4, 1, False),     # anger
    ("S034", "003", 4, 6, False),     # sadness
]


def _points(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 640, (68, 2)).round(3)


def write_ckplus(root: Path, write_image, sequences=SEQUENCES) -> None:
    for subject, seq, n, code, with_lm in sequences:
        for f in range(1, n + 1):
            stem = f"{subject}_{seq}_{f:08d}"
            write_image(root / "cohn-kanade-images" / subject / seq / f"{stem}.png", size=(10, 8), seed=f)
            if with_lm:
                lm = root / "Landmarks" / subject / seq / f"{stem}_landmarks.txt"
                lm.parent.mkdir(parents=True, exist_ok=True)
                lm.write_text("".join(f"   {x:.7e}   {y:.7e}\n" for x, y in _points(f)))
        (root / "Emotion" / subject / seq).mkdir(parents=True, exist_ok=True)
        if code is not None:
            (root / "Emotion" / subject / seq / f"{subject}_{seq}_{n:08d}_emotion.txt").write_text(
                f"   {float(code):.7e}\n")


def test_sequences_frames_and_labels(tmp_path: Path, write_image) -> None:
    write_ckplus(tmp_path, write_image)
    m = build_ckplus_manifest(tmp_path, progress=False)
    assert len(m) == 4 + 4 + 2 + 4 + 4 + 4
    assert m.label_space.name == "basic8" and set(m.df["split"]) == {"train"}
    s005 = m.df[m.df["sequence"] == "S005_001"]
    assert list(s005["label"]) == ["neutral", "disgust", "disgust", "disgust"]
    assert list(s005["frame"]) == [1, 3, 4, 5]
    assert s005["image"].iat[0] == "cohn-kanade-images/S005/001/S005_001_00000001.png"
    assert list(m.df[m.df["subject"] == "S011"]["label"]) == ["surprise", "surprise"]
    assert m.df["label"].value_counts()["contempt"] == 3
    report = source_report(m)
    assert report["skipped"] == {"no_emotion_file": 1} and report["sequences"] == 7


def test_landmarks_from_dataset(tmp_path: Path, write_image) -> None:
    write_ckplus(tmp_path, write_image)
    m = build_ckplus_manifest(tmp_path, progress=False)
    has = np.asarray(m.has_landmarks(), dtype=bool)
    assert has.sum() == 4 and set(m.df.loc[has, "subject"]) == {"S010"}
    assert set(m.df.loc[has, "landmark_source"]) == {"dataset"}
    rows = np.flatnonzero(has)
    np.testing.assert_allclose(m.landmarks([rows[-1]])[0], _points(6), atol=0.006)  # frame 6 of S010/004
    assert m.landmarks([0]).shape == (1, 68, 2) and np.isnan(m.landmarks([0])).all()
    no_lm = build_ckplus_manifest(tmp_path, landmarks=False, progress=False)
    assert "landmarks" not in no_lm.df


def test_last_k_and_first_as_neutral_options(tmp_path: Path, write_image) -> None:
    write_ckplus(tmp_path, write_image)
    m = build_ckplus_manifest(tmp_path, last_k=1, first_as_neutral=False, progress=False)
    assert len(m) == 6 and "neutral" not in set(m.df["label"])
    assert m.df["frame"].tolist() == [5, 6, 2, 5, 4, 4]
    with pytest.raises(ValueError, match="last_k must be >= 1"):
        build_ckplus_manifest(tmp_path, last_k=0)


def test_subject_disjoint_split(tmp_path: Path, write_image) -> None:
    write_ckplus(tmp_path, write_image)
    m = build_manifest("ck+", tmp_path, test_fraction=0.3, seed=1, progress=False)
    by_subject = m.df.groupby("subject")["split"].nunique()
    assert (by_subject == 1).all()
    assert set(m.df["split"]) == {"train", "test"}
    again = build_ckplus_manifest(tmp_path, test_fraction=0.3, seed=1, progress=False)
    assert list(again.df["split"]) == list(m.df["split"])


def test_bad_emotion_and_landmark_files_are_named(tmp_path: Path, write_image) -> None:
    write_ckplus(tmp_path, write_image)
    emo = tmp_path / "Emotion" / "S026" / "002" / "S026_002_00000004_emotion.txt"
    emo.write_text("   9.0000000e+00\n")
    with pytest.raises(SourceError, match=r"S026_002_00000004_emotion\.txt, line 1: unknown emotion code"):
        build_ckplus_manifest(tmp_path, progress=False)
    emo.write_text("happy\n")
    with pytest.raises(SourceError, match="expected one number"):
        build_ckplus_manifest(tmp_path, progress=False)
    emo.write_text("   1.0000000e+00\n")
    lm = tmp_path / "Landmarks" / "S010" / "004" / "S010_004_00000006_landmarks.txt"
    lm.write_text("\n".join(lm.read_text().splitlines()[:67]))
    with pytest.raises(SourceError, match=r"S010_004_00000006_landmarks\.txt: landmark file holds 134 numbers"):
        build_ckplus_manifest(tmp_path, progress=False)


def test_missing_emotion_folder(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "cohn-kanade-images" / "S005" / "001" / "S005_001_00000001.png")
    with pytest.raises(FileNotFoundError, match="Emotion"):
        build_ckplus_manifest(tmp_path, progress=False)


def write_ck48(base: Path, write_image) -> None:
    for k, (cls, subj) in enumerate([("anger", "S010"), ("anger", "S011"), ("contempt", "S010"),
                                     ("happy", "S022"), ("surprise", "S034"), ("sadness", "S026")]):
        for f in (17, 18):
            write_image(base / cls / f"{subj}_00{k}_000000{f}.png", size=(48, 48), seed=f)
    (base / "happy" / "Thumbs.db").write_text("x")


def test_ck48_layout(tmp_path: Path, write_image) -> None:
    write_ck48(tmp_path / "CK+48", write_image)
    assert detect_ckplus_variant(tmp_path) == "ck48"
    m = build_ckplus_manifest(tmp_path)
    assert len(m) == 12 and m.df["image"].iat[0] == "CK+48/anger/S010_000_00000017.png"
    assert m.df["label"].value_counts().to_dict() == {"anger": 4, "contempt": 2, "happiness": 2, "surprise": 2,
                                                      "sadness": 2}
    assert sorted(set(m.df["subject"])) == ["S010", "S011", "S022", "S026", "S034"]
    assert source_report(m)["skipped"] == {"non_image_files": 1}
    # root may also be the CK+48 folder itself
    inner = build_ckplus_manifest(tmp_path / "CK+48")
    assert inner.df["image"].iat[0] == "anger/S010_000_00000017.png"
    (tmp_path / "CK+48" / "joy").mkdir()
    with pytest.raises(SourceError, match="unknown class folder 'joy'"):
        build_ckplus_manifest(tmp_path, variant="ck48")


def test_no_layout(tmp_path: Path) -> None:
    (tmp_path / "misc").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no CK\+ layout.*\['misc'\]"):
        build_ckplus_manifest(tmp_path)
