"""Seed 002's emotion colours, looked up by name."""

from __future__ import annotations

import pytest

from fer_explain.labels import BASIC7, EMOTIONS
from fer_explain.viz.style import EMOTION_COLORS, SEED002_ORDER, emotion_palette, seed002_order


def test_seed002_colours_and_order() -> None:
    assert SEED002_ORDER == ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
    assert set(SEED002_ORDER) == set(EMOTIONS)
    assert EMOTION_COLORS["neutral"] == "red" and EMOTION_COLORS["happiness"] == "blue"
    assert EMOTION_COLORS["anger"] == "orange" and EMOTION_COLORS["contempt"] == "pink"
    # canonical index order != seed 002 order, so the palette follows the names given
    assert emotion_palette(BASIC7.classes)[:2] == ["orange", "gold"]
    assert seed002_order(BASIC7.classes) == list(SEED002_ORDER[:7])
    with pytest.raises(KeyError, match="unknown emotion"):
        emotion_palette(["joy"])
