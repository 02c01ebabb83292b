"""Rendering a batch of faces: the drawing order, the base and expression passes, the evidence twins.

:func:`render_batch` is the one entry point: it turns :class:`~..params.FaceParams` into pixels,
landmarks and evidence masks by calling the feature modules in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from fer_explain.data.synthetic.aus import CH
from fer_explain.data.synthetic.params import POSE, FaceParams
from fer_explain.data.synthetic.render.accessories import draw_glasses, draw_occluders
from fer_explain.data.synthetic.render.background import draw_background
from fer_explain.data.synthetic.render.brows import draw_brows
from fer_explain.data.synthetic.render.canvas import Canvas
from fer_explain.data.synthetic.render.cheeks import draw_blush_and_age_lines, draw_cheeks
from fer_explain.data.synthetic.render.eyes import draw_eye
from fer_explain.data.synthetic.render.geometry import FaceGeometry, face_geometry
from fer_explain.data.synthetic.render.head import draw_head
from fer_explain.data.synthetic.render.identity import FaceIdentity, face_identity
from fer_explain.data.synthetic.render.landmarks import canonical_landmarks
from fer_explain.data.synthetic.render.lighting import add_noise_and_quantise, light_and_blur
from fer_explain.data.synthetic.render.mouth import draw_mouth
from fer_explain.data.synthetic.render.nose import draw_nose_base, draw_nose_bridge
from fer_explain.data.synthetic.render.primitives import F32

Layer = Callable[[Canvas, FaceGeometry, np.ndarray], None]
"""A drawing function: draws into the canvas rows ``rows`` with the geometry of those rows."""


@dataclass(frozen=True)
class AuLayer:
    """A layer that action units change: its name, the AU channels it depends on, its drawing function."""

    name: str
    channels: tuple[str, ...]
    draw: Layer

    @property
    def channel_index(self) -> np.ndarray:
        return np.array([CH[c] for c in self.channels])


BASE_LAYERS: tuple[Layer, ...] = (draw_background, draw_head, draw_blush_and_age_lines, draw_nose_bridge)
"""The layers no action unit changes, in drawing order (drawn once per face, before any AU layer)."""

AU_LAYERS: tuple[AuLayer, ...] = (
    AuLayer("cheeks", ("au_6", "au_9"), draw_cheeks),
    AuLayer("nose_base", ("au_9",), draw_nose_base),
    AuLayer("mouth",
            ("au_12_r", "au_12_l", "au_14_r", "au_14_l", "au_15", "au_16", "au_20", "au_23", "au_26"),
            draw_mouth),
    AuLayer("eye_r", ("au_4", "au_5", "au_6", "au_7"), partial(draw_eye, side="r")),
    AuLayer("eye_l", ("au_4", "au_5", "au_6", "au_7"), partial(draw_eye, side="l")),
    AuLayer("brows", ("au_1", "au_2", "au_4"), draw_brows),
)
"""The layers action units change, in drawing order, with the AU channels each depends on."""


@dataclass
class RenderOutput:
    """Arrays for a list of faces (N faces)."""

    images: np.ndarray
    """(N, H, W) or (N, H, W, 3) uint8."""
    landmarks: np.ndarray
    """(N, 68, 2) float32, pixel coordinates (pixel centres at integers)."""
    evidence: np.ndarray
    """(N, H, W) bool."""
    identity: FaceIdentity
    """Per-face identity traits."""
    features: dict[str, np.ndarray] | None
    """Debug: feature name -> (N, H, W) float32 coverage (see :data:`~.landmarks.FEATURES`)."""


def _check(params: Sequence[FaceParams]) -> tuple[int, int]:
    if not params:
        raise ValueError("render_batch needs at least one FaceParams")
    size, channels = params[0].size, params[0].channels
    for p in params:
        if p.size != size or p.channels != channels:
            raise ValueError(f"face {p.index}: size/channels {p.size}/{p.channels} differ from the batch's "
                             f"{size}/{channels}; render faces of one size together")
        if p.noise.shape != (size * size,):
            raise ValueError(f"face {p.index}: noise field has {p.noise.shape[0]} values, "
                             f"expected {size * size}")
    return size, channels


def render_batch(params: Sequence[FaceParams], debug: bool = False) -> RenderOutput:
    """Render faces (all of one size and channel count), their landmarks and evidence masks.

    Drawing happens in two passes. The *base* pass draws, once per face, everything its label does
    not change: background, hair, head, and every AU layer whose AUs the label leaves untouched. The
    base is copied to the face's twin, and the *expression* pass draws the remaining AU layers on
    face and twin (each with its own AUs), then glasses, occluders, lighting and blur on both. Face
    and twin therefore go through the same layers in the same order.

    With ``debug`` the output also holds every feature's own drawn coverage (see :data:`FEATURES`),
    used to check that each landmark lies on the feature it names.
    """
    size, channels = _check(params)
    n = len(params)
    au_label = np.stack([p.au_label for p in params])
    au_other = np.stack([p.au_other for p in params])
    # rows n.. of the expression pass are the twins (label-carrying AUs off) of the faces twin_of
    twin_of = np.flatnonzero(au_label.max(axis=1) > 0)
    twin_row = np.full(n, -1, dtype=np.int64)
    twin_row[twin_of] = n + np.arange(twin_of.size)
    rows_all = np.concatenate([np.arange(n), twin_of])
    au = np.concatenate([np.maximum(au_label, au_other), au_other[twin_of]])
    pose_n = np.stack([p.pose for p in params])
    idn = face_identity(np.stack([p.identity_u for p in params]))
    # base pass: one row per face
    g_n = face_geometry(idn, au[:n])
    base = Canvas(n, size, channels, pose_n, debug)
    faces = np.arange(n)
    for draw in BASE_LAYERS:
        draw(base, g_n, faces)
    changing: dict[str, np.ndarray] = {}
    for layer in AU_LAYERS:
        moved = au_label[:, layer.channel_index].max(axis=1) > 0
        stable = np.flatnonzero(~moved)
        if stable.size:
            layer.draw(base, g_n.take(stable), stable)
        changing[layer.name] = np.flatnonzero(moved)
    # expression pass: faces and twins
    img = base.img if not twin_of.size else np.concatenate([base.img, base.img[:, twin_of]], axis=1)
    pose = pose_n[rows_all]
    g = face_geometry(idn.take(rows_all), au) if twin_of.size else g_n
    cv = Canvas(len(rows_all), size, channels, pose, debug, img=img)
    if cv.debug is not None and base.debug is not None:
        cv.debug.update({k: np.concatenate([v, v[twin_of]]) for k, v in base.debug.items()})
    for layer in AU_LAYERS:
        f = changing[layer.name]
        if f.size:
            rows = np.concatenate([f, twin_row[f]])
            layer.draw(cv, g.take(rows), rows)
    glasses = np.flatnonzero(g.identity.glasses > 0)
    if glasses.size:
        draw_glasses(cv, g.take(glasses), glasses)
    occluded = np.flatnonzero(pose[:, POSE["occ_kind"]] > 0)
    if occluded.size:
        draw_occluders(cv, pose, occluded)
    light_and_blur(cv, pose)
    img = cv.img
    # evidence: face vs twin before noise (identical noise would cancel)
    evidence = np.zeros((n, size, size), dtype=bool)
    if twin_of.size:
        diff = np.abs(img[:, twin_of] - img[:, n:]).max(axis=0)
        thr = np.array([params[i].evidence_threshold for i in twin_of], dtype=F32).reshape(-1, 1, 1)
        thr /= F32(255.0)
        evidence[twin_of] = diff > thr
    out = add_noise_and_quantise(img[:, :n], pose_n[:, POSE["noise_sigma"]], [p.noise for p in params])
    images = out[0] if channels == 1 else np.ascontiguousarray(out.transpose(1, 2, 3, 0))
    L = canonical_landmarks(g_n)
    x, y = cv.to_pixels(L[..., 0], L[..., 1])  # faces are the first n rows
    lm = np.stack([x, y], axis=-1).astype(np.float32)
    features = None
    if cv.debug is not None:
        features = {k: v[:n] for k, v in cv.debug.items()}
    return RenderOutput(images=images, landmarks=lm, evidence=evidence, identity=idn, features=features)
