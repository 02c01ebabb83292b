"""FACS action units used by the synthetic faces: the AU table, regions and the emotion prototypes.

The renderer works with a fixed vector of 16 *AU channels*. Most action units are bilateral and have
one channel; AU12 (lip corner puller) and AU14 (dimpler) have one channel per side so that contempt
can be drawn unilaterally. "Right" and "left" are the subject's sides (right = image left), as in
the iBUG 68-point scheme.

Prototypes (the standard EMFACS-style combinations)::

    happiness  AU6 + AU12
    sadness    AU1 + AU4 + AU15
    surprise   AU1 + AU2 + AU5 + AU26
    fear       AU1 + AU2 + AU4 + AU5 + AU7 + AU20 + AU26
    anger      AU4 + AU5 + AU7 + AU23
    disgust    AU9 + AU15 + AU16
    contempt   AU12 + AU14 on one side only
    neutral    no action unit

Every AU belongs to exactly one face region (:data:`AU_REGION`): ``eyes`` (brows and eyes: AU1, AU2,
AU4, AU5, AU6, AU7), ``nose`` (AU9) or ``mouth`` (AU12, AU14, AU15, AU16, AU20, AU23, AU26). Restricted
to the mouth, the eight prototypes are pairwise different (checked by :func:`region_signatures`), so
the mouth alone identifies every class; restricted to the eyes, disgust, neutral and contempt all have
no action unit and cannot be told apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

AU_CHANNELS: tuple[str, ...] = (
    "au_1", "au_2", "au_4", "au_5", "au_6", "au_7", "au_9",
    "au_12_r", "au_12_l", "au_14_r", "au_14_l",
    "au_15", "au_16", "au_20", "au_23", "au_26",
)
"""The renderer's AU channels, in vector order (AU12/AU14 split by side: _r subject's right, _l left)."""

CH: dict[str, int] = {name: i for i, name in enumerate(AU_CHANNELS)}
"""Channel name -> index into an AU vector."""

AU_NUMBERS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 12, 14, 15, 16, 20, 23, 26)
"""The action units the renderer draws."""

AU_NAMES: dict[int, str] = {
    1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser",
    6: "cheek raiser", 7: "lid tightener", 9: "nose wrinkler", 12: "lip corner puller", 14: "dimpler",
    15: "lip corner depressor", 16: "lower lip depressor", 20: "lip stretcher", 23: "lip tightener",
    26: "jaw drop",
}

AU_REGION: dict[int, str] = {
    1: "eyes", 2: "eyes", 4: "eyes", 5: "eyes", 6: "eyes", 7: "eyes",
    9: "nose",
    12: "mouth", 14: "mouth", 15: "mouth", 16: "mouth", 20: "mouth", 23: "mouth", 26: "mouth",
}
"""Face region of every action unit (used by ``evidence_regions``)."""

REGIONS: tuple[str, ...] = ("eyes", "nose", "mouth")
REGION_ALIASES: dict[str, str] = {"brows": "eyes", "brows/eyes": "eyes", "upper": "eyes", "lower": "mouth"}

PROTOTYPES: dict[str, dict[int, float]] = {
    "anger": {4: 1.0, 5: 1.0, 7: 1.0, 23: 1.0},
    "disgust": {9: 1.0, 15: 1.0, 16: 1.0},
    "fear": {1: 1.0, 2: 1.0, 4: 1.0, 5: 1.0, 7: 1.0, 20: 1.0, 26: 1.0},
    "happiness": {6: 1.0, 12: 1.0},
    "sadness": {1: 1.0, 4: 1.0, 15: 1.0},
    "surprise": {1: 1.0, 2: 1.0, 5: 1.0, 26: 1.0},
    "neutral": {},
    "contempt": {12: 1.0, 14: 1.0},
}
"""Emotion -> {AU number: relative weight}; contempt's AUs are drawn on one side only."""

UNILATERAL: frozenset[str] = frozenset({"contempt"})
"""Emotions whose AU12/AU14 are drawn on one (random) side only."""


def au_channels(au: int, side: str | None = None) -> tuple[int, ...]:
    """Vector indices of an action unit; ``side`` ("r"/"l") picks one side of AU12/AU14."""
    if au in (12, 14):
        if side is None:
            return (CH[f"au_{au}_r"], CH[f"au_{au}_l"])
        if side not in ("r", "l"):
            raise ValueError(f"side must be 'r' or 'l', got {side!r}")
        return (CH[f"au_{au}_{side}"],)
    try:
        return (CH[f"au_{au}"],)
    except KeyError:
        raise KeyError(f"AU{au} is not drawn by the synthetic renderer; valid: {AU_NUMBERS}") from None


def resolve_regions(regions: Sequence[str] | str | None) -> tuple[str, ...]:
    """Canonical region names (``eyes``, ``nose``, ``mouth``); None or "all" means every region."""
    if regions is None:
        return REGIONS
    if isinstance(regions, str):
        regions = (regions,)
    out: list[str] = []
    for r in regions:
        name = REGION_ALIASES.get(str(r).lower(), str(r).lower())
        if name == "all":
            return REGIONS
        if name not in REGIONS:
            raise ValueError(
                f"unknown evidence region {r!r}; valid: {REGIONS} (aliases {sorted(REGION_ALIASES)}, 'all')"
            )
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError("evidence_regions is empty; name at least one of " + ", ".join(REGIONS))
    return tuple(r for r in REGIONS if r in out)


def region_signatures(classes: Sequence[str], regions: Sequence[str]) -> dict[str, frozenset[int]]:
    """Each class's prototype restricted to ``regions`` (AU numbers; unilateral AUs tagged as-is)."""
    regs = set(resolve_regions(regions))
    out: dict[str, frozenset[int]] = {}
    for c in classes:
        aus = frozenset(a for a in PROTOTYPES[c] if AU_REGION[a] in regs)
        # contempt's one-sided AU12+14 differs from happiness's two-sided AU12 even on equal AU sets
        out[c] = frozenset({-a for a in aus}) if c in UNILATERAL else aus
    return out


def colliding_classes(classes: Sequence[str], regions: Sequence[str]) -> list[tuple[str, ...]]:
    """Groups of classes whose prototypes are identical when restricted to ``regions``."""
    sig = region_signatures(classes, regions)
    groups: dict[frozenset[int], list[str]] = {}
    for c, s in sig.items():
        groups.setdefault(s, []).append(c)
    return [tuple(g) for g in groups.values() if len(g) > 1]


def public_aus(vector: Sequence[float]) -> dict[str, float]:
    """An AU channel vector as the public ``{"au_1": ..., "au_12": ..., ...}`` dict.

    AU12 and AU14 report the stronger side; the per-side channels are kept as ``au_12_r`` etc.
    """
    v = [float(x) for x in vector]
    out: dict[str, float] = {}
    for au in AU_NUMBERS:
        out[f"au_{au}"] = max(v[i] for i in au_channels(au))
    for side in ("r", "l"):
        out[f"au_12_{side}"] = v[CH[f"au_12_{side}"]]
        out[f"au_14_{side}"] = v[CH[f"au_14_{side}"]]
    return out


def prototype_vector(emotion: str, intensity: float = 1.0, side: str = "r") -> list[float]:
    """A prototype as an AU channel vector at one intensity (``side`` for unilateral emotions)."""
    try:
        proto: Mapping[int, float] = PROTOTYPES[emotion]
    except KeyError:
        raise KeyError(f"no AU prototype for {emotion!r}; valid: {sorted(PROTOTYPES)}") from None
    v = [0.0] * len(AU_CHANNELS)
    for au, w in proto.items():
        for i in au_channels(au, side if emotion in UNILATERAL and au in (12, 14) else None):
            v[i] = float(intensity * w)
    return v
