"""Tests of fer_explain.analysis.population: alignment, population maps, the grid figure, sparsity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_explain.analysis.population import (
    align_maps,
    plot_population_grid,
    population_maps,
    reference_landmarks,
    similarity_transform,
    sparsity_by_emotion,
)

torch.set_num_threads(1)

SIZE = 48


def _blob(centre: np.ndarray, sigma: float, size: int = SIZE) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def _similarity(angle_deg: float, scale: float, shift: tuple[float, float], about: np.ndarray) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([r, (about + np.asarray(shift) - r @ about)[:, None]])


def _apply(t: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ t[:, :2].T + t[:, 2]


def test_similarity_transform_recovers_a_known_transform() -> None:
    ref = reference_landmarks(SIZE)
    t = _similarity(17.0, 0.85, (3.0, -2.0), ref.mean(0))
    est = similarity_transform(ref, _apply(t, ref))
    np.testing.assert_allclose(est, t, atol=1e-6)


def test_align_maps_brings_a_mouth_blob_to_the_mean_mouth() -> None:
    ref = reference_landmarks(SIZE)
    mouth = ref[48:68].mean(0)
    base = _blob(mouth, 2.0)
    rng = np.random.default_rng(0)
    maps, lms = [], []
    for _ in range(12):
        t = _similarity(rng.uniform(-20, 20), rng.uniform(0.8, 1.1), tuple(rng.uniform(-4, 4, 2)), ref.mean(0))
        lms.append(_apply(t, ref))
        maps.append(_blob(_apply(t, mouth[None])[0], 2.0 * np.sqrt(abs(np.linalg.det(t[:, :2])))))
    maps_a, lms_a = np.stack(maps), np.stack(lms)
    # the unaligned maps peak all over the place
    peaks_before = np.array([np.unravel_index(m.argmax(), m.shape)[::-1] for m in maps_a])
    assert np.abs(peaks_before - mouth).max() > 3
    aligned = align_maps(maps_a, lms_a)
    assert aligned.shape == maps_a.shape and aligned.dtype == np.float32
    for m in aligned:
        peak = np.array(np.unravel_index(m.argmax(), m.shape)[::-1])
        assert np.abs(peak - mouth).max() <= 1.0
        assert np.corrcoef(m.ravel(), base.ravel())[0, 1] > 0.97
    # a tensor input and an identity face give the map back
    same = align_maps(torch.from_numpy(base[None]), ref[None])
    np.testing.assert_allclose(same[0], base, atol=1e-4)
    with pytest.raises(ValueError, match="landmarks must be"):
        align_maps(maps_a, lms_a[:3])


def test_population_maps_and_grid() -> None:
    ref = reference_landmarks(SIZE)
    mouth, eye = ref[48:68].mean(0), ref[36:42].mean(0)
    maps = np.stack([_blob(mouth, 2.0)] * 3 + [_blob(eye, 2.0)] * 2)
    lms = np.stack([ref] * 5)
    labels = np.array([3, 3, 3, 1, 1])
    classes = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    pop = population_maps(maps, lms, labels, classes)
    assert list(pop) == ["disgust", "happiness"]
    assert pop["happiness"].shape == (SIZE, SIZE)
    assert pop["happiness"].sum() == pytest.approx(1.0, rel=1e-4)  # "sum" normalisation
    hy, hx = np.unravel_index(pop["happiness"].argmax(), (SIZE, SIZE))
    assert abs(hx - mouth[0]) <= 1 and abs(hy - mouth[1]) <= 1
    dy, dx = np.unravel_index(pop["disgust"].argmax(), (SIZE, SIZE))
    assert abs(dx - eye[0]) <= 1 and abs(dy - eye[1]) <= 1
    fig = plot_population_grid({"synthetic": pop, "other": {"happiness": pop["happiness"]}})
    axes = np.array(fig.axes).reshape(2, 2)
    assert [a.get_title() for a in axes[0]] == ["synthetic", "other"]
    assert [a.get_ylabel() for a in axes[:, 0]] == ["happiness", "disgust"]  # seed 002 order
    assert [t.get_text() for t in axes[1, 1].texts] == ["n/a"]
    assert fig._suptitle is not None and fig._suptitle.get_text() == "population maps"


def test_sparsity_by_emotion() -> None:
    flat = np.ones((2, 8, 8), np.float32)
    spike = np.zeros((3, 8, 8), np.float32)
    spike[:, 2, 3] = 1.0
    table = sparsity_by_emotion(np.concatenate([flat, spike]), np.array([0, 0, 1, 1, 1]), ["neutral", "happiness"])
    assert list(table.index) == ["neutral", "happiness", "all"]
    assert table.loc["neutral", "mean"] == pytest.approx(0.0, abs=1e-6)
    assert table.loc["happiness", "mean"] == pytest.approx(63 / 64, abs=1e-5)
    assert table.loc["all", "count"] == 5
