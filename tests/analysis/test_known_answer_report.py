"""Reading a known-answer leaderboard: the acceptance checks, the per-model recommendations and the record."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import fer_explain.analysis.known_answer_report as KR
from fer_explain.analysis.known_answer import KnownAnswerSettings


def test_acceptance_checks_pass_and_fail() -> None:
    def rows(model: str, variant: str, acc: float, occl: float, random_pg: float) -> list[dict]:
        base = {"model": model, "variant": variant, "model_accuracy": acc, "n": 500, "mask_share": 0.04,
                "relevance_mass": 1.0, "rank_accuracy": 1.0}
        return [{**base, "method": "occlusion_w8", "pointing_game": occl},
                {**base, "method": "region_masking", "pointing_game": 0.95},
                {**base, "method": "random", "pointing_game": random_pg},
                {**base, "method": "ideal", "pointing_game": 1.0}]

    good = pd.DataFrame(rows("m", "mouth_only", 0.95, 0.92, 0.04) + rows("m", "multi_au", 0.5, 0.1, 0.04))
    checks = KR.acceptance_checks(good)
    assert checks["passed"].all() and len(checks) == 5 + 2  # multi_au: only the two reference checks
    bad = pd.DataFrame(rows("m", "upper_face", 0.92, 0.89, 0.2))
    failed = KR.acceptance_checks(bad).set_index("check")["passed"]
    assert not failed["test accuracy"] and not failed["occlusion_w8 pointing game"]
    assert not failed["random pointing game"]  # 0.2 is far outside Binomial(500, 0.04) / 500
    assert failed["region_masking pointing game"] and failed["ideal map scores 1.0"]


def _board() -> pd.DataFrame:
    rows = []
    for variant, scores in (("mouth_only", {"gradcam": (0.40, 0.2), "occlusion_w4": (0.80, 0.5),
                                            "integrated_gradients": (0.80, 0.6), "region_masking": (0.5, 0.2)}),
                            ("upper_face", {"gradcam": (0.95, 0.3), "occlusion_w4": (0.70, 0.4),
                                            "integrated_gradients": (0.60, 0.6), "region_masking": (0.5, 0.2)})):
        for method, (pg, mass) in scores.items():
            rows.append({"model": "m", "variant": variant, "method": method, "pointing_game": pg,
                         "pointing_game_lo": pg - 0.05, "pointing_game_hi": pg + 0.05, "relevance_mass": mass,
                         "layer": "body.relu3" if method == "gradcam" else float("nan"),
                         "kind": "region" if method == "region_masking" else "explainer"})
        rows.append({"model": "m", "variant": variant, "method": "ideal", "pointing_game": 1.0,
                     "relevance_mass": 1.0, "kind": "reference"})
    return pd.DataFrame(rows)


def test_recommendations_pick_the_best_explainer_never_a_reference_and_break_ties_by_mass() -> None:
    rec = KR.recommendations(_board()).set_index("variant")
    # mouth-only: occlusion and IG tie at 0.80; IG's larger relevance mass wins; the ideal map (1.0) is no explainer
    assert rec.loc["mouth_only", "method"] == "integrated_gradients"
    assert rec.loc["mouth_only", "layer"] == "" and rec.loc["mouth_only", "relevance_mass"] == 0.6
    assert rec.loc["upper_face", "method"] == "gradcam" and rec.loc["upper_face", "layer"] == "body.relu3"
    assert rec.loc["upper_face", "pointing_game"] == 0.95
    assert rec.loc["upper_face", "pointing_game_lo"] == pytest.approx(0.90)
    assert list(rec.columns[:4]) == ["model", "method", "layer", "pointing_game"]


def test_recommendations_without_kind_column_skip_reference_names() -> None:
    board = _board().drop(columns=["kind", "layer"])
    rec = KR.recommendations(board, metric="relevance_mass", tiebreak="pointing_game")
    assert set(rec["method"]) == {"integrated_gradients"}
    assert (rec["layer"] == "").all()


def test_recommendations_name_a_missing_column() -> None:
    with pytest.raises(KeyError, match="no column 'insertion_auc'"):
        KR.recommendations(_board(), metric="insertion_auc")


def test_record_leaderboard_writes_table_and_provenance(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    _board().to_csv(run / "leaderboard.csv", index=False)
    (run / "models.json").write_text(json.dumps({"m/mouth_only": {"test_accuracy": 0.95}}))
    path = KR.record_leaderboard(run, KnownAnswerSettings(), "python benchmarks/known_answer.py --record",
                                 folder=tmp_path / "results")
    assert path == tmp_path / "results" / f"{KR.RECORD_NAME}.csv"
    table = pd.read_csv(path, index_col=0)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), pd.read_csv(run / "leaderboard.csv"))
    info = json.loads(path.with_suffix(".json").read_text())
    assert info["models"] == {"m/mouth_only": {"test_accuracy": 0.95}}
    assert info["settings"]["n_train"] == 12000 and info["settings"]["occlusion_windows"] == [8, 4]
    assert info["command"].endswith("--record")


def test_record_leaderboard_without_a_table_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="leaderboard.csv"):
        KR.record_leaderboard(tmp_path, KnownAnswerSettings(), "cmd", folder=tmp_path / "results")


def test_record_leaderboard_joins_run_folders_under_a_name(tmp_path: Path) -> None:
    board = _board()
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    half = len(board) // 2
    board.iloc[:half].to_csv(a / "leaderboard.csv", index=False)
    board.iloc[half:].to_csv(b / "leaderboard.csv", index=False)
    (a / "models.json").write_text(json.dumps({"x/mouth_only": {"test_accuracy": 0.95}}))
    (b / "models.json").write_text(json.dumps({"y/upper_face": {"test_accuracy": 0.96}}))
    path = KR.record_leaderboard([a, b], KnownAnswerSettings(erase=0.5, erase_keep=True), "cmd",
                                 folder=tmp_path / "results", name="known_answer_keep")
    assert path == tmp_path / "results" / "known_answer_keep.csv"
    pd.testing.assert_frame_equal(pd.read_csv(path, index_col=0).reset_index(drop=True), board.reset_index(drop=True))
    info = json.loads(path.with_suffix(".json").read_text())
    assert set(info["models"]) == {"x/mouth_only", "y/upper_face"} and info["settings"]["erase_keep"] is True
    board.iloc[:1].to_csv(b / "leaderboard.csv", mode="a", header=False, index=False)  # a row in both folders
    with pytest.raises(ValueError, match="more than one of"):
        KR.record_leaderboard([a, b], KnownAnswerSettings(), "cmd", folder=tmp_path / "results", name="x")
