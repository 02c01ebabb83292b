"""Seed 002's region-study preset: its values, splits, augmentation, runs, resume and CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from fer_explain.analysis import region_study as rs
from fer_explain.analysis.region_inputs import AugmentedRegionDataset, face_arrays
from fer_explain.cli import main
from fer_explain.data.errors import UserError
from fer_explain.data.manifest import Manifest
from fer_explain.data.synthetic import SyntheticFaceConfig, generate, write_synthetic
from fer_explain.faces.regions import crop_region

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def fer2013_like(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """A small synthetic manifest with FER2013's split names (train / val carve / publictest) and landmarks."""
    root = tmp_path_factory.mktemp("synth")
    write_synthetic(SyntheticFaceConfig(n=84, size=48, seed=1), root, progress=False)
    m = Manifest.load(root / "manifest")
    df = m.df.copy()
    df["split"] = df["split"].replace({"test": "publictest"})
    return m.replace(df)


def test_every_preset_value_cites_the_paper_or_says_assumed() -> None:
    table = rs.region_study_table()
    assert {"model", "regions", "region_set", "variant", "augmentation", "runs", "selection", "size"} <= set(table.index)
    for field, source in table["source"].items():
        assert source.startswith(("paper", "assumed")), (field, source)
    assert rs.SEED002_REGION_STUDY["runs"].value == 5
    assert rs.SEED002_REGION_STUDY["region_set"].value == "seed002"
    # Table 5 as printed: padding helps every region, the whole face is best
    t5 = rs.SEED002_TABLE5_RAFDB
    assert t5.loc["face", "pad"] == 82.69 and t5.loc["mouth", "square_crop"] == 55.12
    assert (t5["pad"] >= t5["square_crop"]).all()


def test_fer2013_substitute_uses_the_carved_validation_split(fer2013_like: Manifest) -> None:
    train, val, test = rs.region_study_splits(fer2013_like, "fer2013")
    counts = fer2013_like.df["split"].value_counts()
    assert (len(train), len(val), len(test)) == (counts["train"], counts["val"], counts["publictest"])
    assert set(train.df["image"]).isdisjoint(val.df["image"]) and set(train.df["image"]).isdisjoint(test.df["image"])


def test_fer2013_substitute_carves_when_no_val_split(fer2013_like: Manifest) -> None:
    df = fer2013_like.df.copy()
    df["split"] = df["split"].replace({"val": "train"})
    m = fer2013_like.replace(df)
    train, val, test = rs.region_study_splits(m, "fer2013", n_val=10)
    assert len(val) == 10 and len(train) == (df["split"] == "train").sum() - 10
    assert len(test) == (df["split"] == "publictest").sum()


def test_ferplus_protocol_drops_contempt_and_holds_out_validation() -> None:
    df = pd.DataFrame({"image": [f"{i}.png" for i in range(40)],
                       "label": ["happiness", "contempt", "anger", "neutral"] * 10,
                       "split": ["train"] * 20 + ["publictest"] * 10 + ["privatetest"] * 10})
    m = Manifest(df, root=".", label_space="basic8", name="ferplus")
    train, val, test = rs.region_study_splits(m, "ferplus", n_val=6)
    assert "contempt" not in set(train.df["label"]) | set(val.df["label"]) | set(test.df["label"])
    kept = df["label"] != "contempt"
    assert len(val) == 6 and len(train) == (kept & (df["split"] != "privatetest")).sum() - 6
    assert len(test) == (kept & (df["split"] == "privatetest")).sum()
    with pytest.raises(UserError, match="unknown region-study data protocol 'rafdb'"):
        rs.region_study_splits(m, "rafdb")


def test_square_crop_position_moves_the_square_along_the_region() -> None:
    faces = face_arrays(generate(SyntheticFaceConfig(n=2, size=48, seed=0)))
    lm = faces.landmarks
    a, _ = crop_region(faces.images, lm, "mouth", "square_crop", margin=0.05)
    b, _ = crop_region(faces.images, lm, "mouth", "square_crop", margin=0.05, position=0.5)
    left, _ = crop_region(faces.images, lm, "mouth", "square_crop", margin=0.05, position=0.0)
    right, _ = crop_region(faces.images, lm, "mouth", "square_crop", margin=0.05, position=1.0)
    assert torch.equal(a, b)  # 0.5 is the centred default
    assert not torch.allclose(left, right)  # the mouth is wide: its two ends differ
    with pytest.raises(ValueError, match="position must lie in"):
        crop_region(faces.images, lm, "mouth", "square_crop", position=1.5)


def test_augmented_region_dataset_draws_fresh_crops() -> None:
    faces = face_arrays(generate(SyntheticFaceConfig(n=4, size=48, seed=0)))
    for variant in ("pad", "square_crop"):
        ds = AugmentedRegionDataset(faces, "mouth", variant, 32, region_set="seed002")
        torch.manual_seed(0)
        x1, y1 = ds[0]
        x2, _ = ds[0]
        assert x1.shape == (1, 32, 32) and y1 == int(faces.labels[0])
        assert not torch.equal(x1, x2), variant  # every read is a new random crop
        torch.manual_seed(0)
        assert torch.equal(ds[0][0], x1)  # ...drawn from torch's generator (seeded by fit)
    with pytest.raises(ValueError, match="'pad' or 'square_crop'"):
        AugmentedRegionDataset(faces, "mouth", "keep", 32)


def test_run_region_study_honours_runs_and_resumes(fer2013_like: Manifest, tmp_path, monkeypatch) -> None:
    kw = {"regions": ["mouth", "face"], "runs": 2, "model": "se_resnet18", "model_args": {"width": 0.0625},
          "out": tmp_path, "epochs": 1, "progress": False}
    table = rs.run_region_study(fer2013_like, "fer2013", **kw)
    assert list(table.index) == ["mouth", "face"]
    assert (table["runs"] == 2).all() and (table["variant"] == "pad").all()
    assert (table["n_test"] == (fer2013_like.df["split"] == "publictest").sum()).all()
    for _, row in table.iterrows():
        assert row["accuracy_best_of_runs"] >= row["accuracy_mean"] - 1e-12
        assert row["accuracy_best_of_runs"] >= row["accuracy"] - 1e-12
        assert row["accuracy_sd"] >= 0 and row["selected_run"] in (0, 1)
    saved = json.loads((tmp_path / "region_study.json").read_text())
    assert set(saved["confusions"]) == {"pad/mouth", "pad/face"}
    assert np.asarray(saved["confusions"]["pad/face"]).sum() == table.loc["face", "n_test"]

    # a rerun with the same settings trains nothing and returns the same table
    monkeypatch.setattr(rs, "train_region_models", lambda *a, **k: pytest.fail("retrained a finished region"))
    again = rs.run_region_study(fer2013_like, "fer2013", **kw)
    pd.testing.assert_frame_equal(again, pd.read_csv(tmp_path / "region_study.csv", index_col=0))
    assert list(again.index) == ["mouth", "face"]
    # other settings in the same folder: an error naming the file, nothing overwritten
    before = (tmp_path / "region_study.csv").read_bytes()
    with pytest.raises(UserError, match="region_study.json: holds a region study with other settings"):
        rs.run_region_study(fer2013_like, "fer2013", **{**kw, "runs": 3})
    assert (tmp_path / "region_study.csv").read_bytes() == before

    both = rs.compare_with_table5(again)
    assert list(both.columns[:2]) == ["ours_pad", "paper_pad"]
    assert both.loc["face", "paper_pad"] == 82.69


def test_load_region_study_joins_folders_of_one_study(tmp_path) -> None:
    settings = {"data": "fer2013", "regions": ["face"], "runs": 1, "model": "vgg_fer", "margin": 0.05}
    row = {"accuracy": 0.6, "variant": "pad", "n_test": 10}
    rs._write(tmp_path / "a", pd.DataFrame([row], index=pd.Index(["face"], name="region")),
              {"pad/face": np.eye(2, dtype=int) * 5}, settings)
    rs._write(tmp_path / "b", pd.DataFrame([{**row, "accuracy": 0.4}], index=pd.Index(["mouth"], name="region")),
              {"pad/mouth": np.full((2, 2), 2)}, {**settings, "regions": ["mouth"]})
    table, conf = rs.load_region_study(tmp_path / "a", tmp_path / "b")
    assert list(table.index) == ["face", "mouth"] and table["accuracy"].tolist() == [0.6, 0.4]
    assert set(conf) == {"pad/face", "pad/mouth"} and conf["pad/mouth"].sum() == 8
    rs._write(tmp_path / "c", table.iloc[:1], {}, {**settings, "runs": 5})
    with pytest.raises(UserError, match=r"c: its region study has other settings than .*a \(runs\)"):
        rs.load_region_study(tmp_path / "a", tmp_path / "c")
    with pytest.raises(UserError, match="missing: no region study here"):
        rs.load_region_study(tmp_path / "missing")


def test_cli_errors_name_the_argument(fer2013_like: Manifest, tmp_path, capsys) -> None:
    path = tmp_path / "m.csv"
    fer2013_like.save(path)
    assert main(["region-study", str(path), "--out", str(tmp_path / "o"), "--variant", "resize"]) == 2
    assert "argument --variant: 'resize'" in capsys.readouterr().err
    assert main(["region-study", str(path), "--out", str(tmp_path / "o"), "--region", "chin"]) == 2
    assert "argument --region" in capsys.readouterr().err
    assert main(["region-study", str(path), "--out", str(tmp_path / "o"), "--data", "rafdb"]) == 2
    assert "argument --data: unknown data protocol 'rafdb'" in capsys.readouterr().err
    assert main(["region-study", "--show-preset"]) == 0
    assert "runs = 5" in capsys.readouterr().out
