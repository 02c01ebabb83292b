"""``fer-explain notebooks --fer2013 DIR``: a bad folder is one message naming the argument (exit status 2),
before any kernel starts; a good one reaches the kernels as an absolute ``FER_EXPLAIN_FER2013_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fer_explain.cli import main
from fer_explain.cli.notebooks import FER2013_ENV

NOTEBOOK = "00_quickstart"


def _must_not_run(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("no notebook may run after a user error")


@pytest.fixture(autouse=True)
def _no_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    import fer_explain.run_notebooks as rn

    monkeypatch.delenv(FER2013_ENV, raising=False)
    monkeypatch.setattr(rn, "run_series", _must_not_run)


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.count(": error: ") == 1
    return err


def test_missing_folder_names_the_argument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    absent = tmp_path / "absent"
    err = _error(["notebooks", "--out", str(tmp_path / "r"), "--fer2013", str(absent)], capsys)
    assert f"fer-explain notebooks: error: argument --fer2013: {absent}: no such folder" in err
    assert not (tmp_path / "r").exists()


def test_folder_without_a_fer2013_layout_names_the_argument(tmp_path: Path, capsys) -> None:
    (tmp_path / "photos").mkdir()
    err = _error(["notebooks", "--out", str(tmp_path / "r"), "--fer2013", str(tmp_path / "photos")], capsys)
    assert "argument --fer2013: fer2013: no FER2013 layout under" in err and "test/ image folders" in err


def test_bad_environment_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv(FER2013_ENV, str(tmp_path / "gone"))
    err = _error(["notebooks", "--out", str(tmp_path / "r")], capsys)
    assert f"error: {FER2013_ENV}: {tmp_path / 'gone'}: no such folder" in err


def test_good_folder_reaches_the_kernels_as_an_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys) -> None:
    import fer_explain.run_notebooks as rn

    for top, prefix in (("train", "Training"), ("test", "PublicTest")):  # FER2013's image-folder layout
        (tmp_path / "fer" / top / "happy").mkdir(parents=True)
        Image.fromarray(np.zeros((48, 48), np.uint8)).save(tmp_path / "fer" / top / "happy" / f"{prefix}_1.jpg")
    seen: dict[str, Any] = {}

    def fake_run_series(out: Any, **kwargs: Any) -> list[Path]:
        seen.update(kwargs)
        return []

    monkeypatch.setattr(rn, "run_series", fake_run_series)
    monkeypatch.chdir(tmp_path)
    assert main(["notebooks", "--out", "r", "--only", NOTEBOOK, "--fer2013", "fer"]) == 0
    assert seen["env"] == {FER2013_ENV: str(tmp_path / "fer")}  # the kernels run in notebooks/: absolute
    assert seen["notebooks"] == [NOTEBOOK]
