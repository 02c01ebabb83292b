"""``fer-explain known-answer`` on tiny settings: the leaderboard CSV and its columns, the rerun that only
scores what is missing, and bad input that ends in one message and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from fer_explain.analysis.known_answer import LEADERBOARD_COLUMNS
from fer_explain.analysis.known_answer_scores import COLUMNS, METRICS
from fer_explain.cli import main

TINY = ["--quick", "--models", "deep_emotion", "--variants", "mouth_only", "--n-explain", "4", "--n-randomization",
        "2", "--quiet"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_run_writes_the_leaderboard(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ka"
    assert main(["known-answer", "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}/leaderboard.csv" in printed
    table = pd.read_csv(out / "leaderboard.csv")
    assert tuple(table.columns) == COLUMNS
    assert tuple(table.columns[:11]) == LEADERBOARD_COLUMNS == (
        "model", "variant", "method", "model_accuracy", "pointing_game", "relevance_mass", "rank_accuracy",
        "deletion_auc", "insertion_auc", "randomization_spearman", "n")
    assert set(table["model"]) == {"deep_emotion"} and set(table["variant"]) == {"mouth_only"}
    assert {"gradcam", "occlusion_w16", "occlusion_w12", "region_masking", "random", "gaussian",
            "ideal"} <= set(table["method"])
    assert (table["n"] == 4).all()
    for m in METRICS[:3]:
        assert (table[f"{m}_lo"] <= table[m] + 1e-9).all() and (table[m] <= table[f"{m}_hi"] + 1e-9).all()
    assert (out / "leaderboard.png").is_file()
    assert (out / "checkpoints" / "mouth_only" / "deep_emotion.safetensors").is_file()
    stamp = (out / "leaderboard.csv").stat().st_mtime_ns
    assert main(["known-answer", "--out", str(out), *TINY, "--no-heatmap"]) == 0  # all done: nothing rewritten
    assert (out / "leaderboard.csv").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(("args", "expected"), [
    (["--models", "nope"], "argument --models: unknown models ['nope']"),
    (["--variants", "mouth_only,eyes"], "argument --variants: unknown variants ['eyes']"),
    (["--occlusion-windows", "8,1"], "argument --occlusion-windows: expected window sides >= 2"),
    (["--n-explain", "0"], "argument --n-explain: expected a positive integer"),
    (["--faces", "wrong"], "argument --faces: invalid choice"),
])
def test_bad_input_is_one_message_and_status_2(args: list[str], expected: str, tmp_path: Path, capsys) -> None:
    code = main(["known-answer", "--out", str(tmp_path / "ka"), "--quick", *args])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count(": error: ") == 1
    assert f"fer-explain known-answer: error: {expected}" in err


def test_an_output_path_that_is_a_file_is_a_user_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "taken").write_text("x")
    assert main(["known-answer", "--out", str(tmp_path / "taken"), "--quick"]) == 2
    assert "argument --out: " in capsys.readouterr().err
