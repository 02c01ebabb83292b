"""Seeded splits: stratified, subject-disjoint, and carving a validation set out of train."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_explain.data.manifest import make_manifest
from fer_explain.data.splits import (
    allocate,
    carve_validation,
    per_class_draw,
    stratified_draw,
    stratified_split,
    subject_disjoint_split,
)

CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]


def _labels(n: int = 2000, seed: int = 0) -> np.ndarray:
    p = np.array([0.14, 0.015, 0.14, 0.25, 0.17, 0.11, 0.175])
    return np.random.default_rng(seed).choice(CLASSES, size=n, p=p / p.sum())


def test_allocate_is_exact() -> None:
    assert allocate(5, [0.8, 0.2]).tolist() == [4, 1]
    assert allocate(6, [0.8, 0.2]).tolist() == [5, 1]
    assert allocate(10, [1, 1, 1]).sum() == 10
    with pytest.raises(ValueError):
        allocate(3, [0, 0])


def test_stratified_split_proportions_and_determinism() -> None:
    labels = _labels()
    split = stratified_split(labels, test_size=0.2, seed=7)
    assert set(split) == {"train", "test"}
    for c in CLASSES:
        in_class = labels == c
        frac = (split[in_class] == "test").mean()
        assert abs(frac - 0.2) <= 1.0 / in_class.sum() + 1e-9, c
    assert (split == stratified_split(labels, test_size=0.2, seed=7)).all()
    assert (split != stratified_split(labels, test_size=0.2, seed=8)).any()


def test_stratified_split_three_ways() -> None:
    labels = _labels(700)
    split = stratified_split(labels, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=0)
    counts = pd.Series(split).value_counts()
    assert abs(counts["val"] - 70) <= 7 and abs(counts["test"] - 140) <= 7
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(labels, {"train": 0.7, "test": 0.2})
    with pytest.raises(ValueError, match="exactly one"):
        stratified_split(labels, {"train": 0.8, "test": 0.2}, test_size=0.2)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        stratified_split(labels, test_size=1.5)


def _subjects(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    subjects, labels = [], []
    for s in range(40):
        n = int(rng.integers(5, 30))
        subjects += [f"S{s:03d}"] * n
        labels += list(rng.choice(CLASSES, size=n))
    return np.array(subjects), np.array(labels)


def test_subject_disjoint_split() -> None:
    subjects, labels = _subjects()
    split = subject_disjoint_split(subjects, labels, test_size=0.25, seed=3)
    df = pd.DataFrame({"s": subjects, "l": labels, "split": split})
    assert (df.groupby("s")["split"].nunique() == 1).all()
    test_frac = (split == "test").mean()
    assert abs(test_frac - 0.25) < 0.05
    for c in CLASSES:
        frac = (df.loc[df["l"] == c, "split"] == "test").mean()
        assert abs(frac - 0.25) < 0.1, c
    assert (split == subject_disjoint_split(subjects, labels, test_size=0.25, seed=3)).all()
    assert (split != subject_disjoint_split(subjects, labels, test_size=0.25, seed=4)).any()


def test_subject_disjoint_edge_cases() -> None:
    split = subject_disjoint_split(["A"] * 3 + ["B"], ["anger"] * 4, test_size=0.9)
    assert set(split) == {"train", "test"}
    with pytest.raises(ValueError, match="at least 2 subjects"):
        subject_disjoint_split(["A", "A"], ["anger", "fear"], test_size=0.5)
    with pytest.raises(ValueError, match="differ in length"):
        subject_disjoint_split(["A", "B"], ["anger"], test_size=0.5)


def _manifest(n_train: int = 1000, n_test: int = 200):
    labels = _labels(n_train + n_test, seed=1)
    rows = pd.DataFrame({
        "dataset": "fer2013", "image": "fer2013.csv", "label": labels,
        "split": ["train"] * n_train + ["publictest"] * n_test, "pixel_row": np.arange(n_train + n_test),
    })
    return make_manifest(rows, "/tmp", "basic7", name="toy")


def test_carve_validation_count_stratified_and_seeded() -> None:
    m = _manifest()
    out = carve_validation(m, 100, seed=4)
    assert out.df["split"].value_counts().to_dict() == {"train": 900, "publictest": 200, "val": 100}
    assert (out.df.loc[m.df["split"] == "publictest", "split"] == "publictest").all()
    train = m.df[m.df["split"] == "train"]
    val = out.df[out.df["split"] == "val"]
    for c in CLASSES:
        expected = 100 * (train["label"] == c).mean()
        assert abs((val["label"] == c).sum() - expected) <= 1.0, c
    assert (out.df["split"] == carve_validation(m, 100, seed=4).df["split"]).all()
    assert (out.df["split"] != carve_validation(m, 100, seed=5).df["split"]).any()
    assert (m.df["split"] != "val").all()  # the input is untouched


def test_carve_validation_fraction_and_errors() -> None:
    m = _manifest()
    out = carve_validation(m, 0.1, seed=0, stratified=False)
    assert (out.df["split"] == "val").sum() == 100
    with pytest.raises(ValueError, match="already has a 'val' split"):
        carve_validation(out, 10)
    with pytest.raises(KeyError, match="present"):
        carve_validation(m, 10, from_split="training")
    with pytest.raises(ValueError, match="cannot move 1000"):
        carve_validation(m, 1000)
    with pytest.raises(ValueError, match="count >= 1 or a fraction"):
        carve_validation(m, -0.5)


def test_stratified_draw_exact_and_shared_with_carve_validation() -> None:
    labels = _labels(700, seed=3)
    idx = stratified_draw(labels, 70, seed=2)
    assert len(idx) == 70 and (np.diff(idx) > 0).all()
    counts = np.unique(labels, return_counts=True)[1]
    np.testing.assert_array_equal(np.unique(labels[idx], return_counts=True)[1], allocate(70, counts))
    np.testing.assert_array_equal(idx, stratified_draw(list(labels), 70, seed=2))
    assert not np.array_equal(idx, stratified_draw(labels, 70, seed=3))
    assert len(stratified_draw(labels, 0)) == 0 and len(stratified_draw(labels, 700)) == 700
    with pytest.raises(ValueError, match="cannot draw 701"):
        stratified_draw(labels, 701)
    # carve_validation draws its validation rows with it: the same rows as the loop it replaced
    m = _manifest()
    pool = np.flatnonzero(m.df["split"] == "train")
    lab = m.df["label"].to_numpy()[pool].astype(str)
    rng = np.random.default_rng(4)
    cls, inv = np.unique(lab, return_inverse=True)
    per_class = allocate(100, np.bincount(inv, minlength=len(cls)))
    before = np.sort(np.concatenate([pool[inv == k][rng.permutation((inv == k).sum())[: per_class[k]]]
                                     for k in range(len(cls))]))
    carved = np.flatnonzero(carve_validation(m, 100, seed=4).df["split"] == "val")
    np.testing.assert_array_equal(carved, before)
    np.testing.assert_array_equal(carved, pool[stratified_draw(lab, 100, seed=4)])


def test_per_class_draw() -> None:
    labels = _labels(700, seed=1)
    idx = per_class_draw(labels, 5, seed=0)
    assert len(idx) == 5 * len(set(labels)) and (np.diff(idx) > 0).all()
    assert set(pd.Series(labels[idx]).value_counts()) == {5}
    np.testing.assert_array_equal(idx, per_class_draw(labels, 5, seed=0))
    assert len(per_class_draw(labels, 0)) == 0
    rare = pd.Series(labels).value_counts().idxmin()
    with pytest.raises(ValueError, match=rf"cannot draw 500 rows of every class: .*'{rare}'"):
        per_class_draw(labels, 500)
