"""fer_explain.env: the environment switches (paths, flags, device) and save_figure."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from fer_explain import env


def test_env_flag_and_env_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FER_EXPLAIN_TEST_FLAG", raising=False)
    assert env.env_flag("FER_EXPLAIN_TEST_FLAG", default=True) is True
    monkeypatch.setenv("FER_EXPLAIN_TEST_FLAG", "Yes")
    assert env.env_flag("FER_EXPLAIN_TEST_FLAG") is True
    monkeypatch.setenv("FER_EXPLAIN_TEST_FLAG", " off ")
    assert env.env_flag("FER_EXPLAIN_TEST_FLAG", default=True) is False
    monkeypatch.setenv("FER_EXPLAIN_TEST_FLAG", "maybe")
    with pytest.raises(ValueError, match="FER_EXPLAIN_TEST_FLAG='maybe'"):
        env.env_flag("FER_EXPLAIN_TEST_FLAG")
    monkeypatch.delenv("FER_EXPLAIN_TEST_DIR", raising=False)
    assert env.env_path("FER_EXPLAIN_TEST_DIR") is None
    monkeypatch.setenv("FER_EXPLAIN_TEST_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="FER_EXPLAIN_TEST_DIR"):
        env.env_path("FER_EXPLAIN_TEST_DIR")
    monkeypatch.setenv("FER_EXPLAIN_TEST_DIR", str(tmp_path))
    assert env.env_path("FER_EXPLAIN_TEST_DIR") == tmp_path


def test_device_from_the_environment_or_a_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.delenv(env.DEVICE_ENV, raising=False)
    assert env.env_device() == "cpu"
    monkeypatch.setenv(env.DEVICE_ENV, "cpu")
    assert env.env_device() == "cpu"
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    monkeypatch.setenv(env.DEVICE_ENV, "auto")
    assert env.env_device() == auto
    # a notebook parameter DEVICE="auto" resolves the same way whether or not the variable is set
    monkeypatch.delenv(env.DEVICE_ENV)
    assert env.resolve_device("auto") == auto
    assert env.resolve_device(None) == env.resolve_device("") == "cpu"
    assert env.resolve_device("cuda:1") == "cuda:1"  # named, not opened
    with pytest.raises(RuntimeError):
        env.resolve_device("gpu-please")


def test_save_figure_only_when_a_folder_is_known(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    monkeypatch.delenv(env.FIGURES_ENV, raising=False)
    assert env.save_figure(fig, "line") is None
    monkeypatch.setenv(env.FIGURES_ENV, str(tmp_path / "figs"))
    path = env.save_figure(fig, "line")
    assert path == tmp_path / "figs" / "line.png" and path.stat().st_size > 0
    assert env.save_figure(fig, "line.v2", folder=tmp_path / "other") == tmp_path / "other" / "line.v2.png"
    with pytest.raises(ValueError, match="may only contain"):
        env.save_figure(fig, "../escape", folder=tmp_path)


def test_the_runner_sets_the_variable_save_figure_reads() -> None:
    from fer_explain import run_notebooks

    assert run_notebooks.FIGURES_ENV is env.FIGURES_ENV == "FER_EXPLAIN_FIGURES_DIR"
