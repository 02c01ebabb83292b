"""FACS action units on any face: the emotion -> action-unit codebook and each unit's face area from 68 landmarks.

Codebook
--------
The prototypes are the synthetic generator's own table (:data:`fer_explain.data.synthetic.aus.PROTOTYPES`,
read here, never copied), the EMFACS-style combinations of Ekman, Friesen & Hager (2002, *FACS
Investigator's Guide*) and Matsumoto & Ekman (2008, "Facial expression analysis", Scholarpedia 3(5):4237)::

    happiness  AU6 + AU12
    surprise   AU1 + AU2 + AU5 + AU26
    sadness    AU1 + AU4 + AU15
    anger      AU4 + AU5 + AU7 + AU23        (AU24 accepted in place of AU23)
    disgust    AU9 + AU15 + AU16             (AU10 accepted beside or in place of AU9)
    fear       AU1 + AU2 + AU4 + AU5 + AU7 + AU20 + AU26
    contempt   AU12 + AU14, on one side of the face only
    neutral    no action unit

:data:`ALTERNATIVE_AUS` holds the accepted variants (the generator draws one form only); an emotion's
mask includes them by default (``alternatives=True``): on real faces disgust shows AU10 as often as AU9.

Face areas
----------
Every AU maps to one face area (:data:`AU_AREA`), the union of convex hulls of landmark points and of
points derived from them (Gaya-Morey et al. 2024 also draw beyond the 68 points). Lengths are in units
of the inter-ocular distance ``iod`` (between the two eye centres) and "up" is perpendicular to the line
through the eye centres, so the areas follow the face's scale and in-plane rotation. Point numbers below
are 1-based dlib/iBUG numbers (right = the subject's right = the image's left):

==============  ===============  ================================================================
area            action units     points
==============  ===============  ================================================================
inner_brow      AU1              inner brows 20-25 and the forehead band above them, 0.5 iod high
outer_brow      AU2              outer brows 18-20 | 25-27 and the band above them, 0.5 iod high
brow_lowerer    AU4              inner brows 20-25, nasal root 28, inner eye corners 40 and 43
upper_lid       AU5, AU7         each eye 37-42 | 43-48 and its upper lid raised by 0.2 iod
cheek           AU6              each lower lid 37, 40-42 | 43, 46-48, the band 0.35 iod below it and the
                                 crow's-feet point 0.2 iod beyond the outer eye corner
nose_wrinkle    AU9              nose 28-36 and the inner eye corners 40, 43
upper_lip       AU10             nostrils 32-36 and the upper lip 49-55, 61-65
lip_corners     AU12, AU14,      each mouth corner 49 | 55 with its neighbours 50, 60, 61 | 54, 56, 65
                AU15, AU20       and a disc of 0.25 iod around it
lower_lip_chin  AU16, AU17       lower lip 49, 55-60 and the chin 7-11
lips            AU23, AU24       the lips, 49-60
mouth_opening   AU25, AU26       the mouth, 49-68, grown by 0.1 iod downwards (the jaw drops)
==============  ===============  ================================================================

Each hull is then grown by ``margin`` (default :data:`DEFAULT_MARGIN` = 0.08 iod). The forehead
band (AU1, AU2) lies above the brows: FER2013's 48 px crops often cut it, so on those faces part of
the band falls outside the image and only its visible part is in the mask. Unilateral emotions
(contempt) take both lip corners unless ``side`` names one (``"r"``, the subject's right = image left,
or ``"l"``); the generator records the side it drew.

Checked against the generator (``tests/faces/test_action_units.py``; 160 synthetic 48 px faces): the
codebook mask of the true emotion covers 75-100 % of the evidence mask, and its IoU with the evidence
dilated by 1 px (the toolkit's tolerant scoring) is 0.32 (contempt, drawn side) to 0.58 (anger); on the
raw, stroke-thin evidence it is 0.17-0.43.

Masks are ``(N, H, W)`` bool, a torch tensor on the landmarks' device when the landmarks are a tensor,
else a numpy array; pixel conventions as in :mod:`fer_explain.faces.regions` (the point ``(j, i)`` is
the centre of pixel ``[i, j]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import torch

from fer_explain.data.synthetic.aus import AU_NAMES as _DRAWN_AU_NAMES
from fer_explain.data.synthetic.aus import PROTOTYPES, UNILATERAL
from fer_explain.faces.hulls import check_finite, hull_masks
from fer_explain.faces.landmarks import check_landmarks

__all__ = [
    "ALTERNATIVE_AUS",
    "AREAS",
    "AU_AREA",
    "AU_NAMES",
    "CITATIONS",
    "DEFAULT_MARGIN",
    "EMOTION_AUS",
    "AUArea",
    "au_masks",
    "codebook_table",
    "emotion_aus",
    "emotion_masks",
    "inter_ocular_distance",
    "label_masks",
]

CITATIONS: tuple[str, ...] = (
    ("Ekman, P., Friesen, W. V. & Hager, J. C. (2002). Facial Action Coding System: Investigator's Guide. "
     "Research Nexus, Salt Lake City."),
    "Matsumoto, D. & Ekman, P. (2008). Facial expression analysis. Scholarpedia 3(5):4237.",
)
"""Where the emotion -> AU prototypes come from."""

EMOTION_AUS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {emotion: tuple(sorted(aus)) for emotion, aus in PROTOTYPES.items()})
"""Emotion -> its prototype's action units: the synthetic generator's :data:`PROTOTYPES`, one definition."""

ALTERNATIVE_AUS: Mapping[str, tuple[int, ...]] = MappingProxyType({"anger": (24,), "disgust": (10,)})
"""Action units accepted beside the prototype (anger: AU24 lip pressor for AU23; disgust: AU10 upper lip
raiser with or instead of AU9)."""

AU_NAMES: Mapping[int, str] = MappingProxyType(
    {**_DRAWN_AU_NAMES, 10: "upper lip raiser", 17: "chin raiser", 24: "lip pressor", 25: "lips part"})
"""FACS names of every action unit the codebook places (the generator's, plus AU10, AU17, AU24, AU25)."""

DEFAULT_MARGIN = 0.08
"""How far every hull is grown, in inter-ocular distances (about 1.5 px on a 48 px FER2013 face)."""

_BAND = 0.5  # forehead band above the brows (AU1, AU2), in iod
_LID = 0.2  # upper lid raised towards the brow (AU5, AU7), in iod
_CORNER = 0.25  # disc around each mouth corner (AU12/14/15/20), in iod
_JAW = 0.1  # the mouth opening grown downwards (AU26), in iod
_CHEEK = 0.35  # the infraorbital band below the lower lid (AU6), in iod
_CROW = 0.2  # the crow's-feet reach beyond the outer eye corner (AU6), in iod


@dataclass(frozen=True)
class _Frame:
    """Per-face geometry: the landmarks ``(N, 68, 2)``, ``iod`` ``(N, 1)`` and the unit "up" vector ``(N, 2)``."""

    lm: np.ndarray
    iod: np.ndarray
    up: np.ndarray

    def pts(self, *numbers: int) -> np.ndarray:
        """Landmarks by 1-based number, ``(N, k, 2)``."""
        return self.lm[:, [k - 1 for k in numbers], :]

    def shifted(self, points: np.ndarray, dist: float, direction: np.ndarray | None = None) -> np.ndarray:
        """``points (N, k, 2)`` moved by ``dist`` iod along ``direction`` (``(N, 2)`` or ``(N, k, 2)``; default up)."""
        d = self.up if direction is None else direction
        d = d[:, None, :] if d.ndim == 2 else d
        return points + dist * self.iod[:, :, None] * d


def _frame(lm: np.ndarray) -> _Frame:
    right, left = lm[:, 36:42].mean(axis=1), lm[:, 42:48].mean(axis=1)
    eye_line = left - right
    iod = np.linalg.norm(eye_line, axis=1, keepdims=True)
    if (iod <= 0).any():
        bad = np.flatnonzero(iod[:, 0] <= 0)
        raise ValueError(f"landmarks of sample(s) {bad[:10].tolist()} have coinciding eye centres")
    ex = eye_line / iod
    up = np.stack([ex[:, 1], -ex[:, 0]], axis=1)  # image y points down: (1, 0) -> (0, -1)
    return _Frame(lm, iod, up)


def inter_ocular_distance(landmarks: Any) -> np.ndarray:
    """Distance between the two eye centres (means of points 37-42 and 43-48), ``(N,)`` or a scalar."""
    arr = check_landmarks(landmarks)
    single = arr.ndim == 2
    iod = _frame(arr[None] if single else arr).iod[:, 0]
    return iod[0] if single else iod


# --------------------------------------------------------------------------- the areas
def _band(f: _Frame, *numbers: int) -> list[np.ndarray]:
    p = f.pts(*numbers)
    return [np.concatenate([p, f.shifted(p, _BAND)], axis=1)]


def _inner_brow(f: _Frame) -> list[np.ndarray]:
    return _band(f, 20, 21, 22, 23, 24, 25)


def _outer_brow(f: _Frame) -> list[np.ndarray]:
    return _band(f, 18, 19, 20) + _band(f, 25, 26, 27)


def _brow_lowerer(f: _Frame) -> list[np.ndarray]:
    return [f.pts(20, 21, 22, 23, 24, 25, 28, 40, 43)]


def _upper_lid(f: _Frame) -> list[np.ndarray]:
    out = []
    for eye, lid in (((37, 38, 39, 40, 41, 42), (37, 38, 39, 40)), ((43, 44, 45, 46, 47, 48), (43, 44, 45, 46))):
        out.append(np.concatenate([f.pts(*eye), f.shifted(f.pts(*lid), _LID)], axis=1))
    return out


def _cheek(f: _Frame) -> list[np.ndarray]:
    out = []
    for lid, outer in (((37, 42, 41, 40), 37), ((46, 47, 48, 43), 46)):
        p = f.pts(*lid)
        out_dir = f.pts(outer)[:, 0] - f.pts(*lid[1:]).mean(axis=1)  # away from the eye, roughly along its axis
        out_dir /= np.linalg.norm(out_dir, axis=1, keepdims=True).clip(1e-9)
        out.append(np.concatenate([p, f.shifted(p, -_CHEEK), f.shifted(f.pts(outer), _CROW, out_dir)], axis=1))
    return out


def _nose_wrinkle(f: _Frame) -> list[np.ndarray]:
    return [f.pts(28, 29, 30, 31, 32, 33, 34, 35, 36, 40, 43)]


def _upper_lip(f: _Frame) -> list[np.ndarray]:
    return [f.pts(32, 33, 34, 35, 36, 49, 50, 51, 52, 53, 54, 55, 61, 62, 63, 64, 65)]


def _corner(f: _Frame, corner: int, neighbours: tuple[int, ...]) -> np.ndarray:
    c = f.pts(corner)  # (N, 1, 2)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    disc = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (12, 2)
    ring = c + _CORNER * f.iod[:, :, None] * disc[None]
    return np.concatenate([f.pts(corner, *neighbours), ring], axis=1)


def _lip_corners(f: _Frame, side: str | None = None) -> list[np.ndarray]:
    right = _corner(f, 49, (50, 60, 61))
    left = _corner(f, 55, (54, 56, 65))
    return {None: [right, left], "r": [right], "l": [left]}[side]


def _lower_lip_chin(f: _Frame) -> list[np.ndarray]:
    return [f.pts(49, 55, 56, 57, 58, 59, 60, 7, 8, 9, 10, 11)]


def _lips(f: _Frame) -> list[np.ndarray]:
    return [f.pts(*range(49, 61))]


def _mouth_opening(f: _Frame) -> list[np.ndarray]:
    mouth = f.pts(*range(49, 69))
    return [np.concatenate([mouth, f.shifted(f.pts(56, 57, 58, 59, 60), -_JAW)], axis=1)]


@dataclass(frozen=True)
class AUArea:
    """A face area: its name, the action units drawn there, a description and its point groups (one hull each)."""

    name: str
    aus: tuple[int, ...]
    description: str
    groups: Callable[..., list[np.ndarray]]
    sided: bool = False


AREAS: Mapping[str, AUArea] = MappingProxyType({a.name: a for a in (
    AUArea("inner_brow", (1,), "inner brows 20-25 and the forehead band above them (0.5 iod)", _inner_brow),
    AUArea("outer_brow", (2,), "outer brows 18-20 | 25-27 and the forehead band above them (0.5 iod)", _outer_brow),
    AUArea("brow_lowerer", (4,), "inner brows 20-25, nasal root 28, inner eye corners 40, 43", _brow_lowerer),
    AUArea("upper_lid", (5, 7), "each eye 37-42 | 43-48 and its upper lid raised by 0.2 iod", _upper_lid),
    AUArea("cheek", (6,), "each lower lid, the band 0.35 iod below it, crow's feet 0.2 iod beyond the outer "
           "corner", _cheek),
    AUArea("nose_wrinkle", (9,), "nose 28-36 and the inner eye corners 40, 43", _nose_wrinkle),
    AUArea("upper_lip", (10,), "nostrils 32-36 and the upper lip 49-55, 61-65", _upper_lip),
    AUArea("lip_corners", (12, 14, 15, 20), "each mouth corner 49 | 55, its neighbours and a 0.25 iod disc",
           _lip_corners, sided=True),
    AUArea("lower_lip_chin", (16, 17), "lower lip 49, 55-60 and the chin 7-11", _lower_lip_chin),
    AUArea("lips", (23, 24), "the lips 49-60", _lips),
    AUArea("mouth_opening", (25, 26), "the mouth 49-68 grown 0.1 iod downwards", _mouth_opening),
)})
"""Every face area by name."""

AU_AREA: Mapping[int, str] = MappingProxyType(
    dict(sorted((au, area.name) for area in AREAS.values() for au in area.aus)))
"""Action unit -> the name of its face area."""


# --------------------------------------------------------------------------- the codebook
def emotion_aus(emotion: str, alternatives: bool = True) -> tuple[int, ...]:
    """The action units of an emotion's prototype (with :data:`ALTERNATIVE_AUS` when ``alternatives``), sorted."""
    try:
        aus = EMOTION_AUS[emotion]
    except KeyError:
        raise KeyError(f"no action-unit prototype for emotion {emotion!r}; valid: {sorted(EMOTION_AUS)}") from None
    return tuple(sorted({*aus, *(ALTERNATIVE_AUS.get(emotion, ()) if alternatives else ())}))


def codebook_table(alternatives: bool = True) -> pd.DataFrame:
    """One row per emotion: ``aus`` (``"AU6+AU12"``), ``areas`` and ``unilateral``, for documentation."""
    rows = []
    for emotion in EMOTION_AUS:
        aus = emotion_aus(emotion, alternatives)
        rows.append({"emotion": emotion, "aus": "+".join(f"AU{a}" for a in aus) or "-",
                     "areas": ", ".join(dict.fromkeys(AU_AREA[a] for a in aus)) or "-",
                     "unilateral": emotion in UNILATERAL})
    return pd.DataFrame(rows).set_index("emotion")


# --------------------------------------------------------------------------- masks
def _size_hw(size: int | Sequence[int]) -> tuple[int, int]:
    h, w = (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {(h, w)}")
    return h, w


def _prepare(landmarks: Any) -> tuple[np.ndarray, torch.device, bool]:
    is_tensor = isinstance(landmarks, torch.Tensor)
    device = landmarks.device if is_tensor else torch.device("cpu")
    arr = check_landmarks(landmarks, batched=True)
    check_finite(arr)
    return arr, device, is_tensor


def _area_masks(f: _Frame, area: AUArea, hw: tuple[int, int], margin: float, device: torch.device,
                side: str | None) -> torch.Tensor:
    groups = area.groups(f, side) if area.sided else area.groups(f)
    marg = margin * f.iod[:, 0]
    out = torch.zeros((f.lm.shape[0], *hw), dtype=torch.bool, device=device)
    for g in groups:
        out |= hull_masks(g, hw, marg, device)
    return out


_SIDES: Mapping[Any, str | None] = MappingProxyType(
    {None: None, "none": None, "": None, "r": "r", "right": "r", "l": "l", "left": "l"})


def _check_side(side: Any) -> str | None:
    """``None``/``"none"`` (both sides), ``"r"``/``"right"`` (the subject's right = image left) or ``"l"``/``"left"``."""
    try:
        return _SIDES[side]
    except (KeyError, TypeError):
        raise ValueError(f"side must be None (both), 'r' or 'right' (the subject's right = image left), 'l' or "
                         f"'left', got {side!r}") from None


def au_masks(landmarks: Any, size: int | Sequence[int], aus: Sequence[int] | None = None,
             margin: float = DEFAULT_MARGIN, side: str | None = None) -> dict[int, Any]:
    """``{AU: (N, H, W) bool mask}`` of each action unit's face area (default: every AU of :data:`AU_AREA`).

    Args:
        landmarks: ``(N, 68, 2)`` in the pixel coordinates of the ``size`` image (array or tensor).
        size: ``H`` (square) or ``(H, W)``.
        aus: AU numbers (each a key of :data:`AU_AREA`).
        margin: hull growth in inter-ocular distances.
        side: for the lip-corner AUs (12, 14, 15, 20): ``None`` both corners, ``"r"`` or ``"l"`` one.

    Returns torch tensors on the landmarks' device for tensor landmarks, numpy arrays otherwise. Areas
    shared by several AUs are computed once.
    """
    side = _check_side(side)
    if margin < 0 or not np.isfinite(margin):
        raise ValueError(f"margin must be a finite number >= 0 (inter-ocular distances), got {margin!r}")
    wanted = list(AU_AREA) if aus is None else [int(a) for a in aus]
    unknown = [a for a in wanted if a not in AU_AREA]
    if unknown:
        raise KeyError(f"no face area for AU(s) {unknown}; valid: {list(AU_AREA)}")
    arr, device, is_tensor = _prepare(landmarks)
    hw = _size_hw(size)
    if arr.shape[0] == 0:
        empty = torch.zeros((0, *hw), dtype=torch.bool, device=device)
        return {a: empty if is_tensor else empty.numpy() for a in wanted}
    f = _frame(arr)
    cache: dict[str, torch.Tensor] = {}
    out: dict[int, Any] = {}
    for a in wanted:
        name = AU_AREA[a]
        if name not in cache:
            cache[name] = _area_masks(f, AREAS[name], hw, float(margin), device, side)
        out[a] = cache[name] if is_tensor else cache[name].cpu().numpy()
    return out


def emotion_masks(landmarks: Any, size: int | Sequence[int], emotions: Sequence[str] | None = None,
                  alternatives: bool = True, margin: float = DEFAULT_MARGIN,
                  side: str | Sequence[str | None] | None = None) -> dict[str, Any]:
    """``{emotion: (N, H, W) bool}``: the union of the face areas of each emotion's action units.

    ``emotions`` defaults to every emotion of the codebook; neutral's mask is empty. ``side`` applies
    to unilateral emotions (contempt): ``None`` both lip corners, ``"r"``/``"l"`` one (``"right"``/``"left"``
    too), or one entry per face (e.g. the synthetic faces' ``unilateral`` column: ``"none"``, ``"right"``,
    ``"left"``). Other arguments as in :func:`au_masks`.
    """
    names = list(EMOTION_AUS) if emotions is None else [str(e) for e in emotions]
    for e in names:
        emotion_aus(e)  # unknown names fail here, naming the valid ones
    arr, device, is_tensor = _prepare(landmarks)
    hw = _size_hw(size)
    n = arr.shape[0]
    sides = [_check_side(s) for s in ([side] * n if side is None or isinstance(side, str) else side)]
    if len(sides) != n:
        raise ValueError(f"side has {len(sides)} entries for {n} faces")
    needed = sorted({a for e in names for a in emotion_aus(e, alternatives)})
    both = au_masks(arr, hw, needed, margin)
    per_side: dict[str | None, dict[int, torch.Tensor]] = {}
    if any(e in UNILATERAL for e in names):
        for s in {x for x in sides if x is not None}:
            per_side[s] = au_masks(arr, hw, [a for a in needed if AREAS[AU_AREA[a]].sided], margin, side=s)
    out: dict[str, Any] = {}
    for e in names:
        m = np.zeros((n, *hw), dtype=bool)
        for a in emotion_aus(e, alternatives):
            if e in UNILATERAL and AREAS[AU_AREA[a]].sided:
                for i, s in enumerate(sides):
                    m[i] |= (both[a] if s is None else per_side[s][a])[i]
            else:
                m |= both[a]
        out[e] = torch.from_numpy(m).to(device) if is_tensor else m
    return out


def label_masks(landmarks: Any, size: int | Sequence[int], labels: Sequence[Any], classes: Sequence[str] | None = None,
                alternatives: bool = True, margin: float = DEFAULT_MARGIN,
                side: str | Sequence[str | None] | None = None) -> Any:
    """Each face's codebook mask for its own emotion, ``(N, H, W)`` bool (empty for neutral).

    ``labels`` are emotion names, or indices into ``classes``. Output type as in :func:`au_masks`.
    """
    arr, device, is_tensor = _prepare(landmarks)
    hw = _size_hw(size)
    lab = labels.detach().cpu().tolist() if isinstance(labels, torch.Tensor) else list(np.asarray(labels).tolist())
    if len(lab) != arr.shape[0]:
        raise ValueError(f"{len(lab)} labels for {arr.shape[0]} faces")
    if classes is not None:
        names = [str(classes[int(k)]) if not isinstance(k, str) else k for k in lab]
    else:
        if any(not isinstance(k, str) for k in lab):
            raise ValueError("integer labels need classes=")
        names = [str(k) for k in lab]
    masks = emotion_masks(arr, hw, sorted(set(names)), alternatives, margin, side)
    out = np.zeros((arr.shape[0], *hw), dtype=bool)
    for i, e in enumerate(names):
        out[i] = masks[e][i]
    return torch.from_numpy(out).to(device) if is_tensor else out
