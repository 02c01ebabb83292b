"""Anti-aliased coverage primitives: signed distances in canonical units -> per-pixel coverage in [0, 1].

Every drawing function works on a *pixel window* per face: arrays of shape ``(k, h, w)`` holding, for
each of ``k`` faces, the canonical coordinates ``u, v`` of its window's pixel centres, and ``s`` (shape
``(k, 1, 1)``), the face's scale in pixels per canonical unit. The functions here turn signed distances
and offsets measured in canonical units into coverage with a one-pixel anti-aliasing ramp.

Only +, -, *, /, sqrt, min/max, clip and rint are used (correctly rounded element by element), so a
face renders to the same bytes alone or inside any batch. Several functions work *in place* on their
first argument to save allocations; each says so.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32
"""The dtype of all per-pixel arithmetic."""

HALF_PIXEL = F32(0.5)
"""Half a pixel: coverage of a pixel whose centre lies exactly on an edge (in pixels)."""


def per_face(values: np.ndarray | float) -> np.ndarray:
    """Per-face values ``(k,)`` -> ``(k, 1, 1)`` float32, broadcasting over each face's pixel window."""
    return np.asarray(values, dtype=F32).reshape(-1, 1, 1)


def coverage_from_distance(dist: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Coverage of the inside of a shape from its signed distance ``dist`` (canonical units, > 0 outside).

    ``clip(0.5 - dist * scale, 0, 1)``, computed in place in ``dist`` (which is returned).
    """
    np.multiply(dist, -scale, out=dist)
    dist += HALF_PIXEL
    np.clip(dist, 0.0, 1.0, out=dist)
    return dist


def half_plane_coverage(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Coverage of the half-plane ``x > 0`` (x in canonical units): ``clip(x * scale + 0.5, 0, 1)``."""
    y = x * scale
    y += HALF_PIXEL
    np.clip(y, 0.0, 1.0, out=y)
    return y


def band_coverage(dist: np.ndarray, half_width: np.ndarray | float, scale: np.ndarray) -> np.ndarray:
    """Exact 1-D box-filter coverage of a band of ``half_width`` around ``dist == 0`` (canonical units).

    Used for thin lines (lid lines, wrinkles, seams): the overlap of the pixel ``[p - 0.5, p + 0.5]``
    with the band ``[-half_width, half_width]``, both in pixels.
    """
    p = np.abs(dist)
    p *= scale
    w = np.asarray(half_width, dtype=F32) * scale
    hi = np.minimum(p + HALF_PIXEL, w)
    p -= HALF_PIXEL
    np.maximum(p, -w, out=p)
    hi -= p
    np.clip(hi, 0.0, 1.0, out=hi)
    return hi


def ellipse_distance(
    du: np.ndarray, dv: np.ndarray, rx: np.ndarray | float, ry: np.ndarray | float
) -> np.ndarray:
    """Approximate signed distance (canonical units) to an axis-aligned ellipse with radii ``rx``, ``ry``.

    ``(sqrt((du/rx)^2 + (dv/ry)^2) - 1) * min(rx, ry)``: exact zero set, distance exact on the minor
    axis and an underestimate elsewhere (enough for a one-pixel anti-aliasing ramp).
    """
    a = du / rx
    a *= a
    b = dv / ry
    b *= b
    a += b
    np.sqrt(a, out=a)
    a -= F32(1.0)
    a *= np.minimum(rx, ry)
    return a
