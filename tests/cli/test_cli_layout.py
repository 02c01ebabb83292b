"""The CLI package: one module per subcommand, entry points, and the handlers' success paths."""

from __future__ import annotations

import ast
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_explain import cli
from fer_explain.cli.parser import COMMANDS
from fer_explain.data.manifest import Manifest, make_manifest

ROOT = Path(__file__).resolve().parents[2]
CLI_DIR = ROOT / "fer_explain" / "cli"


def test_every_module_is_small_and_documented() -> None:
    modules = sorted(CLI_DIR.glob("*.py"))
    assert {"__init__.py", "parser.py", "errors.py", "common.py"} <= {p.name for p in modules}
    assert not (ROOT / "fer_explain" / "cli.py").exists()
    for path in modules:
        text = path.read_text()
        assert len(text.splitlines()) <= 600, path
        assert ast.get_docstring(ast.parse(text)), f"{path.name} has no module docstring"


def test_one_module_per_subcommand() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert [m.NAME for m in COMMANDS] == list(sub.choices)
    for module in COMMANDS:
        assert callable(module.add_parser) and callable(module.run)
        assert sub.choices[module.NAME].get_default("handler") is module.run
        assert Path(module.__file__).name == module.NAME.replace("-", "_") + ".py"


def test_console_script_entry_point_resolves_to_main() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module_name, _, attr = scripts["fer-explain"].partition(":")
    assert getattr(importlib.import_module(module_name), attr) is cli.main


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT, check=False)


def test_python_dash_m_fer_explain() -> None:
    ok = _run(sys.executable, "-m", "fer_explain", "--version")
    assert ok.returncode == 0 and ok.stdout.strip() == "fer-explain 0.1.0"
    bad = _run(sys.executable, "-m", "fer_explain", "manifest", "celeba", "somewhere")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().startswith("fer-explain manifest: error: unknown dataset 'celeba'")
    if shutil.which("fer-explain"):  # the installed console script
        script = _run("fer-explain", "manifest", "celeba", "somewhere")
        assert script.returncode == 2 and script.stderr == bad.stderr


def test_no_command_prints_help(capsys) -> None:
    assert cli.main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_manifest_list(capsys) -> None:
    assert cli.main(["manifest", "--list"]) == 0
    assert "list_patition_label.txt" in capsys.readouterr().out


def test_check_manifest_clean_writes_dropped_rows(tmp_path: Path, capsys) -> None:
    root = tmp_path / "data"
    rows = []
    for i in range(4):
        if i != 2:
            (root).mkdir(exist_ok=True)
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / f"{i}.png")
        rows.append({"dataset": "toy", "image": f"{i}.png", "label": "anger", "split": "train"})
    path = make_manifest(rows, root, name="toy").save(tmp_path / "toy")
    assert cli.main(["check-manifest", str(path), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "line 4 (data row 3), column 'image'" in out and "2.png: image file not found" in out
    assert cli.main(["check-manifest", str(path), "--quiet", "--clean", str(tmp_path / "clean")]) == 1
    dropped = pd.read_csv(tmp_path / "clean.dropped.csv")
    assert dropped[["line", "data_row", "image"]].values.tolist() == [[4, 3, "2.png"]]
    assert len(Manifest.load(tmp_path / "clean.csv")) == 3
    assert cli.main(["check-manifest", str(tmp_path / "clean.csv"), "--quiet"]) == 0


def test_manifest_with_carved_validation_split(tmp_path: Path, capsys) -> None:
    root = tmp_path / "tree"
    for cls in ("angry", "happy"):
        for k in range(5):
            (root / cls).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / cls / f"{k}.png")
    out = tmp_path / "m"
    argv = ["manifest", "imagefolder", str(root), "--opt", "folder_to_label={'angry': 'anger', 'happy': 'happiness'}",
            "--opt", "progress=False", "--carve-val", "0.4", "--out", str(out), "--parquet"]
    assert cli.main(argv) == 0
    m = Manifest.load(f"{out}.parquet")
    assert m.df["split"].value_counts().to_dict() == {"train": 6, "val": 4}


def test_synth_writes_a_manifest(tmp_path: Path, capsys) -> None:
    out = tmp_path / "synth"
    assert cli.main(["synth", "--n", "14", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    m = Manifest.load(out / "manifest.csv")
    assert len(m) == 14 and (out / m.df["image"].iat[0]).is_file()
