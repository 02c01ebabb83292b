"""choose_protocol's split fallback, limit_splits and seed 001's AffectNet protocol, on tiny datasets written in
their true layouts (FER2013: the Kaggle CSV with all three Usages, and the image folders train/ + test/ that hold
only PublicTest; AffectNet: training.csv with a header, validation.csv without)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_explain.data import protocols as P
from fer_explain.data.manifest import ManifestError
from fer_explain.data.sources import build_manifest
from fer_explain.data.sources.affectnet import COLUMNS

FOLDERS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
PIXELS = " ".join(["7"] * 2304)


def _img(path: Path, seed: int = 0, size: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)).save(path)


def write_fer2013_folders(root: Path, train: int = 6, public: int = 3) -> None:
    """FER2013 as most people download it: train/<emotion>/Training_*.jpg, test/<emotion>/PublicTest_*.jpg."""
    n = 0
    for cls in FOLDERS:
        for prefix, k, top in (("Training", train, "train"), ("PublicTest", public, "test")):
            for _ in range(k):
                n += 1
                _img(root / top / cls / f"{prefix}_{1000 + n}.jpg", n)


def write_fer2013_csv(root: Path) -> None:
    """The Kaggle fer2013.csv: emotion,pixels,Usage with Training, PublicTest and PrivateTest rows."""
    lines = ["emotion,pixels,Usage"] + [f"{code},{PIXELS},{usage}" for code in range(7)
                                        for usage in ["Training"] * 6 + ["PublicTest"] * 3 + ["PrivateTest"] * 2]
    root.mkdir(parents=True, exist_ok=True)
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")


def test_folders_without_privatetest_fall_back_to_publictest(tmp_path: Path) -> None:
    write_fer2013_folders(tmp_path)
    m = build_manifest("fer2013", tmp_path, progress=False)
    assert sorted(set(m.df["split"])) == ["publictest", "train"]

    choice = P.choose_protocol("seed004_fer2013", m, n_val=7)

    assert choice.fell_back and (choice.requested, choice.applied) == ("seed004_fer2013", "project_fer2013")
    out = choice.manifest
    assert set(out.df.loc[out.df["split"] == "test", "original_split"]) == {"publictest"}
    assert out.df["split"].value_counts().to_dict() == {"train": 35, "test": 21, "val": 7}
    assert set(out.df.loc[out.df["split"] == "val", "original_split"]) == {"train"}  # never from the test faces
    note = str(choice)
    assert "needs split(s) ['privatetest']" in note and "test split privatetest -> publictest" in note
    assert "fell back to project_fer2013: train 35, val 7, test 21 (test = publictest)" in note


def test_csv_with_privatetest_runs_the_requested_protocol(tmp_path: Path) -> None:
    write_fer2013_csv(tmp_path)
    m = build_manifest("fer2013", tmp_path)

    choice = P.choose_protocol("seed004_fer2013", m, n_val=7)

    assert not choice.fell_back and choice.applied == "seed004_fer2013"
    assert set(choice.manifest.df.loc[choice.manifest.df["split"] == "test", "original_split"]) == {"privatetest"}
    assert choice.note == "seed004_fer2013: train 42, val 7, test 14 (test = privatetest)"
    assert choice.manifest.df["split"].equals(P.seed004_fer2013(m, n_val=7).df["split"])


def test_missing_splits_are_named_before_anything_runs(tmp_path: Path) -> None:
    write_fer2013_folders(tmp_path)
    m = build_manifest("fer2013", tmp_path, progress=False).select(split="train")
    with pytest.raises(ManifestError, match=r"seed004_fer2013 needs split\(s\) \['publictest', 'privatetest'\] and "
                                            r"its fallback project_fer2013 needs \['publictest'\].*has \['train'\]"):
        P.choose_protocol("seed004_fer2013", m, n_val=7)  # neither seed 004's nor the fallback can run
    with pytest.raises(ManifestError, match=r"seed001_affectnet needs split\(s\) \['val'\]"):
        P.choose_protocol("seed001_affectnet", m)  # no fallback: the protocol's own message
    with pytest.raises(ManifestError, match=r"seed004_fer2013 needs split\(s\) \['publictest', 'privatetest'\]"):
        P.seed004_fer2013(m)


def test_limit_splits_draws_stratified_and_marks_the_rest_unused(tmp_path: Path) -> None:
    write_fer2013_folders(tmp_path)
    m = P.project_fer2013(build_manifest("fer2013", tmp_path, progress=False), n_val=7)
    out = P.limit_splits(m, {"train": 14, "val": None, "test": 100})
    counts = out.df["split"].value_counts().to_dict()
    assert counts == {"train": 14, "test": 21, "unused": 21, "val": 7}
    assert (out.df.loc[out.df["split"] == "train", "label"].value_counts() == 2).all()  # every class keeps its share
    assert list(out.df["image"]) == list(m.df["image"])
    assert out.df["split"].equals(P.limit_splits(m, {"train": 14}).df["split"])  # deterministic for a seed
    with pytest.raises(ManifestError, match=r"split\(s\) \['privatetest'\] not in the manifest"):
        P.limit_splits(m, {"privatetest": 5})


def _affectnet_line(i: int, code: int) -> str:
    return f"0/img_{i:03d}.jpg,1,2,40,40,,{code},0.1,-0.1"


def test_seed001_affectnet_has_seven_classes_whatever_the_adapter_built(tmp_path: Path) -> None:
    codes = [0, 1, 2, 3, 4, 5, 6, 7, 7, 8]  # 7 = contempt, 8 = none (dropped by the adapter)
    (tmp_path / "training.csv").write_text(",".join(COLUMNS) + "\n"
                                           + "\n".join(_affectnet_line(i, c) for i, c in enumerate(codes)) + "\n")
    (tmp_path / "validation.csv").write_text("\n".join(_affectnet_line(50 + i, c) for i, c in enumerate([1, 7, 6]))
                                             + "\n")
    _img(tmp_path / "Manually_Annotated_Images" / "0" / "img_000.jpg")
    basic8 = build_manifest("affectnet", tmp_path)
    assert "contempt" in set(basic8.df["label"])

    for adapter_built in (basic8, build_manifest("affectnet", tmp_path, classes=7)):
        out = P.apply_protocol("seed001_affectnet", adapter_built)
        assert out.label_space.classes == P.SEED001_AFFECTNET["classes"].value and len(out.classes) == 7
        assert "contempt" not in set(out.df["label"])
        assert out.df["split"].value_counts().to_dict() == {"train": 7, "test": 2}
        assert set(out.df.loc[out.df["split"] == "test", "original_split"]) == {"val"}
    assert "seven categories" in P.protocol_table("seed001_affectnet").loc["classes", "source"]
