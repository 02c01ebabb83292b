"""Configuration of the synthetic face set: :class:`SyntheticFaceConfig` and the nuisance presets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property

from fer_explain.data.synthetic.aus import PROTOTYPES, colliding_classes, resolve_regions
from fer_explain.data.synthetic.version import RENDERER_VERSION
from fer_explain.labels import LabelSpace, get_label_space


@dataclass(frozen=True)
class Nuisance:
    """Ranges of the class-independent nuisance applied to every face.

    Rotation is in degrees (uniform in ``[-rotation, rotation]``), scale a uniform range, translation a
    fraction of the image side (uniform in ``[-translate, translate]`` per axis). ``light_gradient`` is
    the largest brightness change across the image (a linear ramp in a random direction), ``gain`` the
    range of the overall brightness factor. ``blur`` is the largest mix of a 3x3 binomial blur,
    ``blur_passes`` how often it is applied. ``noise`` is the range of the per-pixel noise standard
    deviation (fraction of full scale, uniform noise). ``occluder`` is the probability of a hand-like
    blob or a bar over the face.
    """

    name: str = "custom"
    rotation: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    translate: float = 0.0
    light_gradient: float = 0.0
    gain: tuple[float, float] = (1.0, 1.0)
    colour_cast: float = 0.0
    blur: float = 0.0
    blur_passes: int = 1
    noise: tuple[float, float] = (0.0, 0.0)
    occluder: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.occluder <= 1.0:
            raise ValueError(f"Nuisance.occluder is a probability in [0, 1], got {self.occluder}")
        if self.scale[0] <= 0 or self.scale[1] < self.scale[0]:
            raise ValueError(f"Nuisance.scale must be an increasing positive range, got {self.scale}")
        if not 0.0 <= self.blur <= 1.0 or self.blur_passes < 1:
            raise ValueError(f"Nuisance.blur must lie in [0, 1] and blur_passes >= 1, got {self.blur}, "
                             f"{self.blur_passes}")


NUISANCE_PRESETS: dict[str, Nuisance] = {
    "none": Nuisance(name="none"),
    "default": Nuisance(
        name="default", rotation=6.0, scale=(0.93, 1.05), translate=0.03, light_gradient=0.25,
        gain=(0.85, 1.1), colour_cast=0.04, blur=0.6, blur_passes=1, noise=(0.0, 0.025), occluder=0.0,
    ),
    "hard": Nuisance(
        name="hard", rotation=25.0, scale=(0.75, 1.15), translate=0.10, light_gradient=0.9,
        gain=(0.5, 1.25), colour_cast=0.12, blur=1.0, blur_passes=2, noise=(0.03, 0.1), occluder=0.6,
    ),
}
"""``none``: a clean frontal face; ``default``: mild pose, lighting, blur and noise; ``hard``: strong
pose, lighting, blur and noise, and an occluder on most faces."""


def get_nuisance(nuisance: str | Nuisance) -> Nuisance:
    """Resolve a preset name or pass a :class:`Nuisance` through."""
    if isinstance(nuisance, Nuisance):
        return nuisance
    try:
        return NUISANCE_PRESETS[str(nuisance)]
    except KeyError:
        raise KeyError(f"unknown nuisance level {nuisance!r}; valid: {sorted(NUISANCE_PRESETS)} "
                       "or a Nuisance(...)") from None


CLASS_PROPORTION_PRESETS: dict[str, dict[str, float]] = {
    # FER2013 training split counts
    "fer2013": {"anger": 3995, "disgust": 436, "fear": 4097, "happiness": 7215, "sadness": 4830,
                "surprise": 3171, "neutral": 4965},
    # AffectNet (manually annotated) training counts, as published by Mollahosseini et al. (2017)
    "affectnet": {"neutral": 74874, "happiness": 134415, "sadness": 25459, "surprise": 14090,
                  "fear": 6378, "disgust": 3803, "anger": 24882, "contempt": 3750},
}


def resolve_proportions(
    proportions: Mapping[str, float] | str | None, classes: Sequence[str]
) -> tuple[float, ...]:
    """Normalised class probabilities in ``classes`` order (uniform for None).

    A preset or dict may name classes outside the label space (AffectNet's contempt for basic7):
    those are dropped before normalising. Classes of the label space it omits get probability 0.
    """
    if proportions is None:
        return tuple(1.0 / len(classes) for _ in classes)
    if isinstance(proportions, str):
        try:
            table: Mapping[str, float] = CLASS_PROPORTION_PRESETS[proportions]
        except KeyError:
            raise KeyError(f"unknown class_proportions preset {proportions!r}; valid: "
                           f"{sorted(CLASS_PROPORTION_PRESETS)} or a dict emotion -> weight") from None
    else:
        table = proportions
        unknown = [k for k in table if k not in PROTOTYPES]
        if unknown:
            raise ValueError(f"class_proportions names unknown emotions {unknown}; valid: {sorted(PROTOTYPES)}")
    w = [float(table.get(c, 0.0)) for c in classes]
    if any(x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"class_proportions must be non-negative with a positive sum over {tuple(classes)}, "
                         f"got {dict(zip(classes, w))}")
    total = sum(w)
    return tuple(x / total for x in w)


@dataclass(frozen=True)
class SyntheticFaceConfig:
    """Everything that determines a synthetic face set; the same config gives the same bytes.

    Attributes:
        n: number of faces.
        size: output side in pixels (square), 16..224. 48 is FER2013-like, 100 RAF-DB-like.
        channels: 1 (grey, the default) or 3 (RGB).
        seed: the base seed; face ``i`` uses its own generator seeded with ``(seed, i)``.
        classes: label space (``"basic7"``, ``"basic8"`` with contempt, a list of names, a LabelSpace).
        nuisance: ``"none"``, ``"default"``, ``"hard"`` or a :class:`Nuisance`.
        evidence_regions: regions whose AUs carry the label (``("mouth",)``, ``("eyes",)``, ...).
            AUs of the other regions are decoys: a random class's prototype for that region, drawn
            the same way for every class. None means all regions carry the label.
        class_proportions: None (balanced), a dict emotion -> weight, or ``"fer2013"``/``"affectnet"``.
        label_noise: fraction of faces whose label is flipped uniformly to another class (the drawn
            class stays in ``true_label``).
        intensity: range of the per-AU uniform intensity.
        partial: probability that a face shows a random non-empty subset of its prototype's AUs.
        blend: probability that a face mixes in a second class's AUs at ``blend_weight`` of their
            intensity; the label stays the dominant (first) class.
        blend_weight: range of the second class's intensity factor.
        n_identities: None gives every face its own identity; an int draws identities from a pool
            of that size (so identities repeat across expressions).
        evidence_threshold: smallest |difference| (grey levels, 0..255) between a face and its twin
            counted as evidence; it removes anti-aliasing dust.
    """

    n: int = 2100
    size: int = 48
    channels: int = 1
    seed: int = 0
    classes: str | tuple[str, ...] | LabelSpace = "basic7"
    nuisance: str | Nuisance = "default"
    evidence_regions: tuple[str, ...] | None = None
    class_proportions: Mapping[str, float] | str | None = None
    label_noise: float = 0.0
    intensity: tuple[float, float] = (0.5, 1.0)
    partial: float = 0.0
    blend: float = 0.0
    blend_weight: tuple[float, float] = (0.25, 0.5)
    n_identities: int | None = None
    evidence_threshold: float = 6.0

    def __post_init__(self) -> None:
        if int(self.n) < 0:
            raise ValueError(f"n must be >= 0, got {self.n}")
        if not 16 <= int(self.size) <= 512:
            raise ValueError(f"size must lie in 16..512 pixels, got {self.size}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {self.channels}")
        if not 0.0 <= self.label_noise < 1.0:
            raise ValueError(f"label_noise is a rate in [0, 1), got {self.label_noise}")
        for name in ("partial", "blend"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], got {v}")
        lo, hi = self.intensity
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"intensity must be a range inside [0, 1], got {self.intensity}")
        if self.n_identities is not None and int(self.n_identities) < 1:
            raise ValueError(f"n_identities must be None or >= 1, got {self.n_identities}")
        ls = self.label_space
        missing = [c for c in ls.classes if c not in PROTOTYPES]
        if missing:
            raise ValueError(f"no AU prototype for {missing}")
        if self.label_noise > 0 and len(ls) < 2:
            raise ValueError("label_noise needs at least two classes")
        get_nuisance(self.nuisance)
        if self.evidence_regions is not None:
            object.__setattr__(self, "evidence_regions", resolve_regions(self.evidence_regions))
        if isinstance(self.classes, list):
            object.__setattr__(self, "classes", tuple(self.classes))
        resolve_proportions(self.class_proportions, ls.classes)

    @cached_property
    def label_space(self) -> LabelSpace:
        return get_label_space(self.classes)

    @cached_property
    def regions(self) -> tuple[str, ...]:
        """The label-carrying regions (all of them when ``evidence_regions`` is None)."""
        return resolve_regions(self.evidence_regions)

    @cached_property
    def nuisance_spec(self) -> Nuisance:
        return get_nuisance(self.nuisance)

    @cached_property
    def proportions(self) -> tuple[float, ...]:
        return resolve_proportions(self.class_proportions, self.label_space.classes)

    def replace(self, **changes: object) -> SyntheticFaceConfig:
        """A copy with some fields changed (validated)."""
        valid = {f.name for f in fields(self)}
        bad = [k for k in changes if k not in valid]
        if bad:
            raise TypeError(f"unknown SyntheticFaceConfig field(s) {bad}; valid: {sorted(valid)}")
        return replace(self, **changes)  # type: ignore[arg-type]

    def colliding_classes(self) -> list[tuple[str, ...]]:
        """Classes that the label-carrying regions cannot tell apart (empty for the default)."""
        return colliding_classes(self.label_space.classes, self.regions)

    def to_dict(self) -> dict[str, object]:
        """A JSON-able description (used for the cache key and the manifest sidecar)."""
        d = asdict(self)
        ls = self.label_space
        d["classes"] = list(ls.classes)
        d["nuisance"] = asdict(self.nuisance_spec)
        d["evidence_regions"] = list(self.regions) if self.evidence_regions is not None else None
        cp = self.class_proportions
        d["class_proportions"] = cp if (cp is None or isinstance(cp, str)) else {k: float(v) for k, v in cp.items()}
        return d

    def key(self) -> str:
        """A short hash of the config (renderer version included), for cache folders."""
        payload = json.dumps({"config": self.to_dict(), "renderer": RENDERER_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
