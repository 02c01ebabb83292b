"""Synthetic faces: exact landmarks on the drawn features, evidence masks, known-answer regions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fer_explain.data.synthetic import (
    LANDMARK_FEATURE,
    SyntheticFaceConfig,
    colliding_classes,
    generate,
    prototype_vector,
    render_faces,
    sample_params,
)
from fer_explain.data.synthetic.params import POSE
from fer_explain.labels import BASIC8


def _posed(cfg: SyntheticFaceConfig, i: int, rotation: float, scale: float, tx: float = 0.0):
    p = sample_params(cfg, i)
    pose = p.pose.copy()
    pose[POSE["rotation_deg"]] = rotation
    pose[POSE["rot_cos"]] = math.cos(math.radians(rotation))
    pose[POSE["rot_sin"]] = math.sin(math.radians(rotation))
    pose[POSE["scale"]] = scale
    pose[POSE["tx"]] = tx
    return p.replace(pose=pose)


def test_landmarks_lie_on_the_features_they_name_under_rotation_and_scale():
    cfg = SyntheticFaceConfig(n=16, size=100, channels=3, nuisance="none", seed=7, classes="basic8")
    params = [_posed(cfg, i, rotation=(13.0 if i % 2 else -10.0), scale=(0.88 if i % 3 else 1.12),
                     tx=0.03 * (-1) ** i) for i in range(16)]
    samples = render_faces(params, debug=True)
    worst = 0.0
    for s in samples:
        assert s.features is not None
        for k in range(68):
            name = LANDMARK_FEATURE[k]
            mask = s.features["lips"] | s.features["mouth_inner"] if name == "mouth" else s.features[name]
            ys, xs = np.nonzero(mask)
            assert len(xs), f"feature {name} not drawn"
            x, y = s.landmarks[k]
            d = float(np.sqrt((xs - x) ** 2 + (ys - y) ** 2).min())
            worst = max(worst, d)
            assert d <= 1.0, f"face {s.params.index} ({s.label}) landmark {k} ({name}) is {d:.2f} px off"
    # and the landmarks moved with the pose (not the identity frame)
    a, b = samples[0].landmarks, samples[1].landmarks
    assert np.abs(a - b).max() > 3
    assert worst > 0.2  # the check measures something


def test_landmarks_follow_the_similarity_transform_exactly():
    cfg = SyntheticFaceConfig(n=2, size=100, nuisance="none", seed=1)
    base = render_faces([_posed(cfg, 0, 0.0, 1.0)])[0].landmarks.astype(np.float64)
    rot = render_faces([_posed(cfg, 0, 20.0, 0.8)])[0].landmarks.astype(np.float64)
    c = (100 - 1) / 2.0
    th = math.radians(20.0)
    R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    want = (base - c) @ R.T * 0.8 + c
    assert np.abs(want - rot).max() < 1e-3


def test_landmark_order_is_ibug():
    b = generate(SyntheticFaceConfig(n=7, size=100, nuisance="none", seed=2))
    L = b.landmarks
    assert (L[:, 8, 1] > L[:, 57, 1]).all()  # chin below the lower lip
    assert (L[:, 36, 0] < L[:, 39, 0]).all() and (L[:, 39, 0] < L[:, 42, 0]).all()  # right eye on image left
    assert (L[:, 48, 0] < L[:, 54, 0]).all() and (L[:, 17, 0] < L[:, 26, 0]).all()
    assert (L[:, 27, 1] < L[:, 30, 1]).all() and (L[:, 30, 1] < L[:, 33, 1] + 1).all()
    assert (L[:, 19, 1] < L[:, 37, 1]).all()  # brows above eyes


def test_evidence_empty_for_neutral_and_present_otherwise():
    for classes in ("basic7", "basic8"):
        cfg = SyntheticFaceConfig(n=48, seed=3, classes=classes)
        b = generate(cfg)
        for i, name in enumerate(b.label_names()):
            if name == "neutral":
                assert not b.evidence[i].any()
            else:
                assert b.evidence[i].sum() >= 5, f"{name} face {i} has almost no evidence"


def test_evidence_is_where_the_face_differs_from_its_twin():
    cfg = SyntheticFaceConfig(n=7, size=64, seed=8, nuisance="none")
    p = sample_params(cfg, 3)  # happiness
    assert p.true_label == "happiness"
    twin = p.replace(au_label=np.zeros_like(p.au_label))
    a, t = render_faces([p, twin])
    diff = np.abs(a.image.astype(int) - t.image.astype(int))
    assert not t.evidence.any()
    assert a.evidence.any()
    # everything the mask marks differs visibly; nothing far from it differs
    assert diff[a.evidence].min() >= 1
    from fer_explain.data.synthetic import dilate_mask

    assert diff[~dilate_mask(a.evidence, 1)].max() <= cfg.evidence_threshold + 1


def _dist_to_hull(pts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Distance of points q (k, 2) to the convex hull of pts (0 inside)."""
    from scipy.spatial import ConvexHull

    hp = pts[ConvexHull(pts).vertices]  # counter-clockwise
    a, e = hp, np.roll(hp, -1, axis=0) - hp
    ap = q[:, None, :] - a[None]
    t = np.clip((ap * e[None]).sum(-1) / (e * e).sum(-1)[None], 0.0, 1.0)
    d = np.sqrt(((ap - t[..., None] * e[None]) ** 2).sum(-1)).min(axis=1)
    inside = (e[None, :, 0] * ap[..., 1] - e[None, :, 1] * ap[..., 0] >= 0).all(axis=1)
    return np.where(inside, 0.0, d)


@pytest.mark.parametrize("size", [48, 100])
def test_mouth_only_evidence_lies_in_the_mouth_region(size):
    cfg = SyntheticFaceConfig(n=140, size=size, channels=1 if size == 48 else 3, seed=5,
                              evidence_regions=("mouth",))
    b = generate(cfg)
    tol = max(3.0, 0.05 * size)  # "a few pixels": blur and the twin's wider/narrower lips
    names = b.label_names()
    for i in range(len(b)):
        ev = b.evidence[i]
        if names[i] == "neutral":
            assert not ev.any()
            continue
        assert ev.any(), f"{names[i]} face {i}: no evidence"
        ys, xs = np.nonzero(ev)
        d = _dist_to_hull(b.landmarks[i, 48:68].astype(np.float64), np.stack([xs, ys], 1).astype(np.float64))
        assert d.max() <= tol, f"{names[i]} face {i}: evidence {d.max():.1f} px from the mouth"
    # decoy AUs elsewhere: the eye-region AUs do not depend on the label
    upper = b.aus[["au_1", "au_2", "au_4", "au_5", "au_7"]].to_numpy()
    assert (upper[np.array(names) == "neutral"] > 0).any()
    assert (b.aus["label_au_4"] == 0).all()


def test_mouth_prototypes_separate_every_class():
    assert colliding_classes(BASIC8.classes, ("mouth",)) == []
    assert SyntheticFaceConfig(evidence_regions=("mouth",), classes="basic8").colliding_classes() == []
    # the eyes alone cannot tell disgust, neutral and contempt apart
    eyes = colliding_classes(BASIC8.classes, ("eyes",))
    assert any({"disgust", "neutral"} <= set(g) for g in eyes)


def test_every_prototype_changes_the_face_and_classes_look_different():
    cfg = SyntheticFaceConfig(n=1, size=64, nuisance="none", seed=4)
    p = sample_params(cfg, 0)
    faces = {}
    for name in BASIC8.classes:
        v = np.array(prototype_vector(name, 0.9), dtype=np.float32)
        faces[name] = render_faces([p.replace(au_label=v, au_other=np.zeros_like(v))])[0].image.astype(int)
    names = list(faces)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(faces[a] - faces[b]).max() > 40, f"{a} and {b} look the same"


def test_hard_nuisance_adds_occluders_and_pose():
    b = generate(SyntheticFaceConfig(n=60, nuisance="hard", seed=2))
    assert (b.identity["occluder"] > 0).mean() > 0.3
    assert b.identity["rotation_deg"].abs().max() > 10
    none = generate(SyntheticFaceConfig(n=10, nuisance="none", seed=2))
    assert (none.identity["rotation_deg"] == 0).all() and (none.identity["occluder"] == 0).all()
