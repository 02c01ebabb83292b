"""The package's layering (pyproject.toml's [tool.importlinter] contracts) holds: `lint-imports` passes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    proc = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, check=False,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Contracts: 6 kept, 0 broken." in proc.stdout


def test_a_violation_is_detected(tmp_path: Path) -> None:
    """The contracts can fail: a copy of the package where viz imports analysis breaks one."""
    pkg = tmp_path / "fer_explain"
    shutil.copytree(ROOT / "fer_explain", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    with open(pkg / "viz" / "__init__.py", "a") as fh:
        fh.write("\nimport fer_explain.analysis  # noqa: E402,F401\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    proc = subprocess.run([exe, "--config", str(tmp_path / "pyproject.toml"), "--no-cache"], cwd=tmp_path,
                          capture_output=True, check=False, text=True, timeout=300, env={"PYTHONPATH": str(tmp_path),
                                                                              "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert "fer_explain.viz" in proc.stdout and "fer_explain.analysis" in proc.stdout
