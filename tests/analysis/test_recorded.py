"""Recorded results: they load with their provenance, round-trip, and the shipped ones tell notebook 04's story."""

from __future__ import annotations

import pandas as pd
import pytest

from fer_explain.analysis.recorded import list_recorded, recorded_result, write_recorded

MOUTH_REGIONS = ("mouth", "nose_mouth", "mouth_eyes")


def test_shipped_region_tables_support_notebook_04s_sentence() -> None:
    """Every region with the mouth within 3 points of the whole face; every region without it within 5 of chance."""
    assert {"region_contribution_mouth_only", "region_padding_mouth_only"} <= set(list_recorded())
    t6 = recorded_result("region_contribution_mouth_only")
    acc = t6.table["accuracy"]
    face, chance = float(acc["face"]), 1 / 7
    assert face > chance + 0.5
    for region, value in acc.items():
        bound, ref = (0.03, face) if region in MOUTH_REGIONS else (0.05, chance)
        if region != "face":
            assert abs(value - ref) <= bound, region
    assert "benchmarks/region_contribution.py" in t6.command and "--record" in t6.command
    t5 = recorded_result("region_padding_mouth_only").table
    assert (t5.loc[list(MOUTH_REGIONS), "pad"] > t5.loc[list(MOUTH_REGIONS), "square_crop"]).all()
    pd.testing.assert_series_equal(t5["pad"], acc, check_names=False)


def test_recorded_fer2013_region_study_supports_the_readme() -> None:
    """The README's sentence: the whole face passes 60 %, the ranking is the paper's but for mouth and
    nose + eyes (Spearman of the two rankings above 0.95)."""
    from scipy.stats import spearmanr

    rec = recorded_result("region_study_fer2013")
    table = rec.table
    assert set(table.index) == {"face", "mouth", "nose", "eyes", "mouth_eyes", "nose_mouth", "nose_eyes"}
    assert table.loc["face", "ours_pad"] >= 60 and (table["epochs"] == 15).all()
    assert spearmanr(table["ours_pad"], table["paper_pad"]).statistic > 0.95
    swapped = table.index[table["rank_ours_pad"] != table["rank_paper_pad"]]
    assert sorted(swapped) == ["mouth", "nose_eyes"]
    assert "benchmarks/region_study_fer2013.py" in rec.command and "--record" in rec.command


def test_recorded_known_answer_leaderboard_supports_the_readme_and_notebook_05() -> None:
    """Complete (model, variant) pairs of 500 faces; every model >= 93 % on the variants it was recorded on; the
    reference rows behave (random inside its binomial interval, ideal 1.0); on every model's mouth-only faces
    integrated gradients has the highest pointing game of the explainers; occlusion and region masking stay
    below 0.9 everywhere (the acceptance they miss)."""
    from fer_explain.analysis.known_answer_report import RECORD_NAME, acceptance_checks, recommendations
    from fer_explain.analysis.known_answer_scores import LEADERBOARD_COLUMNS

    rec = recorded_result(RECORD_NAME)
    table = rec.table
    assert set(LEADERBOARD_COLUMNS) <= set(table.columns)
    pairs = table.groupby(["model", "variant"])["method"].apply(set)
    assert {"deep_emotion", "vgg_fer", "se_resnet18"} == set(table["model"])
    assert all({"random", "gaussian", "ideal", "region_masking", "integrated_gradients"} <= m for m in pairs)
    assert (table["n"] == 500).all()
    checks = acceptance_checks(table)
    by = checks.groupby("check")["passed"]
    assert by.all()[["test accuracy", "random pointing game", "ideal map scores 1.0"]].all()
    missed = checks[checks["check"].str.contains("occlusion|region_masking")]
    assert len(missed) and not missed["passed"].any()
    best = recommendations(table).set_index(["model", "variant"])["method"]
    for model in ("deep_emotion", "vgg_fer", "se_resnet18"):
        assert best[(model, "mouth_only")] == "integrated_gradients", model
    assert set(rec.info["models"]) == {f"{m}/{v}" for m, v in pairs.index}
    assert "benchmarks/known_answer.py" in rec.command and "--record" in rec.command


def test_recorded_erase_experiments_support_the_readme() -> None:
    """The trade-off the README states: every erased-training setting moves occlusion (window 4) above the plain
    Deep-Emotion's recorded 0.76, the one that reaches 0.9 (squares up to 16 px) falls below 93 % accuracy, the
    ones that keep 93 % stay below 0.9, and region masking stays below 0.9 throughout."""
    from fer_explain.analysis.known_answer_report import RECORD_NAME

    plain = recorded_result(RECORD_NAME).table.set_index(["model", "variant", "method"])
    erase = recorded_result("known_answer_erase").table
    assert (erase["variant"] == "mouth_only").all() and erase["model"].str.startswith("deep_emotion+").all()
    assert (erase["n"] == 500).all()
    occ = erase[erase["method"] == "occlusion_w4"].set_index("model")
    assert (occ["pointing_game"] > plain.loc[("deep_emotion", "mouth_only", "occlusion_w4"), "pointing_game"]).all()
    reached = occ["pointing_game"] >= 0.9
    assert reached.any() and (occ.loc[reached, "model_accuracy"] < 0.93).all()
    assert (occ.loc[occ["model_accuracy"] >= 0.93, "pointing_game"] < 0.9).all()
    assert (erase.loc[erase["method"] == "region_masking", "pointing_game"] < 0.9).all()
    ideal = erase[erase["method"] == "ideal"]
    assert len(ideal) == erase["model"].nunique() and (ideal["pointing_game"] == 1.0).all()
    assert "--erase" in recorded_result("known_answer_erase").command


def test_recorded_keep_experiments_support_the_readme() -> None:
    """The README's sentence on evidence-sparing erasing: every recorded pair keeps >= 93 % accuracy and lifts
    occlusion with window 4 to >= 0.9 (far above their plain models' recorded values), while window 8 and region
    masking rise too but stay below 0.9; references behave."""
    from fer_explain.analysis.known_answer_report import RECORD_NAME

    plain = recorded_result(RECORD_NAME).table.set_index(["model", "variant", "method"])["pointing_game"]
    keep = recorded_result("known_answer_keep")
    table = keep.table
    assert table["model"].str.endswith("+erase0.5+regions0.25+keep").all() and (table["n"] == 500).all()
    pairs = table.drop_duplicates(["model", "variant"])
    assert len(pairs) == 6 and (pairs["model_accuracy"] >= 0.93).all()  # every model on both variants
    pg = table.set_index(["model", "variant", "method"])["pointing_game"]
    for (model, variant, method), value in pg.items():
        base = model.split("+")[0]
        if method in ("occlusion_w4", "occlusion_w8", "region_masking"):
            assert value > plain[(base, variant, method)] + 0.1, (model, variant, method)
        if method == "occlusion_w4":
            assert value >= 0.9, (model, variant)
        if method in ("occlusion_w8", "region_masking"):
            assert value < 0.9, (model, variant, method)
        if method == "ideal":
            assert value == 1.0
    assert "--erase-keep" in keep.command and "--record-as known_answer_keep" in keep.command


def test_write_and_read_back(tmp_path, monkeypatch) -> None:
    from fer_explain.analysis import recorded

    table = pd.DataFrame({"accuracy": [0.5, 0.25]}, index=pd.Index(["a", "b"], name="region"))
    write_recorded(table, "demo", {"command": "python x.py --record"}, tmp_path)
    monkeypatch.setattr(recorded, "RESULTS_DIR", tmp_path)
    back = recorded.recorded_result("demo")
    pd.testing.assert_frame_equal(back.table, table)
    assert back.command == "python x.py --record" and "remake: python x.py" in back.describe()
    with pytest.raises(KeyError, match="no recorded result 'nope'"):
        recorded.recorded_result("nope")


@pytest.mark.slow
def test_a_slice_of_the_shipped_region_table_recomputes() -> None:
    """Recompute a slice of ``region_contribution_mouth_only`` with its recorded settings (Deep-Emotion, Adam
    lr 3e-3, cosine, batch 64, best validation epoch; mouth-only faces rendered with seed 0) on 3,000 faces
    and 15 epochs instead of 6,000 and 30 (a few minutes on one thread): the mouth model comes within 5
    points of its recorded accuracy and the eyes model stays within 5 points of chance, as recorded.

    The whole face is left out of the slice: it needs the full set to catch up with the mouth (measured on
    this slice: mouth 0.957, eyes 0.143, face 0.866; recorded at full scale: 0.9815, 0.1425, 0.9585), so
    the face-vs-mouth sentence is checked on the recorded table above and by the benchmark at full scale."""
    import numpy as np
    import torch

    from fer_explain.analysis.regions import face_arrays, train_region_models
    from fer_explain.data.synthetic import SyntheticFaceConfig, generate

    torch.set_num_threads(1)
    recorded = recorded_result("region_contribution_mouth_only")
    assert "--model deep_emotion" in recorded.command and "--scheduler cosine" in recorded.command
    n = 3000
    faces = face_arrays(generate(SyntheticFaceConfig(n=n, size=48, evidence_regions=("mouth",), seed=0)))
    train, test = faces.subset(np.arange(2 * n // 3)), faces.subset(np.arange(2 * n // 3, n))
    table, _ = train_region_models((train, test), regions=["mouth", "eyes"], variant="pad",
                                   model_name="deep_emotion", recipe="quick", epochs=15, lr=3e-3, batch_size=64,
                                   seed=0, val_fraction=0.1, scheduler="cosine", progress=False)
    acc, rec = table["accuracy"], recorded.table["accuracy"]
    assert abs(acc["mouth"] - float(rec["mouth"])) <= 0.05, acc
    assert abs(acc["eyes"] - 1 / 7) <= 0.05 and abs(float(rec["eyes"]) - 1 / 7) <= 0.05, acc
