"""Region bar chart and region x emotion heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_explain.viz.bars import plot_region_bars, plot_region_emotion_heatmap


def test_region_bars_with_chance_line() -> None:
    t = pd.DataFrame({"region": ["mouth", "nose", "eyes", "face"], "accuracy": [0.7, 0.4, 0.55, 0.8],
                      "sd": [0.01, 0.02, 0.01, 0.0]})
    fig = plot_region_bars(t, chance=1 / 7, error="sd")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["mouth", "nose", "eyes", "face"]
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.7, 0.4, 0.55, 0.8])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["accuracy", "chance (0.14)"]
    assert ax.get_ylabel() == "accuracy" and ax.get_title() == "accuracy per region"
    assert [t.get_text() for t in ax.texts] == ["0.70", "0.40", "0.55", "0.80"]


def test_region_bars_index_and_errors() -> None:
    t = pd.DataFrame({"f1": [0.5, 0.6]}, index=["mouth", "eyes"])
    ax = plot_region_bars(t, value="f1", title="F1").axes[0]
    assert ax.get_title() == "F1" and ax.get_legend() is None
    with pytest.raises(KeyError, match="'accuracy' not in table"):
        plot_region_bars(t)


def test_region_emotion_heatmap_wide_and_long() -> None:
    wide = pd.DataFrame([[0.9, 0.1], [0.2, 0.6]], index=["mouth", "eyes"], columns=["neutral", "happiness"])
    ax = plot_region_emotion_heatmap(wide, title="mass").axes[0]
    # canonical order: happiness before neutral
    assert [t.get_text() for t in ax.get_xticklabels()] == ["happiness", "neutral"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mouth", "eyes"]
    assert [t.get_text() for t in ax.texts] == ["0.10", "0.90", "0.60", "0.20"]
    assert ax.get_xlabel() == "emotion" and ax.get_ylabel() == "region" and ax.get_title() == "mass"
    long = wide.reset_index(names="region").melt(id_vars="region", var_name="emotion", value_name="acc")
    ax2 = plot_region_emotion_heatmap(long).axes[0]
    assert [t.get_text() for t in ax2.texts] == ["0.10", "0.90", "0.60", "0.20"]
    assert ax2.get_title() == "acc per region and emotion"
    assert np.isfinite([float(t.get_text()) for t in ax2.texts]).all()
