"""Shared colours and ordering for emotion plots.

Seed 002 (Fig. 5 caption) colours its t-SNE plots by emotion in a fixed order::

    0 (red) neutral, 1 (blue) happiness, 2 (green) surprise, 3 (purple) sadness,
    4 (orange) anger, 5 (yellow) disgust, 6 (brown) fear, 7 (pink) contempt

That order is FER+'s, not the canonical (FER2013) index order of :mod:`fer_explain.labels`, so
colours are always looked up by emotion NAME, never by class index. Yellow is matplotlib's
``"gold"``, which stays readable on a white background; the other colours are matplotlib's named
colours of the same name.
"""

from __future__ import annotations

from collections.abc import Sequence

from fer_explain.labels import EMOTIONS

__all__ = ["EMOTION_COLORS", "SEED002_ORDER", "emotion_palette", "seed002_order"]

#: Seed 002's emotion order for legends (FER+'s class order).
SEED002_ORDER: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
)

#: Seed 002's colour of each canonical emotion name (matplotlib colour names).
EMOTION_COLORS: dict[str, str] = {
    "neutral": "red",
    "happiness": "blue",
    "surprise": "green",
    "sadness": "purple",
    "anger": "orange",
    "disgust": "gold",
    "fear": "brown",
    "contempt": "pink",
}

assert set(EMOTION_COLORS) == set(EMOTIONS) == set(SEED002_ORDER)


def _check_names(classes: Sequence[str]) -> None:
    unknown = [c for c in classes if c not in EMOTION_COLORS]
    if unknown:
        raise KeyError(f"unknown emotion name(s) {unknown}; valid: {list(EMOTIONS)}")


def emotion_palette(classes: Sequence[str]) -> list[str]:
    """The seed-002 colour of each class, in the order given (e.g. a model's label space).

    >>> emotion_palette(["anger", "neutral"])
    ['orange', 'red']
    """
    classes = list(classes)
    _check_names(classes)
    return [EMOTION_COLORS[c] for c in classes]


def seed002_order(classes: Sequence[str]) -> list[str]:
    """``classes`` sorted into seed 002's legend order (neutral, happiness, surprise, ...)."""
    classes = list(classes)
    _check_names(classes)
    return sorted(classes, key=SEED002_ORDER.index)
