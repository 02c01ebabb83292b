"""The papers' dataset splits as named presets: seed 004's (Minaee et al., "Deep-Emotion", Sensors
21:3046, 2021, Sec. 4) for JAFFE, CK+, FERG and FER2013, and the project's own FER2013 protocol.

Each preset is a function ``Manifest -> Manifest`` that takes a manifest as its adapter builds it
(:func:`fer_explain.data.sources.build_manifest`) and returns a copy whose ``split`` column holds
``train`` / ``val`` / ``test`` (rows the protocol does not use: ``unused``; CK+ frames other than a
sequence's last: dropped), with the adapter's split kept in ``original_split``. Each is deterministic
for a given ``seed``. Every value a preset uses is in its table (:data:`SEED004_JAFFE`...), with
where it comes from: ``paper`` (and the quote) or ``assumed`` (and why); :func:`protocol_table`
shows one. The keyword arguments of a preset override its table's values (tiny fixtures, other
seeds).

The paper's numbers and what is assumed:

* **JAFFE** -- 120 training, 23 validation and 70 test images, 10 per emotion in the test set (the
  213 images). The test set is exactly 10 faces of each emotion; the 23 validation faces are a
  stratified draw from the rest (assumed); neither split is subject-disjoint (the paper says nothing).
* **CK+** -- "the last frame of these sequences", 70 % / 10 % / 20 % (the paper's counts 420 / 60 /
  113 of 593 are 70.8 / 10.1 / 19.1 %). Only the 327 of CK+'s 593 sequences with an emotion label
  can be used (the adapters drop the others), so the fractions, not the counts, are applied,
  stratified by label (assumed). The last frame is the row with the highest ``frame`` per
  ``sequence`` (the official layout) or, for CK+48, the highest frame number in the file name.
* **FERG** -- "For each facial expression, we randomly select 1000 images for testing"; of "around
  34,000 images for training, 14,000 for validation", the rest is split 34 : 14 (stratified, assumed).
* **FER2013** -- "We used all 28,709 images in the training set to train the model, validated on
  3500 validation images, and reported the model accuracy on the 3589 images in the test set". The
  3,500 cannot come from the training faces (all 28,709 are trained on). The paper's dataset section
  names the three parts "the training set ... the validation and test sets include 3589 images each",
  the order of FER2013's ``Usage`` values (Training, PublicTest, PrivateTest), so this preset reads
  it as: train = all of Training, val = 3,500 of PublicTest (a stratified draw, seed 0: assumed; the
  other 89 are ``unused``), test = PrivateTest (3,589). The paper's per-class test counts (Fig. 8:
  328, 25, 99, 930, 1290, 450, 450 = 3,572) match neither PublicTest nor PrivateTest, so they do not
  settle the reading.
* **The project protocol** (:func:`project_fer2013`; not seed 004's) -- train = Training less a
  stratified 3,500-face validation carve (seed 0), test = PublicTest, scored once; PrivateTest unused.
  The shipped FER2013 checkpoints were trained with it (``fer-explain manifest fer2013 DIR
  --carve-val 3500`` builds the same split).
* **Seed 001's AffectNet** (:func:`seed001_affectnet`; Huang et al., Sci. Rep. 13:8425, 2023) -- the
  paper's seven categories (contempt dropped: the one place AffectNet's class count is decided for
  seed 001, :data:`SEED001_AFFECTNET`), train = AffectNet's training set, test = its validation set
  (the paper's "validation accuracy"; the recipe keeps the last epoch, so nothing is selected on it).

**Which protocol runs** (:func:`choose_protocol`): every protocol lists the adapter splits it needs
(:data:`REQUIRED_SPLITS`), and they are checked before anything is trained. When a manifest lacks one
and the protocol has a fallback (:data:`FALLBACKS`) the fallback runs and the returned note says so:
FER2013's image-folder layout has only ``train/`` and ``test/`` (= PublicTest), no PrivateTest, so
seed 004's test split (PrivateTest) falls back to PublicTest under the project protocol (validation
then comes from Training, never from the test faces). :func:`limit_splits` caps splits at a number
of faces (a stratified draw) for quick CPU runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from fer_explain.data.errors import ManifestError, Problem
from fer_explain.data.manifest import Manifest
from fer_explain.data.splits import carve_validation, per_class_draw, stratified_draw, stratified_split
from fer_explain.labels import BASIC7

__all__ = [
    "FALLBACKS",
    "PROJECT_FER2013",
    "PROTOCOLS",
    "REQUIRED_SPLITS",
    "SEED001_AFFECTNET",
    "SEED004_CKPLUS",
    "SEED004_FER2013",
    "SEED004_FERG",
    "SEED004_JAFFE",
    "ProtocolChoice",
    "ProtocolValue",
    "apply_protocol",
    "choose_protocol",
    "limit_splits",
    "project_fer2013",
    "protocol_table",
    "seed001_affectnet",
    "seed004_ckplus",
    "seed004_fer2013",
    "seed004_ferg",
    "seed004_jaffe",
]


@dataclass(frozen=True)
class ProtocolValue:
    """One value of a split preset and where it comes from (``"paper: ..."`` or ``"assumed: ..."``)."""

    value: Any
    source: str


_P = ProtocolValue
_SEED_ASSUMED = "assumed: the paper publishes no draw"

SEED004_JAFFE: Mapping[str, ProtocolValue] = MappingProxyType({
    "test_per_class": _P(10, 'paper, Sec. 4.2: "70 images for test (10 images per emotion in the test set)"'),
    "n_val": _P(23, 'paper, Sec. 4.2: "23 images for validation"'),
    "n_train": _P(120, 'paper, Sec. 4.2: "120 images for training" (the rest of the 213 images)'),
    "val_draw": _P("stratified", "assumed: the paper does not say how the validation images were chosen"),
    "subject_disjoint": _P(False, "assumed: the paper does not say"),
    "seed": _P(0, _SEED_ASSUMED),
})
SEED004_CKPLUS: Mapping[str, ProtocolValue] = MappingProxyType({
    "frames": _P("last", 'paper, Sec. 4.1: "the last frame of these sequences is taken"'),
    "fractions": _P((("train", 0.7), ("val", 0.1), ("test", 0.2)),
                    'paper, Sec. 4.2: "70% of the images were used as training, 10% was used for validation, '
                    'and 20% was used for testing" (its counts 420 / 60 / 113 of 593 are 70.8 / 10.1 / 19.1 %; '
                    "only the 327 labelled sequences can be used, so the fractions are applied)"),
    "draw": _P("stratified", "assumed: the paper does not say (nor whether subjects are disjoint: not here)"),
    "seed": _P(0, _SEED_ASSUMED),
})
SEED004_FERG: Mapping[str, ProtocolValue] = MappingProxyType({
    "test_per_class": _P(1000, 'paper, Sec. 4.2: "For each facial expression, we randomly select 1000 images '
                               'for testing"'),
    "val_share": _P(14000 / 48000, 'paper, Sec. 4.2: "around 34,000 images for training, 14,000 for validation" '
                                   "(the rest after the test draw, split 34 : 14)"),
    "val_draw": _P("stratified", "assumed: the paper does not say"),
    "seed": _P(0, _SEED_ASSUMED),
})
SEED004_FER2013: Mapping[str, ProtocolValue] = MappingProxyType({
    "train": _P("train", 'paper, Sec. 4.2: "We used all 28,709 images in the training set to train the model"'),
    "val_from": _P("publictest", 'assumed (the paper is ambiguous): "validated on 3500 validation images" read '
                                 'as 3,500 of PublicTest, since Sec. 4.1 calls PublicTest and PrivateTest "the '
                                 'validation and test sets" (3,589 each) and the 3,500 cannot come from the '
                                 "training images, all of which are trained on"),
    "n_val": _P(3500, 'paper, Sec. 4.2: "validated on 3500 validation images"'),
    "test": _P("privatetest", 'paper, Sec. 4.2: "the 3589 images in the test set" (which of the two 3,589-image '
                              "sets is not named; assumed PrivateTest, following Sec. 4.1's order)"),
    "val_draw": _P("stratified", "assumed: the paper does not say which 3,500 (the other 89 are unused)"),
    "seed": _P(0, _SEED_ASSUMED),
})
SEED001_AFFECTNET: Mapping[str, ProtocolValue] = MappingProxyType({
    "classes": _P(BASIC7.classes, 'paper, "Dataset": "In this study, we use seven categories, surprise, fear, disgust, '
                                  'anger, sadness, happiness and neutrality, in AffectNet" (contempt dropped)'),
    "train": _P("train", "paper: the model is trained on AffectNet (its manually annotated training set, assumed)"),
    "test": _P("val", 'paper, Tables 2-3: accuracies are "validation accuracies"; scored on AffectNet\'s validation '
                      "set (its test set is not public: assumed)"),
    "val": _P(None, "assumed: the paper selects no epoch (the seed001 recipe keeps the last one), so no faces are "
                    "held out for selection"),
})
PROJECT_FER2013: Mapping[str, ProtocolValue] = MappingProxyType({
    "n_val": _P(3500, "the project's choice (the size of seed 004's validation set), carved from Training"),
    "val_draw": _P("stratified", "the project's choice"),
    "test": _P("publictest", "the project's choice: PublicTest scored once, for the selected run only"),
    "seed": _P(0, "the project's choice"),
})


def _value(table: Mapping[str, ProtocolValue], key: str, given: Any) -> Any:
    return table[key].value if given is None else given


def _result(manifest: Manifest, split: np.ndarray, keep: np.ndarray | None = None) -> Manifest:
    df = manifest.df.copy()
    df["original_split"] = df["split"]
    df["split"] = split
    if keep is not None:
        df = df[keep]
    return manifest.replace(df)


def _require(manifest: Manifest, who: str, **columns: str) -> None:
    missing = {c: why for c, why in columns.items() if c not in manifest.df}
    if missing:
        raise ManifestError([Problem(f"{who} needs column {c!r} ({why})", column=c) for c, why in missing.items()],
                            source=f"manifest {manifest.name or '(unnamed)'}")


REQUIRED_SPLITS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "seed004_fer2013": ("train", "publictest", "privatetest"),
    "project_fer2013": ("train", "publictest"),
    "seed001_affectnet": ("train", "val"),
})
"""The adapter splits a protocol reads (protocols not listed need none: they draw their own)."""

_SPLIT_HINTS: Mapping[str, str] = MappingProxyType({
    "seed004_fer2013": "FER2013's Usage as the adapter names it",
    "project_fer2013": "FER2013's Usage as the adapter names it",
    "seed001_affectnet": "AffectNet's training.csv and validation.csv",
})


def _missing_splits(manifest: Manifest, protocol: str) -> list[str]:
    present = set(manifest.df["split"].astype(str))
    return [s for s in REQUIRED_SPLITS.get(protocol, ()) if s not in present]


def _require_splits(manifest: Manifest, protocol: str) -> None:
    missing = _missing_splits(manifest, protocol)
    if missing:
        present = sorted(set(manifest.df["split"].astype(str)))
        raise ManifestError([Problem(f"{protocol} needs split(s) {missing} ({_SPLIT_HINTS[protocol]}); "
                                     f"the manifest has {present}", column="split")],
                            source=f"manifest {manifest.name or '(unnamed)'}")


# --------------------------------------------------------------------------- seed 004
def seed004_jaffe(manifest: Manifest, seed: int | None = None, *, test_per_class: int | None = None,
                  n_val: int | None = None) -> Manifest:
    """Seed 004's JAFFE split (:data:`SEED004_JAFFE`): exactly ``test_per_class`` (10) test faces of each
    emotion, ``n_val`` (23) validation faces drawn stratified from the rest, the rest (120 of 213) train."""
    seed = _value(SEED004_JAFFE, "seed", seed)
    k = _value(SEED004_JAFFE, "test_per_class", test_per_class)
    nv = _value(SEED004_JAFFE, "n_val", n_val)
    labels = manifest.df["label"].to_numpy()
    split = np.full(len(manifest), "train", dtype=object)
    test = per_class_draw(labels, k, seed)
    split[test] = "test"
    rest = np.flatnonzero(split == "train")
    if nv > len(rest):
        raise ValueError(f"seed004_jaffe: {nv} validation faces asked for, only {len(rest)} left after the test draw")
    split[rest[stratified_draw(labels[rest], nv, seed + 1)]] = "val"
    return _result(manifest, split)


def _last_frames(manifest: Manifest) -> np.ndarray:
    """Boolean mask of each sequence's last frame (``frame`` column, else the file name's last number)."""
    df = manifest.df
    if "frame" in df:
        frame = pd.to_numeric(df["frame"], errors="coerce").to_numpy(dtype=np.float64)
    else:
        found = [re.findall(r"\d+", str(p).rsplit("/", 1)[-1]) for p in df["image"]]
        frame = np.array([float(f[-1]) if f else np.nan for f in found])
    bad = np.flatnonzero(~np.isfinite(frame))
    if len(bad):
        raise ManifestError([Problem(f"seed004_ckplus: no frame number for image {df['image'].iat[int(i)]!r}",
                                     row=int(i), column="frame") for i in bad[:5]],
                            source=f"manifest {manifest.name or '(unnamed)'}")
    seq = df["sequence"].astype(str).to_numpy()
    last = pd.Series(frame).groupby(seq).transform("max").to_numpy()
    mask = frame == last
    # a sequence whose last frame is listed twice keeps one row
    first = ~pd.Series(seq).where(mask).duplicated(keep="first").to_numpy()
    return mask & first


def seed004_ckplus(manifest: Manifest, seed: int | None = None, *,
                   fractions: Mapping[str, float] | None = None) -> Manifest:
    """Seed 004's CK+ split (:data:`SEED004_CKPLUS`): the last frame of every sequence, split 70 / 10 / 20
    (train / val / test), stratified by label; the other frames are dropped.

    Works on both CK+ layouts the adapter reads (the official sequences with a ``frame`` column, any
    ``last_k`` and ``first_as_neutral``; CK+48, frame numbers from the file names). Needs the adapter's
    ``sequence`` column.
    """
    _require(manifest, "seed004_ckplus", sequence="CK+'s sequence id, e.g. S005_001, set by the ckplus adapter")
    seed = _value(SEED004_CKPLUS, "seed", seed)
    fr = dict(fractions) if fractions is not None else dict(SEED004_CKPLUS["fractions"].value)
    keep = _last_frames(manifest)
    split = np.full(len(manifest), "dropped", dtype=object)
    split[keep] = stratified_split(manifest.df["label"].to_numpy()[keep], fr, seed=seed)
    return _result(manifest, split, keep)


def seed004_ferg(manifest: Manifest, seed: int | None = None, *, test_per_class: int | None = None,
                 val_share: float | None = None) -> Manifest:
    """Seed 004's FERG split (:data:`SEED004_FERG`): exactly ``test_per_class`` (1,000) test faces of each
    emotion; of the rest, ``val_share`` (14 / 48) validation, stratified, and the remainder train."""
    seed = _value(SEED004_FERG, "seed", seed)
    k = _value(SEED004_FERG, "test_per_class", test_per_class)
    share = float(_value(SEED004_FERG, "val_share", val_share))
    if not 0.0 <= share < 1.0:
        raise ValueError(f"seed004_ferg: val_share must lie in [0, 1), got {share}")
    labels = manifest.df["label"].to_numpy()
    split = np.full(len(manifest), "train", dtype=object)
    split[per_class_draw(labels, k, seed)] = "test"
    rest = np.flatnonzero(split == "train")
    split[rest[stratified_draw(labels[rest], round(share * len(rest)), seed + 1)]] = "val"
    return _result(manifest, split)


def seed004_fer2013(manifest: Manifest, seed: int | None = None, *, n_val: int | None = None) -> Manifest:
    """Seed 004's FER2013 split as this project reads it (:data:`SEED004_FER2013`): train = all of Training,
    val = ``n_val`` (3,500) PublicTest faces (stratified), test = PrivateTest; other PublicTest faces
    ``unused``. Needs the adapter's ``train`` / ``publictest`` / ``privatetest`` splits."""
    _require_splits(manifest, "seed004_fer2013")
    seed = _value(SEED004_FER2013, "seed", seed)
    nv = _value(SEED004_FER2013, "n_val", n_val)
    orig = manifest.df["split"].astype(str).to_numpy()
    split = np.full(len(manifest), "unused", dtype=object)
    split[orig == "train"] = "train"
    split[orig == "privatetest"] = "test"
    pub = np.flatnonzero(orig == "publictest")
    if nv > len(pub):
        raise ValueError(f"seed004_fer2013: {nv} validation faces asked for, PublicTest has {len(pub)}")
    split[pub[stratified_draw(manifest.df["label"].to_numpy()[pub], nv, seed)]] = "val"
    return _result(manifest, split)


# --------------------------------------------------------------------------- the project's own
def project_fer2013(manifest: Manifest, seed: int | None = None, *, n_val: int | None = None) -> Manifest:
    """The project protocol for FER2013 (:data:`PROJECT_FER2013`; not seed 004's): train = Training less a
    stratified ``n_val`` (3,500) validation carve, test = PublicTest, PrivateTest ``unused``.

    The carve is :func:`~fer_explain.data.splits.carve_validation`'s, so the validation faces are the
    ones ``fer-explain manifest fer2013 DIR --carve-val 3500`` (seed 0) holds out.
    """
    _require_splits(manifest, "project_fer2013")
    seed = _value(PROJECT_FER2013, "seed", seed)
    nv = _value(PROJECT_FER2013, "n_val", n_val)
    carved = carve_validation(manifest, nv, seed=seed).df["split"].astype(str).to_numpy()
    split = np.where(carved == "publictest", "test", np.where(np.isin(carved, ["train", "val"]), carved, "unused"))
    return _result(manifest, split.astype(object))


# --------------------------------------------------------------------------- seed 001
def seed001_affectnet(manifest: Manifest) -> Manifest:
    """Seed 001's AffectNet (:data:`SEED001_AFFECTNET`): its seven categories (contempt faces dropped, label
    space basic7), train = AffectNet's training set, test = its validation set, no validation split.

    Takes the adapter's manifest as built (8 classes by default, or already 7): under seed 001 AffectNet
    has 7 classes whatever the adapter was asked for, and this table is the one place that says so.
    """
    _require_splits(manifest, "seed001_affectnet")
    m = manifest.with_label_space(SEED001_AFFECTNET["classes"].value)
    orig = m.df["split"].astype(str).to_numpy()
    split = np.full(len(m), "unused", dtype=object)
    split[orig == SEED001_AFFECTNET["train"].value] = "train"
    split[orig == SEED001_AFFECTNET["test"].value] = "test"
    return _result(m, split)


PROTOCOLS: Mapping[str, tuple[Any, Mapping[str, ProtocolValue]]] = MappingProxyType({
    "seed004_jaffe": (seed004_jaffe, SEED004_JAFFE),
    "seed004_ckplus": (seed004_ckplus, SEED004_CKPLUS),
    "seed004_ferg": (seed004_ferg, SEED004_FERG),
    "seed004_fer2013": (seed004_fer2013, SEED004_FER2013),
    "project_fer2013": (project_fer2013, PROJECT_FER2013),
    "seed001_affectnet": (seed001_affectnet, SEED001_AFFECTNET),
})
"""Every preset by name: ``(function, table of values)``."""

FALLBACKS: Mapping[str, str] = MappingProxyType({"seed004_fer2013": "project_fer2013"})
"""Protocol -> the one :func:`choose_protocol` runs when a manifest lacks a split the first needs: seed 004's
FER2013 test set is PrivateTest, which FER2013's image folders do not hold; the project protocol tests on
PublicTest and carves its validation faces from Training."""


def _lookup(name: str) -> tuple[Any, Mapping[str, ProtocolValue]]:
    try:
        return PROTOCOLS[name]
    except KeyError:
        from fer_explain.data.errors import UnknownNameError

        raise UnknownNameError(f"unknown split protocol {name!r}; valid: {sorted(PROTOCOLS)}") from None


def apply_protocol(name: str, manifest: Manifest, **options: Any) -> Manifest:
    """Apply the preset ``name`` (a key of :data:`PROTOCOLS`) to ``manifest``; ``options`` override its values."""
    return _lookup(name)[0](manifest, **options)


def protocol_table(name: str) -> pd.DataFrame:
    """The preset's values and where each comes from: columns ``value`` and ``source``, indexed by ``field``."""
    table = _lookup(name)[1]
    return pd.DataFrame({"value": [repr(v.value) for v in table.values()], "source": [v.source for v in table.values()]},
                        index=pd.Index(list(table), name="field"))


@dataclass(frozen=True)
class ProtocolChoice:
    """What :func:`choose_protocol` ran: the split ``manifest`` (``train`` / ``val`` / ``test`` / ``unused``),
    the protocol ``requested`` and the one ``applied`` (they differ after a fallback), and a one-line ``note``
    naming both, why, and the split sizes. ``str()`` is the note."""

    manifest: Manifest
    requested: str
    applied: str
    note: str

    @property
    def fell_back(self) -> bool:
        """True when the requested protocol could not run on this manifest and its fallback did."""
        return self.applied != self.requested

    def __str__(self) -> str:
        return self.note


def _sizes(manifest: Manifest) -> str:
    counts = manifest.df["split"].astype(str).value_counts()
    return ", ".join(f"{s} {int(counts[s]):,}" for s in ("train", "val", "test") if s in counts)


def choose_protocol(name: str, manifest: Manifest, **options: Any) -> ProtocolChoice:
    """Run the protocol ``name`` on ``manifest``, or its fallback (:data:`FALLBACKS`) when the manifest lacks a
    split ``name`` needs (:data:`REQUIRED_SPLITS`), before any training: e.g. ``seed004_fer2013`` on FER2013's
    image folders (no PrivateTest) becomes ``project_fer2013``, whose test split is PublicTest.

    ``options`` go to the protocol that runs. Raises :class:`~fer_explain.data.errors.ManifestError` naming the
    missing splits when neither the protocol nor its fallback can run, and
    :class:`~fer_explain.data.errors.UnknownNameError` for an unknown name.
    """
    _lookup(name)
    applied = name
    missing = _missing_splits(manifest, name)
    if missing and name in FALLBACKS:
        fallback = FALLBACKS[name]
        still = _missing_splits(manifest, fallback)
        if still:
            present = sorted(set(manifest.df["split"].astype(str)))
            raise ManifestError([Problem(f"{name} needs split(s) {missing} and its fallback {fallback} needs "
                                         f"{still} ({_SPLIT_HINTS[name]}); the manifest has {present}",
                                         column="split")], source=f"manifest {manifest.name or '(unnamed)'}")
        applied = fallback
    out = apply_protocol(applied, manifest, **options)  # a protocol without fallback names its missing splits
    test_from = sorted(set(out.df.loc[out.df["split"] == "test", "original_split"].astype(str)))
    where = f" (test = {', '.join(test_from)})" if test_from else ""
    note = f"{applied}: {_sizes(out)}{where}"
    if applied != name:
        present = sorted(set(manifest.df["split"].astype(str)))
        wanted = _lookup(name)[1].get("test")
        swap = f"test split {wanted.value} -> {', '.join(test_from)}; " if wanted is not None and test_from else ""
        note = (f"{name} needs split(s) {missing}, which manifest {manifest.name or '(unnamed)'!r} lacks (it has "
                f"{present}): {swap}fell back to {note}")
    return ProtocolChoice(out, name, applied, note)


def limit_splits(manifest: Manifest, limits: Mapping[str, int | None], seed: int = 0) -> Manifest:
    """A copy of ``manifest`` in which each split named in ``limits`` keeps at most that many faces, a stratified
    draw (:func:`~fer_explain.data.splits.stratified_draw`, ``seed``); the faces left out become ``unused``.

    For quick CPU runs of a protocol (e.g. ``{"train": 4000, "val": 1000}``); ``None`` keeps a split whole, and
    a split the manifest lacks is an error naming the present ones.
    """
    df = manifest.df
    present = sorted(set(df["split"].astype(str)))
    unknown = [s for s in limits if s not in present]
    if unknown:
        raise ManifestError([Problem(f"limit_splits: split(s) {unknown} not in the manifest; it has {present}",
                                     column="split")], source=f"manifest {manifest.name or '(unnamed)'}")
    split = df["split"].to_numpy(dtype=object).copy()
    for name, n in limits.items():
        rows = np.flatnonzero(split == name)
        if n is None or int(n) >= len(rows):
            continue
        if int(n) < 1:
            raise ValueError(f"limit_splits: {name!r} must keep at least 1 face, got {n}")
        keep = rows[stratified_draw(df["label"].to_numpy()[rows], int(n), seed)]
        split[np.setdiff1d(rows, keep)] = "unused"
    out = df.copy()
    out["split"] = split
    return manifest.replace(out)
