"""The AU-alignment summary on a hand-made per-face table: means per emotion, ``all`` without the fallback
faces, ``all_fallback`` apart, faces without a mask (neutral) left out; and the per-face scores."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from fer_explain.analysis.au_alignment import COLUMNS, alignment_scores, summarize


def _faces() -> pd.DataFrame:
    nan = math.nan
    return pd.DataFrame({
        "method": ["m"] * 5,
        "target": ["true"] * 5,
        "emotion": ["anger", "anger", "fear", "neutral", "fear"],
        "landmark_fallback": [False, False, False, False, True],
        "iou_top15": [0.2, 0.4, 0.9, nan, 0.1], "f1_top15": [0.3, 0.5, 1.0, nan, 0.2],
        "iou_otsu": [0.1, 0.3, 0.5, nan, 0.0], "f1_otsu": [0.2, 0.4, 0.6, nan, 0.0],
        "pointing_game": [1.0, 0.0, 1.0, nan, 0.0],
    })


def test_summary_by_hand() -> None:
    t = summarize(_faces(), ["anger", "fear", "neutral"])
    assert tuple(t.columns) == COLUMNS
    t = t.set_index(["emotion", "threshold"])
    assert list(dict.fromkeys(t.index.get_level_values(0))) == ["anger", "fear", "all", "all_fallback"]
    assert t.loc[("anger", "top15"), ["iou", "f1", "pointing_game", "n"]].tolist() == pytest.approx([0.3, 0.4, 0.5, 2])
    assert t.loc[("anger", "otsu"), ["iou", "f1", "pointing_game"]].tolist() == pytest.approx([0.2, 0.3, 0.5])
    assert t.loc[("fear", "top15"), "n"] == 1 and t.loc[("fear", "top15"), "iou"] == pytest.approx(0.9)
    assert t.loc[("all", "top15"), ["iou", "n"]].tolist() == pytest.approx([0.5, 3])
    assert t.loc[("all", "otsu"), "pointing_game"] == pytest.approx(2 / 3)
    assert t.loc[("all_fallback", "otsu"), ["iou", "n"]].tolist() == pytest.approx([0.0, 1])
    assert set(t["target"]) == {"true"} and set(t["method"]) == {"m"}


def test_alignment_scores_by_hand() -> None:
    maps = torch.arange(20, dtype=torch.float32).view(1, 4, 5)
    mask = torch.zeros(1, 4, 5, dtype=torch.bool)
    mask[0, 3] = True  # 15 .. 19; the top 3 pixels are 17 .. 19; Otsu keeps 10 .. 19
    s = alignment_scores(maps, mask)
    assert s["iou_top15"][0] == pytest.approx(3 / 5) and s["f1_top15"][0] == pytest.approx(6 / 8)
    assert s["iou_otsu"][0] == pytest.approx(5 / 10) and s["f1_otsu"][0] == pytest.approx(10 / 15)
    assert s["pointing_game"][0] == 1.0
    assert all(np.isnan(v[0]) for v in alignment_scores(maps, torch.zeros_like(mask)).values())
