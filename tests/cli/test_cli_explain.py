"""``fer-explain explain``: a run, its resume, ``--images-per-forward auto`` and errors that name the flag.

The kill-and-resume and torchrun checks of the command live in tests/analysis/test_dataset_explain.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from fer_explain.cli import main
from fer_explain.data.synthetic import default_synthetic_manifest
from fer_explain.train import shipped_checkpoint

DEEP = str(shipped_checkpoint("synthetic/deep_emotion"))


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    m = default_synthetic_manifest()
    return m.replace(m.df[m.df["split"] == "test"].iloc[:3]).save(tmp_path_factory.mktemp("faces") / "three")


def test_explain_writes_and_resumes(faces: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ex"
    argv = ["explain", DEEP, str(faces), "--out", str(out), "--methods", "gradcam,regions", "--shard-size", "2",
            "--regions", "eyes,mouth", "--margin", "2", "--dtype", "float32", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "explained 3 faces of split 'test' (2 shard(s) computed, 0 found complete)" in printed
    table = pd.read_csv(out / "table.csv")
    assert [c for c in table if "_mass_" in c] == ["gradcam_mass_eyes", "gradcam_mass_mouth", "regions_mass_eyes",
                                                    "regions_mass_mouth"]
    key = json.loads((out / "explain.json").read_text())["key"]
    assert key["margin"] == 2 and key["dtype"] == "float32" and key["regions"] == ["eyes", "mouth"]
    assert main(argv) == 0
    assert "(0 shard(s) computed, 2 found complete)" in capsys.readouterr().out


def test_images_per_forward_auto_is_measured_once_and_recorded(faces: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "auto"
    argv = ["explain", DEEP, str(faces), "--out", str(out), "--methods", "occlusion", "--no-landmarks",
            "--images-per-forward", "auto", "--quiet"]
    assert main(argv) == 0
    record = json.loads((out / "explain.json").read_text())
    assert record["key"]["images_per_forward"] == "auto" and isinstance(record["images_per_forward"], int)
    assert main(argv) == 0  # the resume reuses the recorded size (and finds the shard complete)
    assert "1 found complete" in capsys.readouterr().out


@pytest.mark.parametrize("extra,message", [
    (["--methods", "cam"], "argument --methods: method 'cam' cannot explain checkpoint"),
    (["--methods", "gradcam,gradcam"], "argument --methods: a method is named twice"),
    (["--split", "val"], "argument --split: split 'val' has no rows in manifest"),
    (["--regions", "chin"], "argument --regions: unknown region 'chin' in region set 'symmetric'"),
    (["--margin", "lots"], "argument --margin: margin 'lots'"),
    (["--no-landmarks", "--methods", "regions"], "argument --methods: method 'regions' needs landmarks"),
    (["--shard-size", "0"], "argument --shard-size: expected a positive integer, got '0'"),
    (["--landmarks", "--no-landmarks"], "argument --no-landmarks: not allowed with argument --landmarks"),
])
def test_errors_name_the_flag(faces: Path, tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    out = tmp_path / "out"
    assert main(["explain", DEEP, str(faces), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert f"fer-explain explain: error: {message}" in err and "Traceback" not in err
    assert not out.exists()


def test_another_runs_folder_is_refused(faces: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ex"
    assert main(["explain", DEEP, str(faces), "--out", str(out), "--methods", "gradcam", "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["explain", DEEP, str(faces), "--out", str(out), "--methods", "gradcam", "--target", "prediction"]) == 2
    err = capsys.readouterr().err
    assert f"fer-explain explain: error: argument --out: output folder {out} holds the shards of another run" in err
    assert "differs in target" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
