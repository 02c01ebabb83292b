"""Emotion names, the canonical label order, every dataset's native codes, and label-space mapping.

Canonical order is FER2013's (the default everywhere)::

    0 anger  1 disgust  2 fear  3 happiness  4 sadness  5 surprise  6 neutral  [7 contempt]

``BASIC7`` holds the first seven, ``BASIC8`` adds contempt as class 7. A model's output index ``i``
always means ``label_space.classes[i]``.

A :class:`LabelSpace` can also describe a *partial* space, such as a dataset without "neutral".
:func:`project_probabilities` turns a model's probabilities (in the model's space) into a dataset's
space: classes the dataset lacks get probability zero (seed 001's protocol for a dataset without
"neutral"), classes the model lacks stay zero, and rows are optionally renormalised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

EMOTIONS: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "neutral",
    "contempt",
)
"""Every canonical emotion name, in canonical order."""


@dataclass(frozen=True)
class LabelSpace:
    """An ordered set of canonical emotion names; index ``i`` is class ``classes[i]``."""

    name: str
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = [c for c in self.classes if c not in EMOTIONS]
        if unknown:
            raise ValueError(f"label space {self.name!r}: unknown emotion names {unknown}; valid: {EMOTIONS}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"label space {self.name!r}: duplicate class names in {self.classes}")

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def index(self, name: str) -> int:
        """Index of an emotion name; a clear error when the space lacks it."""
        try:
            return self.classes.index(name)
        except ValueError:
            raise KeyError(f"{name!r} is not in label space {self.name!r} {self.classes}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.classes

    def without(self, *names: str, name: str | None = None) -> LabelSpace:
        """The same space less some classes (order kept), e.g. ``BASIC7.without("neutral")``."""
        for n in names:
            self.index(n)
        kept = tuple(c for c in self.classes if c not in names)
        return LabelSpace(name or f"{self.name}-no-{'-'.join(names)}", kept)


BASIC7 = LabelSpace("basic7", EMOTIONS[:7])
BASIC8 = LabelSpace("basic8", EMOTIONS)
LABEL_SPACES: dict[str, LabelSpace] = {"basic7": BASIC7, "basic8": BASIC8}


def get_label_space(name_or_classes: str | Sequence[str] | LabelSpace) -> LabelSpace:
    """Resolve ``"basic7"``/``"basic8"``, a list of class names, or a LabelSpace."""
    if isinstance(name_or_classes, LabelSpace):
        return name_or_classes
    if isinstance(name_or_classes, str):
        try:
            return LABEL_SPACES[name_or_classes]
        except KeyError:
            raise KeyError(
                f"unknown label space {name_or_classes!r}; valid: {sorted(LABEL_SPACES)} "
                "or a list of emotion names"
            ) from None
    classes = tuple(name_or_classes)
    for known in LABEL_SPACES.values():
        if known.classes == classes:
            return known
    return LabelSpace("custom", classes)


# --- native codes of each dataset -> canonical names -----------------------------------------------

DATASET_CODES: dict[str, Mapping[object, str]] = {
    # fer2013.csv / icml_face_data.csv: emotion column
    "fer2013": {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "sadness", 5: "surprise", 6: "neutral"},
    # FER2013 image-folder variant: folder names
    "fer2013_folders": {
        "angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
        "sad": "sadness", "surprise": "surprise", "neutral": "neutral",
    },
    # fer2013new.csv vote columns, in file order
    "ferplus": {
        "neutral": "neutral", "happiness": "happiness", "surprise": "surprise", "sadness": "sadness",
        "anger": "anger", "disgust": "disgust", "fear": "fear", "contempt": "contempt",
    },
    # EmoLabel/list_patition_label.txt
    "rafdb": {1: "surprise", 2: "fear", 3: "disgust", 4: "happiness", 5: "sadness", 6: "anger", 7: "neutral"},
    # training.csv / validation.csv expression column; 8 None, 9 Uncertain, 10 No-Face are not emotions
    "affectnet": {
        0: "neutral", 1: "happiness", 2: "sadness", 3: "surprise", 4: "fear", 5: "disgust", 6: "anger",
        7: "contempt",
    },
    # label/label.lst last column
    "expw": {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "sadness", 5: "surprise", 6: "neutral"},
    # Emotion/S###/###/*_emotion.txt
    "ckplus": {
        0: "neutral", 1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happiness", 6: "sadness",
        7: "surprise",
    },
    # CK+48 folder names
    "ckplus48": {
        "anger": "anger", "contempt": "contempt", "disgust": "disgust", "fear": "fear",
        "happy": "happiness", "sadness": "sadness", "surprise": "surprise",
    },
    # JAFFE file-name expression codes (KA.AN1.39.tiff)
    "jaffe": {
        "AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happiness", "NE": "neutral", "SA": "sadness",
        "SU": "surprise",
    },
    # FERG-DB folder suffixes (<character>_<expression>)
    "ferg": {
        "anger": "anger", "disgust": "disgust", "fear": "fear", "joy": "happiness", "neutral": "neutral",
        "sadness": "sadness", "surprise": "surprise",
    },
}

AFFECTNET_NON_EMOTION_CODES: dict[int, str] = {8: "none", 9: "uncertain", 10: "no-face"}


def canonical_label(dataset: str, code: object) -> str:
    """Map one native code of ``dataset`` to its canonical name; a clear error for unknown codes."""
    try:
        codes = DATASET_CODES[dataset]
    except KeyError:
        raise KeyError(f"unknown dataset code table {dataset!r}; valid: {sorted(DATASET_CODES)}") from None
    try:
        return codes[code]
    except KeyError:
        raise KeyError(f"{dataset}: unknown label code {code!r}; valid codes: {list(codes)}") from None


# --- mapping between label spaces -------------------------------------------------------------------


def label_space_matrix(source: LabelSpace, target: LabelSpace) -> np.ndarray:
    """A ``len(source) x len(target)`` 0/1 matrix sending each source class to the same-named target class.

    Source classes the target lacks map to nothing (their column sum is zero).
    """
    m = np.zeros((len(source), len(target)), dtype=np.float32)
    for i, c in enumerate(source.classes):
        if c in target:
            m[i, target.index(c)] = 1.0
    return m


def project_probabilities(
    probs: torch.Tensor | np.ndarray,
    source: LabelSpace,
    target: LabelSpace,
    renormalize: bool = True,
) -> torch.Tensor | np.ndarray:
    """Turn probabilities over ``source`` classes into probabilities over ``target`` classes.

    A class the target lacks (e.g. "neutral" for a dataset without it) has its probability set to
    zero; with ``renormalize`` the remaining probabilities are rescaled to sum to one, which leaves
    the argmax unchanged. A target class the model cannot predict gets probability zero.
    """
    if probs.shape[-1] != len(source):
        raise ValueError(
            f"probabilities have {probs.shape[-1]} columns but source label space {source.name!r} "
            f"has {len(source)} classes"
        )
    m = label_space_matrix(source, target)
    if isinstance(probs, torch.Tensor):
        out_t = probs @ torch.as_tensor(m, dtype=probs.dtype, device=probs.device)
        if renormalize:
            out_t = out_t / out_t.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        return out_t
    out = np.asarray(probs) @ m
    if renormalize:
        out = out / np.clip(out.sum(axis=-1, keepdims=True), 1e-12, None)
    return out


def remap_labels(labels: Sequence[int] | np.ndarray, source: LabelSpace, target: LabelSpace) -> np.ndarray:
    """Re-index integer labels from ``source`` order to ``target`` order (-1 where the target lacks the class)."""
    lut = np.array([target.classes.index(c) if c in target else -1 for c in source.classes], dtype=np.int64)
    return lut[np.asarray(labels, dtype=np.int64)]
