"""Seeded, reproducible splits for datasets that ship without one (ExpW, CK+, JAFFE, FERG) and for
carving a validation set out of a training split (the project protocol holds out 3,500 FER2013
training faces). The papers' named split presets built from these live in
:mod:`fer_explain.data.protocols`.

All functions are deterministic for a given ``seed`` and input order, and return split *names*
(one per row) so the result drops straight into a manifest's ``split`` column.

* :func:`stratified_split` — every class is divided in the given fractions (largest-remainder
  rounding per class, so each class's proportions are as exact as integer counts allow).
* :func:`subject_disjoint_split` — no subject appears in two splits; subjects are assigned so the
  test part's class counts come as close as possible to ``test_size`` of each class.
* :func:`carve_validation` — moves ``n`` (or a fraction) of a manifest's ``train`` rows to ``val``.
* :func:`stratified_draw` — exactly ``n`` rows, every class keeping its share.
* :func:`per_class_draw` — exactly ``k`` rows of every class (seed 004's "10 test images per emotion").
* :func:`subsample_indices` — a seeded (optionally stratified) draw of at most ``max_samples`` rows,
  for t-SNE, reports and region training's validation set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fer_explain.data.manifest import Manifest


def _check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    if not fractions:
        raise ValueError("fractions must name at least one split, e.g. {'train': 0.8, 'test': 0.2}")
    out = {str(k): float(v) for k, v in fractions.items()}
    bad = {k: v for k, v in out.items() if not (v >= 0)}
    if bad:
        raise ValueError(f"fractions must be non-negative; got {bad}")
    total = sum(out.values())
    if not np.isclose(total, 1.0, atol=1e-6):
        raise ValueError(f"fractions must sum to 1; {out} sums to {total:.6g}")
    return out


def _resolve_fractions(fractions: Mapping[str, float] | None, test_size: float | None,
                       names: tuple[str, str]) -> dict[str, float]:
    if (fractions is None) == (test_size is None):
        raise ValueError("give exactly one of fractions={'train': .8, 'test': .2} or test_size=0.2")
    if test_size is not None:
        if not 0.0 < float(test_size) < 1.0:
            raise ValueError(f"test_size must lie strictly between 0 and 1, got {test_size}")
        return {names[0]: 1.0 - float(test_size), names[1]: float(test_size)}
    assert fractions is not None
    return _check_fractions(fractions)


def allocate(total: int, weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Split the integer ``total`` in proportion to ``weights`` (largest-remainder rounding).

    The result sums to ``total`` exactly; ties in the remainders go to the earlier weight.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        raise ValueError("weights must have a positive sum")
    exact = total * w / w.sum()
    base = np.floor(exact).astype(np.int64)
    rest = int(total - base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:rest]] += 1
    return base


def stratified_split(
    labels: Sequence[object] | np.ndarray | pd.Series,
    fractions: Mapping[str, float] | None = None,
    *,
    test_size: float | None = None,
    seed: int = 0,
    names: tuple[str, str] = ("train", "test"),
) -> np.ndarray:
    """Assign each row a split name so every class is divided in the given proportions.

    Give either ``fractions`` (``{"train": 0.8, "test": 0.2}``, any number of splits) or
    ``test_size`` (two splits called ``names``). Within each class the rows are shuffled with a
    generator seeded by ``seed`` and cut by largest-remainder rounding, so a class of 5 rows split
    4:1 gives exactly 4 and 1. Returns an object array of split names, one per row.
    """
    fr = _resolve_fractions(fractions, test_size, names)
    split_names = list(fr)
    weights = [fr[s] for s in split_names]
    lab = pd.Series(np.asarray(labels, dtype=object)).astype(str).to_numpy()
    out = np.empty(len(lab), dtype=object)
    rng = np.random.default_rng(seed)
    for cls in sorted(set(lab.tolist())):
        idx = np.flatnonzero(lab == cls)
        idx = idx[rng.permutation(len(idx))]
        counts = allocate(len(idx), weights)
        start = 0
        for name, k in zip(split_names, counts):
            out[idx[start:start + k]] = name
            start += k
    return out


def subject_disjoint_split(
    subjects: Sequence[object] | np.ndarray | pd.Series,
    labels: Sequence[object] | np.ndarray | pd.Series,
    test_size: float,
    seed: int = 0,
    *,
    names: tuple[str, str] = ("train", "test"),
    trials: int = 64,
) -> np.ndarray:
    """Split rows into two parts with no subject in both, roughly stratified by label.

    Subjects are visited in ``trials`` seeded random orders; in each order a subject joins the test
    part when that brings the test part's per-class counts closer to ``test_size`` of each class's
    total. The assignment with the smallest squared error is kept. With two or more subjects both
    parts are non-empty. Returns an object array of split names, one per row.
    """
    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size must lie strictly between 0 and 1, got {test_size}")
    subj = pd.Series(np.asarray(subjects, dtype=object)).astype(str).to_numpy()
    lab = pd.Series(np.asarray(labels, dtype=object)).astype(str).to_numpy()
    if len(subj) != len(lab):
        raise ValueError(f"subjects ({len(subj)}) and labels ({len(lab)}) differ in length")
    uniq_s, s_idx = np.unique(subj, return_inverse=True)
    uniq_l, l_idx = np.unique(lab, return_inverse=True)
    if len(uniq_s) < 2:
        raise ValueError(f"a subject-disjoint split needs at least 2 subjects; found {len(uniq_s)}")
    counts = np.zeros((len(uniq_s), len(uniq_l)), dtype=np.float64)
    np.add.at(counts, (s_idx, l_idx), 1.0)
    target = float(test_size) * counts.sum(axis=0)
    rng = np.random.default_rng(seed)
    best_err, best_mask = np.inf, None
    for _ in range(max(1, trials)):
        order = rng.permutation(len(uniq_s))
        acc = np.zeros(len(uniq_l))
        mask = np.zeros(len(uniq_s), dtype=bool)
        for s in order:
            new = acc + counts[s]
            if ((new - target) ** 2).sum() < ((acc - target) ** 2).sum():
                acc, mask[s] = new, True
        if not mask.any():  # every subject overshoots: take the smallest one
            mask[int(np.argmin(counts.sum(axis=1)))] = True
        if mask.all():
            mask[int(np.argmax(counts.sum(axis=1)))] = False
        err = float(((counts[mask].sum(axis=0) - target) ** 2).sum())
        if err < best_err:
            best_err, best_mask = err, mask
    assert best_mask is not None
    return np.where(best_mask[s_idx], names[1], names[0]).astype(object)


def stratified_draw(labels: Sequence[object] | np.ndarray | pd.Series, n: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of exactly ``n`` rows drawn so that every class keeps its share of ``n``.

    Classes are visited in sorted order; each gets ``allocate(n, class sizes)`` rows (largest-remainder
    rounding), the first of a permutation drawn from one generator seeded with ``seed``.
    """
    lab = pd.Series(np.asarray(labels, dtype=object)).astype(str).to_numpy()
    if not 0 <= int(n) <= len(lab):
        raise ValueError(f"cannot draw {n} of {len(lab)} rows")
    classes, inv = np.unique(lab, return_inverse=True)
    if len(classes) == 0:
        return np.zeros(0, dtype=np.int64)
    per_class = allocate(int(n), np.bincount(inv, minlength=len(classes)))
    rng = np.random.default_rng(seed)
    chosen = []
    for k in range(len(classes)):
        idx = np.flatnonzero(inv == k)
        chosen.append(idx[rng.permutation(len(idx))[: per_class[k]]])
    return np.sort(np.concatenate(chosen))


def per_class_draw(labels: Sequence[object] | np.ndarray | pd.Series, k: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of exactly ``k`` rows of every class (classes in sorted order, one generator
    seeded with ``seed``). A class with fewer than ``k`` rows is a ``ValueError`` naming it."""
    if int(k) < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    lab = pd.Series(np.asarray(labels, dtype=object)).astype(str).to_numpy()
    classes, counts = np.unique(lab, return_counts=True)
    short = {str(c): int(m) for c, m in zip(classes, counts) if m < k}
    if short:
        raise ValueError(f"cannot draw {k} rows of every class: {short} (rows per class) have fewer")
    rng = np.random.default_rng(seed)
    chosen = [np.flatnonzero(lab == c)[rng.permutation(int(m))[: int(k)]] for c, m in zip(classes, counts)]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def carve_validation(
    manifest: Manifest,
    n_or_fraction: float,
    seed: int = 0,
    from_split: str = "train",
    stratified: bool = True,
    to_split: str = "val",
) -> Manifest:
    """A copy of ``manifest`` with some ``from_split`` rows moved to ``to_split``.

    ``n_or_fraction`` is a row count (an int >= 1, e.g. 3500 in the project protocol) or a fraction in
    (0, 1) of the ``from_split`` rows. With ``stratified`` the held-out rows keep the class
    proportions of ``from_split`` (largest-remainder rounding, exactly ``n`` rows in all); otherwise
    they are a uniform random sample. Deterministic for a given seed.
    """
    df = manifest.df
    present = sorted(set(df["split"]))
    if from_split not in present:
        raise KeyError(f"split {from_split!r} not in manifest {manifest.name!r}; present: {present}")
    if to_split in present:
        raise ValueError(f"manifest {manifest.name!r} already has a {to_split!r} split; carve it only once "
                         f"(splits present: {present})")
    pool = np.flatnonzero((df["split"] == from_split).to_numpy())
    if isinstance(n_or_fraction, (bool, np.bool_)):
        raise TypeError("n_or_fraction must be a count or a fraction, not a bool")
    if isinstance(n_or_fraction, (int, np.integer)) or (isinstance(n_or_fraction, float) and n_or_fraction >= 1
                                                        and float(n_or_fraction).is_integer()):
        n = int(n_or_fraction)
    elif isinstance(n_or_fraction, float) and 0.0 < n_or_fraction < 1.0:
        n = round(n_or_fraction * len(pool))
    else:
        raise ValueError(f"n_or_fraction must be a count >= 1 or a fraction in (0, 1); got {n_or_fraction!r}")
    if not 0 < n < len(pool):
        raise ValueError(f"cannot move {n} of the {len(pool)} {from_split!r} rows to {to_split!r}: "
                         "need 0 < n < rows in the split")
    if stratified:  # the same draws as before stratified_draw existed: carved sets are unchanged
        picked = pool[stratified_draw(df["label"].to_numpy()[pool], n, seed)]
    else:
        picked = pool[np.random.default_rng(seed).permutation(len(pool))[:n]]
    out = df.copy()
    col = out["split"].to_numpy(dtype=object).copy()
    col[picked] = to_split
    out["split"] = col
    return manifest.replace(out)


def subsample_indices(
    n: int,
    max_samples: int,
    labels: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Sorted indices of at most ``max_samples`` of ``n`` items, drawn with ``seed``.

    With ``labels`` the draw is stratified: each class keeps its share of ``max_samples``
    (proportional allocation, rounding by largest remainder), so rare classes are not lost by
    chance. Returns ``arange(n)`` when ``n <= max_samples``.
    """
    if max_samples < 1:
        raise ValueError(f"max_samples must be at least 1, got {max_samples}")
    if n <= max_samples:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(n, size=max_samples, replace=False))
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * (max_samples / n)
    take = np.floor(quota).astype(np.int64)
    short = max_samples - int(take.sum())
    if short > 0:  # largest remainders first; ties broken by class order (deterministic)
        order = np.argsort(-(quota - take), kind="stable")
        take[order[:short]] += 1
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=int(k), replace=False)
        for c, k in zip(classes, take)
        if k > 0
    ]
    return np.sort(np.concatenate(chosen))
