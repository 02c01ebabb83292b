"""User errors on the command line: one message naming the file, row or argument, exit status 2, no traceback.

Every test runs ``fer_explain.cli.main([...])`` in-process and reads stderr with ``capsys``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_explain.cli import build_parser, main
from fer_explain.cli.errors import EXIT_USER_ERROR, is_user_error
from fer_explain.data.errors import UserError, csv_problem
from fer_explain.data.manifest import ManifestError, make_manifest

PIXELS = " ".join(["7"] * 2304)


def run_user_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``main(argv)``, assert a user error (status 2, one message, no traceback/colours); return stderr."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR == 2, err
    assert "Traceback" not in err
    assert "\x1b" not in err  # no raw ANSI colour codes
    assert err.count(": error: ") == 1, err
    command = next((a for a in argv if not a.startswith("-")), None)
    assert f"fer-explain {command}: error: " in err
    return err


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(path)


def _fer2013_csv(folder: Path, bad_row: int | None = None, name: str = "fer2013.csv") -> Path:
    """A FER2013 CSV of 6 rows; ``bad_row`` (0-based data row) gets the unknown emotion code 9."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["emotion,pixels,Usage"]
    for i in range(6):
        lines.append(f"{9 if i == bad_row else i % 7},{PIXELS},{('Training', 'PublicTest')[i % 2]}")
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def manifest_csv(tmp_path: Path) -> Path:
    """A valid saved manifest with splits train and test (images exist)."""
    root = tmp_path / "data"
    rows = []
    for i in range(4):
        _image(root / f"{i}.png")
        rows.append({"dataset": "toy", "image": f"{i}.png", "label": ("anger", "happiness")[i % 2],
                     "split": "train" if i < 2 else "test"})
    return make_manifest(rows, root, name="toy").save(tmp_path / "toy")


# --- the error cases --------------------------------------------------------------------------------


def test_imagefolder_unknown_class_folder(tmp_path: Path, capsys) -> None:
    _image(tmp_path / "angry" / "a.png")
    _image(tmp_path / "joyful" / "b.png")
    err = run_user_error(["manifest", "imagefolder", str(tmp_path), "--opt", "folder_to_label={'angry': 'anger'}",
                          "--out", str(tmp_path / "m")], capsys)
    assert "class folder(s) ['joyful'] are not in folder_to_label" in err and str(tmp_path) in err


def test_fer2013_folders_unknown_class_folder(tmp_path: Path, capsys) -> None:
    _image(tmp_path / "train" / "angry" / "Training_1.png")
    _image(tmp_path / "train" / "contempt" / "Training_2.png")
    err = run_user_error(["manifest", "fer2013", str(tmp_path), "--out", str(tmp_path / "m")], capsys)
    assert f"{tmp_path / 'train' / 'contempt'}: unknown class folder 'contempt'" in err


def test_empty_folder(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    err = run_user_error(["manifest", "imagefolder", str(empty), "--opt", "folder_to_label={'angry': 'anger'}"],
                         capsys)
    assert f"no faces found under {empty}" in err
    err = run_user_error(["manifest", "fer2013", str(empty)], capsys)
    assert f"no FER2013 layout under {empty}" in err and "fer2013.csv" in err


def test_bad_fer2013_csv_row_is_named_by_line_and_data_row(tmp_path: Path, capsys) -> None:
    csv = _fer2013_csv(tmp_path / "fer", bad_row=2)
    err = run_user_error(["manifest", "fer2013", str(tmp_path / "fer"), "--out", str(tmp_path / "m")], capsys)
    # header = line 1, so data row 3 (0-based index 2) is line 4, as an editor shows it
    assert f"{csv}, line 4 (data row 3), column 'emotion': unknown label code" in err and "(code 9)" in err


def test_bad_manifest_csv_row(tmp_path: Path, capsys) -> None:
    path = tmp_path / "m.csv"
    path.write_text("dataset,image,label,split\ntoy,a.png,anger,train\ntoy,b.png,anger,train,extra,field\n")
    err = run_user_error(["check-manifest", str(path)], capsys)
    assert f"{path}: cannot parse the CSV" in err and "line 3" in err
    path.write_text("dataset,image,label,split,pixel_row\ntoy,p.csv,anger,train,0\ntoy,p.csv,anger,train,-4\n")
    err = run_user_error(["check-manifest", str(path)], capsys)
    assert f"{path}, line 3 (data row 2), column 'pixel_row': pixel_row '-4' is not a non-negative integer" in err


def test_fer2013_csv_path_instead_of_folder_is_accepted(tmp_path: Path, capsys) -> None:
    csv = _fer2013_csv(tmp_path / "fer")
    out = tmp_path / "manifests" / "fer2013"
    assert main(["manifest", "fer2013", str(csv), "--out", str(out)]) == 0
    assert f"wrote {out}.csv" in capsys.readouterr().out
    from fer_explain.data.manifest import Manifest

    m = Manifest.load(f"{out}.csv")
    assert m.root == (tmp_path / "fer").resolve() and set(m.df["image"]) == {"fer2013.csv"} and len(m) == 6


def test_file_instead_of_folder_says_which_folder_to_pass(tmp_path: Path, capsys) -> None:
    label = tmp_path / "basic" / "EmoLabel" / "list_patition_label.txt"
    label.parent.mkdir(parents=True)
    label.write_text("train_00001.jpg 1\n")
    err = run_user_error(["manifest", "rafdb", str(label)], capsys)
    assert f"{label} is a file; pass the folder that holds it: {label.parent}" in err


def test_missing_checkpoint(manifest_csv: Path, tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "runs" / "absent"
    err = run_user_error(["evaluate", str(ckpt), str(manifest_csv), "--split", "test"], capsys)
    assert f"checkpoint {ckpt}: missing {ckpt}.safetensors, {ckpt}.json" in err


def test_unknown_split(manifest_csv: Path, tmp_path: Path, capsys) -> None:
    err = run_user_error(["evaluate", str(tmp_path / "ckpt"), str(manifest_csv), "--split", "publictest"], capsys)
    assert f"argument --split: split 'publictest' is not in manifest {manifest_csv}; its splits: ['test', 'train']" in err
    err = run_user_error(["train", str(manifest_csv), "--model", "deep_emotion", "--out", str(tmp_path / "r")], capsys)
    assert "argument --val-split: split 'val' is not in manifest" in err and "--val-split ''" in err


def test_unknown_model_and_recipe(manifest_csv: Path, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "r")
    err = run_user_error(["train", str(manifest_csv), "--model", "resnet9000", "--out", out], capsys)
    assert "argument --model: unknown model 'resnet9000'; valid: [" in err and "'deep_emotion'" in err
    err = run_user_error(["train", str(manifest_csv), "--model", "deep_emotion", "--recipe", "seed999", "--out", out],
                         capsys)
    assert "argument --recipe: unknown recipe 'seed999'; valid: [" in err and "'seed004'" in err
    err = run_user_error(["train", str(manifest_csv), "--model", "deep_emotion", "--set", "epochz=3", "--out", out],
                         capsys)
    assert "argument --set: unknown recipe field(s) ['epochz']" in err
    assert not Path(out + ".safetensors").exists()


def test_unknown_dataset_and_options(tmp_path: Path, capsys) -> None:
    err = run_user_error(["manifest", "celeba", str(tmp_path)], capsys)
    assert "unknown dataset 'celeba'; valid: [" in err
    err = run_user_error(["manifest", "rafdb", str(tmp_path), "--opt", "align=True"], capsys)
    assert "rafdb: unknown option(s) ['align']; valid: ['aligned', 'label_file']" in err
    err = run_user_error(["manifest", "imagefolder", str(tmp_path)], capsys)
    assert "missing required option(s) ['folder_to_label']" in err
    err = run_user_error(["manifest", "fer2013", str(tmp_path), "--opt", "variant"], capsys)
    assert "argument --opt: expected KEY=VALUE, got 'variant'" in err
    err = run_user_error(["manifest", "fer2013", str(tmp_path), "--carve-val", "lots"], capsys)
    assert "argument --carve-val" in err and "'lots'" in err


def test_argparse_errors_are_one_line(capsys) -> None:
    err = run_user_error(["train"], capsys)
    assert "the following arguments are required: manifest, --model, --out" in err
    assert "usage:" not in err and err.count("\n") == 1
    err = run_user_error(["synth", "--out", "x", "--channels", "2"], capsys)
    assert "argument --channels: invalid choice: 2" in err


# --- every subcommand, one bad input each ---------------------------------------------------------------

BAD_INPUTS = {
    # command: (arguments after the command, text the message must contain); {tmp} = a temp folder,
    # {manifest} = a valid manifest CSV
    "manifest": (["fer2013", "{tmp}/absent"], "{tmp}/absent"),
    "check-manifest": (["{tmp}/absent.csv"], "{tmp}/absent.csv: manifest file not found"),
    "synth": (["--out", "{tmp}/s", "--size", "5"], "argument --size: size must lie in"),
    "landmarks": (["{tmp}/absent.csv"], "{tmp}/absent.csv: manifest file not found"),
    "train": (["{manifest}", "--model", "nope", "--out", "{tmp}/r"], "argument --model: unknown model 'nope'"),
    "evaluate": (["{tmp}/absent_ckpt", "{manifest}"], "{tmp}/absent_ckpt.safetensors"),
    "report": (["{tmp}/absent_ckpt", "{manifest}", "--out", "{tmp}/rep", "--methods", "gradcam,tea_leaves"],
               "argument --methods: unknown explanation method(s) ['tea_leaves']"),
    "explain": (["{tmp}/absent_ckpt", "{manifest}", "--out", "{tmp}/ex", "--methods", "gradcam,tea_leaves"],
                "argument --methods: unknown explanation method(s) ['tea_leaves']"),
    "notebooks": (["--only", "99_nope", "--out", "{tmp}/nb"], "notebook '99_nope' matches no notebook"),
    "au-alignment": (["{tmp}/absent_ckpt", "{manifest}", "--out", "{tmp}/au"], "{tmp}/absent_ckpt"),
    "known-answer": (["--out", "{tmp}/ka", "--quick", "--models", "deep_emotion,resnet_9000"],
                     "argument --models: unknown models ['resnet_9000']"),
    "region-study": (["{manifest}", "--out", "{tmp}/rs", "--variant", "resize"],
                     "argument --variant: 'resize' is not one of seed 002's Table 5 variants"),
}


def test_every_subcommand_has_a_bad_input_case() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(BAD_INPUTS), "add a case for each new subcommand to BAD_INPUTS"


@pytest.mark.parametrize("command", sorted(BAD_INPUTS))
def test_every_subcommand_reports_a_user_error(command: str, manifest_csv: Path, tmp_path: Path, capsys) -> None:
    args, expected = BAD_INPUTS[command]

    def fill(s: str) -> str:
        return s.format(tmp=tmp_path, manifest=manifest_csv)

    err = run_user_error([command, *(fill(a) for a in args)], capsys)
    assert fill(expected) in err


# --- the error-handling design -----------------------------------------------------------------------


def _patch_handler(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    from fer_explain.cli import check_manifest

    def boom(args: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setattr(check_manifest, "run", boom)


@pytest.mark.parametrize("exc", [AttributeError("'NoneType' object has no attribute 'df'"), ValueError("a bug"),
                                 KeyError("a bug"), TypeError("a bug")])
def test_a_bug_keeps_its_traceback(monkeypatch, capsys, exc: Exception) -> None:
    _patch_handler(monkeypatch, exc)
    with pytest.raises(type(exc)):
        main(["check-manifest", "m.csv"])
    assert ": error: " not in capsys.readouterr().err


def test_debug_shows_the_traceback_of_a_user_error(tmp_path: Path, capsys) -> None:
    for argv in (["--debug", "check-manifest", str(tmp_path / "x.csv")], ["check-manifest", str(tmp_path / "x.csv"),
                                                                          "--debug"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "FileNotFoundError" in err
        assert err.rstrip().endswith(f"fer-explain check-manifest: error: {tmp_path / 'x.csv'}: manifest file not found")


def test_colour_codes_are_stripped(monkeypatch, capsys) -> None:
    _patch_handler(monkeypatch, ManifestError([csv_problem("\x1b[31mbad\x1b[0m value", 0, file="m.csv")]))
    err = run_user_error(["check-manifest", "m.csv"], capsys)
    assert "m.csv, line 2 (data row 1): bad value" in err


def test_user_error_family() -> None:
    from fer_explain.data.errors import UnknownNameError
    from fer_explain.data.io import ImageReadError
    from fer_explain.data.sources import SourceError

    for exc in (ManifestError([]), SourceError([]), ImageReadError("x"), UnknownNameError("x"),
                FileNotFoundError("x"), UserError("x")):
        assert is_user_error(exc), exc
    for exc in (AttributeError("x"), ValueError("x"), KeyError("x"), RuntimeError("x"), TypeError("x")):
        assert not is_user_error(exc), exc
    from fer_explain.train.checkpoint import CheckpointError

    assert is_user_error(CheckpointError("x"))
