"""What the camera does to the drawn scene: lighting (gain, gradient, colour cast), blur, noise, 8 bits.

:func:`light_and_blur` acts on the whole canvas (face and twin alike, so it is part of the evidence
comparison); :func:`add_noise_and_quantise` comes after the evidence is measured (the noise field is
identical for face and twin and would cancel).
"""

from __future__ import annotations

import math

import numpy as np

from fer_explain.data.synthetic.params import POSE
from fer_explain.data.synthetic.render.canvas import Canvas
from fer_explain.data.synthetic.render.primitives import F32, per_face

BINOMIAL_EDGE_WEIGHT = 3.0  # at the image border the 1-2-1 blur kernel folds its outer tap back: 3-1
BINOMIAL_NORM = 1 / 16  # the 3x3 binomial kernel's normalisation (1-2-1 x 1-2-1)
UNIFORM_NOISE_STD = math.sqrt(12.0)  # a uniform variable on [-0.5, 0.5] has std 1 / sqrt(12)
FULL_SCALE = 255.0  # 8-bit full scale


def light_and_blur(cv: Canvas, pose: np.ndarray) -> None:
    """Multiply by the gain and a linear brightness gradient (and per-channel colour cast for RGB), then
    mix in a 3x3 binomial blur ``blur_passes`` times, with weight ``blur``; in place."""
    n, h, w = cv.n, cv.h, cv.w
    xs = (np.arange(w, dtype=F32) - F32((w - 1) / 2)) * F32(1.0 / w)
    ys = (np.arange(h, dtype=F32) - F32((h - 1) / 2)) * F32(1.0 / h)
    gx = per_face(pose[:, POSE["grad_x"]] * pose[:, POSE["gain"]])
    gy = per_face(pose[:, POSE["grad_y"]] * pose[:, POSE["gain"]])
    f = (per_face(pose[:, POSE["gain"]]) + gx * xs.reshape(1, 1, w)) + gy * ys.reshape(1, h, 1)
    img = cv.img
    img *= f
    if cv.c == 3:
        cast = np.stack([pose[:, POSE["cast_r"]], pose[:, POSE["cast_g"]], pose[:, POSE["cast_b"]]])
        img *= (F32(1.0) + cast.astype(F32)).reshape(3, n, 1, 1)
    beta = pose[:, POSE["blur"]]
    passes = pose[:, POSE["blur_passes"]]
    edge = F32(BINOMIAL_EDGE_WEIGHT)
    for k in range(int(passes.max()) if n else 0):
        b = np.where(passes > k, beta, 0.0)
        if not np.any(b > 0):
            break
        # horizontal 1-2-1
        t = np.empty_like(img)
        np.add(img[..., :-2], img[..., 2:], out=t[..., 1:-1])
        t[..., 1:-1] += img[..., 1:-1]
        t[..., 1:-1] += img[..., 1:-1]
        t[..., 0] = img[..., 0] * edge + img[..., 1]
        t[..., -1] = img[..., -1] * edge + img[..., -2]
        # vertical 1-2-1
        t2 = np.empty_like(img)
        np.add(t[..., :-2, :], t[..., 2:, :], out=t2[..., 1:-1, :])
        t2[..., 1:-1, :] += t[..., 1:-1, :]
        t2[..., 1:-1, :] += t[..., 1:-1, :]
        t2[..., 0, :] = t[..., 0, :] * edge + t[..., 1, :]
        t2[..., -1, :] = t[..., -1, :] * edge + t[..., -2, :]
        t2 *= F32(BINOMIAL_NORM)
        # img += b * (blurred - img)
        t2 -= img
        t2 *= per_face(b)
        img += t2


def add_noise_and_quantise(face: np.ndarray, noise_sigma: np.ndarray, noise: list[np.ndarray]) -> np.ndarray:
    """Add each face's uniform noise field and quantise to uint8.

    Args:
        face: ``(C, n, H, W)`` float32 in [0, 1] (not modified).
        noise_sigma: ``(n,)`` noise standard deviation of each face (fraction of full scale).
        noise: each face's ``H * W`` uniforms in [0, 1) (float32).

    Returns:
        ``(C, n, H, W)`` uint8.
    """
    n, size = face.shape[1], face.shape[2]
    sigma = noise_sigma.astype(F32)
    if np.any(sigma > 0):
        field = np.stack(noise).reshape(n, size, size)
        field -= F32(0.5)
        field *= (sigma * F32(UNIFORM_NOISE_STD)).reshape(n, 1, 1)
        face = face + field
    else:
        face = face.copy()
    face *= F32(FULL_SCALE)
    face += F32(0.5)
    np.clip(face, 0.0, FULL_SCALE, out=face)
    return face.astype(np.uint8)
