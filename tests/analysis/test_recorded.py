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
