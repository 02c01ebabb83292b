"""Synthetic faces: determinism, shapes, labels, class proportions and label noise."""

from __future__ import annotations

import numpy as np
import pytest

from fer_explain.data.synthetic import SyntheticFaceConfig, generate, render_face, sample_params
from fer_explain.labels import BASIC7, BASIC8


def test_same_seed_same_bytes_and_batching_does_not_matter():
    cfg = SyntheticFaceConfig(n=40, seed=11)
    a = generate(cfg)
    b = generate(cfg, batch_size=7)
    assert np.array_equal(a.images, b.images)
    assert np.array_equal(a.evidence, b.evidence)
    assert np.array_equal(a.landmarks, b.landmarks)
    assert np.array_equal(a.labels, b.labels)
    # a face rendered alone, or as part of another range, is the same bytes
    part = generate(cfg, 13, 29)
    assert np.array_equal(part.images, a.images[13:29])
    assert np.array_equal(part.evidence, a.evidence[13:29])
    for i in (0, 17, 39):
        one = render_face(sample_params(cfg, i))
        assert np.array_equal(one.image, a.images[i])
        assert np.array_equal(one.evidence, a.evidence[i])
        assert np.array_equal(one.landmarks, a.landmarks[i])


def test_different_seeds_differ():
    a = generate(SyntheticFaceConfig(n=8, seed=1))
    b = generate(SyntheticFaceConfig(n=8, seed=2))
    assert all(not np.array_equal(x, y) for x, y in zip(a.images, b.images))


def test_face_does_not_depend_on_n_or_label_noise_draw_layout():
    a = generate(SyntheticFaceConfig(n=10, seed=3))
    b = generate(SyntheticFaceConfig(n=30, seed=3), 0, 10)
    assert np.array_equal(a.images, b.images)


@pytest.mark.parametrize(
    "size,channels,shape",
    [(48, 1, (48, 48)), (64, 1, (64, 64)), (100, 3, (100, 100, 3)), (224, 3, (224, 224, 3))],
)
def test_shapes_and_dtypes(size, channels, shape):
    n = 3 if size == 224 else 9
    b = generate(SyntheticFaceConfig(n=n, size=size, channels=channels, seed=5))
    assert b.images.shape == (n, *shape) and b.images.dtype == np.uint8
    assert b.landmarks.shape == (n, 68, 2) and b.landmarks.dtype == np.float32
    assert b.evidence.shape == (n, size, size) and b.evidence.dtype == bool
    assert b.labels.dtype == np.int64 and b.true_labels.dtype == np.int64
    assert len(b.aus) == n and "au_12" in b.aus and "au_26" in b.aus
    # faces fill the frame: landmarks inside the image, images not flat
    assert (b.landmarks >= -1).all() and (b.landmarks <= size).all()
    assert b.images.reshape(n, -1).std(axis=1).min() > 10


def test_default_is_balanced_basic7():
    b = generate(SyntheticFaceConfig(n=700, seed=0), 0, 700)
    assert b.label_space == BASIC7
    counts = np.bincount(b.labels, minlength=7)
    assert (counts == 100).all()
    assert np.array_equal(b.labels, b.true_labels)


def test_basic8_has_contempt_drawn_on_one_side():
    b = generate(SyntheticFaceConfig(n=16, classes="basic8", seed=2))
    assert b.label_space == BASIC8
    names = b.label_names()
    for i, name in enumerate(names):
        row = b.aus.iloc[i]
        if name == "contempt":
            assert row["unilateral"] in ("left", "right")
            assert (row["au_12_r"] > 0) != (row["au_12_l"] > 0)
        elif name == "happiness":
            assert row["au_12_r"] > 0 and row["au_12_l"] > 0


@pytest.mark.parametrize("preset", ["fer2013", "affectnet"])
def test_class_proportions_presets(preset):
    from fer_explain.data.synthetic.config import CLASS_PROPORTION_PRESETS

    cfg = SyntheticFaceConfig(n=2000, class_proportions=preset, seed=4)
    from fer_explain.data.synthetic.params import true_class_index

    labels = np.array([true_class_index(cfg, i) for i in range(cfg.n)])
    table = CLASS_PROPORTION_PRESETS[preset]
    want = np.array([table[c] for c in BASIC7.classes], dtype=float)
    want /= want.sum()
    got = np.bincount(labels, minlength=7) / cfg.n
    assert np.abs(got - want).max() < 0.01
    # the rendered labels follow the same rule
    b = generate(cfg, 0, 30)
    assert np.array_equal(b.true_labels, labels[:30])


def test_class_proportions_dict_and_zero_classes():
    cfg = SyntheticFaceConfig(n=300, class_proportions={"happiness": 3, "sadness": 1}, seed=1)
    from fer_explain.data.synthetic.params import true_class_index

    labels = [BASIC7.classes[true_class_index(cfg, i)] for i in range(cfg.n)]
    assert set(labels) == {"happiness", "sadness"}
    assert abs(labels.count("happiness") / cfg.n - 0.75) < 0.02
    with pytest.raises(ValueError, match="unknown emotions"):
        SyntheticFaceConfig(class_proportions={"joy": 1.0})
    with pytest.raises(KeyError, match="valid"):
        SyntheticFaceConfig(class_proportions="ferplus")


def test_label_noise_rate_and_true_label_kept():
    clean = generate(SyntheticFaceConfig(n=700, seed=9), 0, 700)
    noisy = generate(SyntheticFaceConfig(n=700, seed=9, label_noise=0.2), 0, 700)
    flipped = noisy.labels != noisy.true_labels
    assert 0.15 < flipped.mean() < 0.25
    # the faces are the same: noise only changes the observed label
    assert np.array_equal(noisy.images, clean.images)
    assert np.array_equal(noisy.true_labels, clean.labels)
    # flips go to other classes, roughly uniformly
    assert np.bincount(noisy.labels[flipped], minlength=7).min() > 5


def test_config_validation_names_the_argument():
    with pytest.raises(ValueError, match="channels"):
        SyntheticFaceConfig(channels=2)
    with pytest.raises(ValueError, match="evidence region"):
        SyntheticFaceConfig(evidence_regions=("ears",))
    with pytest.raises(KeyError, match="nuisance"):
        SyntheticFaceConfig(nuisance="extreme")
    with pytest.raises(ValueError, match="exceeds"):
        generate(SyntheticFaceConfig(n=5), 0, 6)


def test_partial_and_blend_options():
    cfg = SyntheticFaceConfig(n=140, seed=6, partial=1.0, blend=1.0)
    b = generate(cfg)
    fear = np.array(b.label_names()) == "fear"
    label_cols = [c for c in b.aus.columns if c.startswith("label_au_")]
    n_label_aus = (b.aus.loc[fear, label_cols] > 0).sum(axis=1)
    assert (n_label_aus < 7).all() and (n_label_aus >= 1).all()  # partial: a strict subset
    neutral = np.array(b.label_names()) == "neutral"
    # blended neutral faces show a second class's AUs at reduced intensity, but carry no evidence
    assert (b.aus.loc[neutral, [f"au_{a}" for a in (1, 4, 12, 26)]].to_numpy().max(axis=1) > 0).any()
    assert not b.evidence[neutral].any()
