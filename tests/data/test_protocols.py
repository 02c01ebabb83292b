"""Seed 004's split presets (and the project protocol) on tiny datasets written in their true layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_explain.data import protocols as P
from fer_explain.data.errors import UnknownNameError
from fer_explain.data.manifest import ManifestError
from fer_explain.data.sources import build_manifest
from fer_explain.data.splits import carve_validation

EMOTIONS7 = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]


def _img(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (4, 4), dtype=np.uint8)).save(path)


def _counts(m, split: str) -> pd.Series:
    return m.df.loc[m.df["split"] == split, "label"].value_counts()


# --------------------------------------------------------------------------- JAFFE
def write_jaffe(root: Path) -> None:
    """JAFFE's real size: 10 subjects x 7 expressions x 3 takes = 210, plus 3 fourth takes = 213 files."""
    n = 0
    for s in ["KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM"]:
        for code in ["AN", "DI", "FE", "HA", "NE", "SA", "SU"]:
            for take in (1, 2, 3):
                n += 1
                _img(root / f"{s}.{code}{take}.{n}.tiff", n)
    for code in ("HA", "SU", "NE"):
        n += 1
        _img(root / f"KA.{code}4.{n}.tiff", n)


def test_seed004_jaffe_120_23_70(tmp_path: Path) -> None:
    write_jaffe(tmp_path)
    m = build_manifest("jaffe", tmp_path)
    assert len(m) == 213
    out = P.seed004_jaffe(m)
    assert out.df["split"].value_counts().to_dict() == {"train": 120, "val": 23, "test": 70}
    assert (_counts(out, "test").reindex(EMOTIONS7) == 10).all()
    assert (out.df["original_split"] == "train").all() and list(out.df["image"]) == list(m.df["image"])
    assert out.df["split"].equals(P.seed004_jaffe(m).df["split"])  # deterministic
    assert not out.df["split"].equals(P.seed004_jaffe(m, seed=1).df["split"])
    small = P.seed004_jaffe(m, test_per_class=2, n_val=5)
    assert small.df["split"].value_counts().to_dict() == {"train": 194, "test": 14, "val": 5}
    with pytest.raises(ValueError, match="fewer"):
        P.seed004_jaffe(m, test_per_class=40)


# --------------------------------------------------------------------------- CK+
CK_CODES = {"anger": 1, "contempt": 2, "disgust": 3, "fear": 4, "happiness": 5, "sadness": 6, "surprise": 7}


def write_ckplus(root: Path, per_class: int = 10) -> list[tuple[str, int]]:
    """Official layout: per_class labelled sequences of each of CK+'s 7 emotions (4-7 frames), plus one
    sequence without an emotion file; returns (sequence id, last frame) of the labelled ones."""
    out, k = [], 0
    for code in CK_CODES.values():
        for j in range(per_class):
            k += 1
            subject, seq, n = f"S{100 + k:03d}", f"{j + 1:03d}", 4 + k % 4
            for f in range(1, n + 1):
                _img(root / "cohn-kanade-images" / subject / seq / f"{subject}_{seq}_{f:08d}.png", f)
            emo = root / "Emotion" / subject / seq
            emo.mkdir(parents=True, exist_ok=True)
            (emo / f"{subject}_{seq}_{n:08d}_emotion.txt").write_text(f"   {float(code):.7e}\n")
            out.append((f"{subject}_{seq}", n))
    for f in range(1, 4):
        _img(root / "cohn-kanade-images" / "S999" / "001" / f"S999_001_{f:08d}.png", f)
    return out


def test_seed004_ckplus_last_frames_70_10_20(tmp_path: Path) -> None:
    last = dict(write_ckplus(tmp_path))
    m = build_manifest("ckplus", tmp_path, progress=False)  # last 3 frames + a neutral first frame each
    assert len(m) == 70 * 4
    out = P.seed004_ckplus(m)
    assert len(out) == 70 and out.df["sequence"].is_unique
    assert {s: int(f) for s, f in zip(out.df["sequence"], out.df["frame"])} == last
    assert "neutral" not in set(out.df["label"])
    assert out.df["split"].value_counts().to_dict() == {"train": 49, "test": 14, "val": 7}
    for split, k in (("train", 7), ("val", 1), ("test", 2)):
        assert (_counts(out, split).reindex(list(CK_CODES)) == k).all(), split
    assert out.df["split"].equals(P.seed004_ckplus(m).df["split"])
    # the same rows whatever frames the adapter kept
    one = P.seed004_ckplus(build_manifest("ckplus", tmp_path, last_k=1, first_as_neutral=False, progress=False))
    assert list(one.df["image"]) == list(out.df["image"]) and one.df["split"].equals(out.df["split"])


def test_seed004_ckplus_ck48_layout(tmp_path: Path) -> None:
    folders = {"anger": "anger", "contempt": "contempt", "disgust": "disgust", "fear": "fear",
               "happy": "happiness", "sadness": "sadness", "surprise": "surprise"}
    for k, folder in enumerate(folders):
        for j in range(10):
            for f in (12, 13, 14 + j % 3):  # the last three frames; the last one varies
                _img(tmp_path / "CK+48" / folder / f"S{k:03d}_{j + 1:03d}_{f:08d}.png", f)
    m = build_manifest("ckplus", tmp_path)
    out = P.seed004_ckplus(m)
    assert len(out) == 70 and out.df["sequence"].is_unique
    frames = out.df["image"].str.extract(r"_(\d{8})\.png$")[0].astype(int)
    assert (frames >= 14).all()
    assert out.df["split"].value_counts().to_dict() == {"train": 49, "test": 14, "val": 7}


def test_seed004_ckplus_needs_sequences(tmp_path: Path) -> None:
    write_jaffe(tmp_path)
    with pytest.raises(ManifestError, match="sequence"):
        P.seed004_ckplus(build_manifest("jaffe", tmp_path))


# --------------------------------------------------------------------------- FERG
def test_seed004_ferg_per_emotion_test(tmp_path: Path) -> None:
    base = tmp_path / "FERG_DB_256"
    for ch in ("aia", "bonnie", "mery"):
        for ex in ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"):
            for n in range(1, 9):
                _img(base / ch / f"{ch}_{ex}" / f"{ch}_{ex}_{n}.png", n)
    m = build_manifest("ferg", tmp_path, progress=False)
    assert len(m) == 168
    out = P.seed004_ferg(m, test_per_class=4)
    assert (_counts(out, "test").reindex(EMOTIONS7) == 4).all()
    rest = 168 - 28
    assert (out.df["split"] == "val").sum() == round(rest * 14 / 48) == 41
    assert (out.df["split"] == "train").sum() == rest - 41
    assert out.df["split"].equals(P.seed004_ferg(m, test_per_class=4).df["split"])
    with pytest.raises(ValueError, match="cannot draw 1000 rows of every class"):
        P.seed004_ferg(m)  # the paper's 1,000 per emotion needs the real FERG


# --------------------------------------------------------------------------- FER2013
FER_FOLDERS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def write_fer2013_folders(root: Path, train: int = 3, public: int = 4, private: int = 2) -> None:
    n = 0
    for cls in FER_FOLDERS:
        for prefix, k, top in (("Training", train, "train"), ("PublicTest", public, "test"),
                               ("PrivateTest", private, "test")):
            for _ in range(k):
                n += 1
                _img(root / top / cls / f"{prefix}_{1000 + n}.jpg", n)


def test_seed004_fer2013_reading(tmp_path: Path) -> None:
    write_fer2013_folders(tmp_path)
    m = build_manifest("fer2013", tmp_path, progress=False)
    out = P.seed004_fer2013(m, n_val=14)
    orig, split = out.df["original_split"], out.df["split"]
    assert (split[orig == "train"] == "train").all() and (split == "train").sum() == 21  # all of Training
    assert (split[orig == "privatetest"] == "test").all() and (split == "test").sum() == 14
    assert set(split[orig == "publictest"]) == {"val", "unused"} and (split == "val").sum() == 14
    assert (_counts(out, "val").reindex(EMOTIONS7) == 2).all()  # stratified
    assert len(out) == len(m) and list(out.df["image"]) == list(m.df["image"])
    with pytest.raises(ValueError, match="PublicTest has 28"):
        P.seed004_fer2013(m)  # the paper's 3,500 needs the real PublicTest
    with pytest.raises(ManifestError, match="privatetest"):
        P.seed004_fer2013(m.select(["train", "publictest"]))


def test_fer2013_csv_layout_and_project_protocol(tmp_path: Path) -> None:
    pixels = " ".join(["7"] * 2304)
    lines = ["emotion,pixels,Usage"] + [f"{code},{pixels},{usage}" for code in range(7)
                                        for usage in ["Training"] * 6 + ["PublicTest"] * 3 + ["PrivateTest"] * 2]
    (tmp_path / "fer2013.csv").write_text("\n".join(lines) + "\n")
    m = build_manifest("fer2013", tmp_path)
    seed004 = P.seed004_fer2013(m, n_val=7)
    assert seed004.df["pixel_row"].tolist() == m.df["pixel_row"].tolist()
    assert seed004.df["split"].value_counts().to_dict() == {"train": 42, "test": 14, "val": 7, "unused": 14}
    project = P.project_fer2013(m, n_val=14)
    carved = carve_validation(m, 14, seed=0)
    assert project.df.loc[carved.df["split"] == "val", "split"].eq("val").all()
    assert project.df["split"].value_counts().to_dict() == {"train": 28, "test": 21, "val": 14, "unused": 14}
    assert set(project.df.loc[project.df["split"] == "test", "original_split"]) == {"publictest"}
    assert project.df["split"].equals(P.apply_protocol("project_fer2013", m, n_val=14).df["split"])


# --------------------------------------------------------------------------- the tables
@pytest.mark.parametrize("name", sorted(P.PROTOCOLS))
def test_every_value_says_where_it_comes_from(name: str) -> None:
    table = P.protocol_table(name)
    assert list(table.columns) == ["value", "source"] and len(table) >= 4
    allowed = ("the project's",) if name.startswith("project") else ("paper", "assumed")
    bad = [f for f, src in table["source"].items() if not src.startswith(allowed)]
    assert not bad, f"{name}: {bad} cite neither the paper nor an assumption"


def test_unknown_protocol_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="seed004_jaffe"):
        P.apply_protocol("seed004_rafdb", None)  # type: ignore[arg-type]
