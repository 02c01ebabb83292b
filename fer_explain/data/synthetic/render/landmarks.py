"""The 68 iBUG landmarks of a face, computed on the same curves the features are drawn from.

:func:`canonical_landmarks` gives them in canonical units; the renderer maps them to pixels with the
face's pose, so they are exact for the face as drawn. :data:`LANDMARK_FEATURE` names the drawn
feature each landmark lies on (checked against the debug feature masks, see :data:`FEATURES`).
"""

from __future__ import annotations

import math

import numpy as np

from fer_explain.data.synthetic.render.canvas import CANONICAL_CENTRE
from fer_explain.data.synthetic.render.geometry import (
    MOUTH_INNER_CORNER,
    MOUTH_LINE_T2,
    MOUTH_LINE_T4,
    FaceGeometry,
    brow_centre_y,
    head_half_width,
    lid_profile,
    mouth_profiles,
)

FEATURES: tuple[str, ...] = (
    "head", "brow_r", "brow_l", "nose", "nose_base", "eye_r", "eye_l", "lips", "mouth_inner",
)
"""Feature masks available with ``debug=True`` (each feature's own drawn coverage, before occlusion)."""

LANDMARK_FEATURE: tuple[str, ...] = (
    ("head",) * 17 + ("brow_r",) * 5 + ("brow_l",) * 5 + ("nose",) * 4 + ("nose_base",) * 5
    + ("eye_r",) * 6 + ("eye_l",) * 6 + ("lips",) * 12 + ("mouth",) * 8
)
"""The drawn feature each landmark lies on (``mouth`` = lips or mouth interior)."""

JAW_OVERSHOOT = 0.14
"""Jaw landmarks 0 and 16 lie this far (radians) above the head's horizontal axis, at the temples."""

JAW_ANGLES = [-JAW_OVERSHOOT + (math.pi + 2 * JAW_OVERSHOOT) * k / 16 for k in range(17)]
"""Angle of jaw landmark k on the head outline (k=0 subject's right temple, 8 chin, 16 left temple)."""

_JAW_COS = np.array([math.cos(p) for p in JAW_ANGLES])
_JAW_SIN = np.array([math.sin(p) for p in JAW_ANGLES])

BROW_LANDMARK_T = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
"""Brow landmarks' positions along the brow (0 outer end .. 1 inner end)."""

NOSE_BASE_LANDMARK_X = (-1.0, -0.5, 0.0, 0.5, 1.0)
"""Nose base landmarks 31-35 across the nose base, as fractions of its half-width."""

EYE_LANDMARK_Q = np.array([-1.0, -1 / 3, 1 / 3, 1.0, 1 / 3, -1 / 3])
"""Eye landmarks along the eye (q: -1 image-left corner .. 1 image-right corner): corner, upper,
upper, corner, lower, lower."""

_EYE_UPPER = np.array([0, 1, 1, 0, 0, 0], dtype=bool)
_EYE_LOWER = np.array([0, 0, 0, 0, 1, 1], dtype=bool)

# lip landmark positions along the mouth (t in [-1, 1], subject's right = negative)
OUTER_UPPER_LIP_T = np.array([-1.0, -0.62, -0.27, 0.0, 0.27, 0.62, 1.0])  # landmarks 48..54
OUTER_LOWER_LIP_T = np.array([0.62, 0.29, 0.0, -0.29, -0.62])  # landmarks 55..59
INNER_UPPER_LIP_T = np.array([-0.42, 0.0, 0.42])  # landmarks 61..63
INNER_LOWER_LIP_T = np.array([0.42, 0.0, -0.42])  # landmarks 65..67 (60 and 64: the inner corners)


def canonical_landmarks(g: FaceGeometry) -> np.ndarray:
    """The 68 iBUG landmarks (N, 68, 2) in canonical units, on the curves the renderer draws."""
    idn = g.identity
    mid = CANONICAL_CENTRE
    n = idn.head_half_width.shape[0]
    L = np.zeros((n, 68, 2))
    # jaw 0-16 on the head contour
    vn = np.broadcast_to(_JAW_SIN[None], (n, 17))
    a = head_half_width(idn.head_half_width[:, None], idn.jaw_taper[:, None], vn)
    L[:, 0:17, 0] = mid - a * _JAW_COS[None]
    L[:, 0:17, 1] = idn.head_centre_y[:, None] + g.head_half_height[:, None] * vn
    # brows 17-21 (right: outer -> inner), 22-26 (left: inner -> outer)
    t5 = BROW_LANDMARK_T
    by = brow_centre_y(g, np.broadcast_to(t5[None], (n, 5)))
    xo, xi = mid - idn.brow_outer_x, mid - g.brow_inner_x
    L[:, 17:22, 0] = xo[:, None] + t5[None] * (xi - xo)[:, None]
    L[:, 17:22, 1] = by
    xo, xi = mid + idn.brow_outer_x, mid + g.brow_inner_x
    L[:, 22:27, 0] = (xo[:, None] + t5[None] * (xi - xo)[:, None])[:, ::-1]
    L[:, 22:27, 1] = by[:, ::-1]
    # nose bridge 27-30, base 31-35
    for k in range(4):
        L[:, 27 + k, 0] = mid
        L[:, 27 + k, 1] = g.bridge_top_y + (g.nose_tip_y - g.bridge_top_y) * (k / 3.0)
    for k, xn in enumerate(NOSE_BASE_LANDMARK_X):
        L[:, 31 + k, 0] = mid + g.nose_half_width * xn
        L[:, 31 + k, 1] = g.nose_base_y - g.nose_base_curve * xn * xn
    # eyes 36-41 (right), 42-47 (left): corner, upper, upper, corner, lower, lower
    qs = EYE_LANDMARK_Q
    gq = lid_profile(qs)
    for base, ex, sgn in ((36, g.eye_centre_x_r, 1.0), (42, g.eye_centre_x_l, -1.0)):
        line = idn.eye_line_y[:, None] + sgn * idn.eye_tilt[:, None] * qs[None]
        y = (line - g.upper_lid_height[:, None] * gq[None] * _EYE_UPPER[None]
             + g.lower_lid_height[:, None] * gq[None] * _EYE_LOWER[None])
        L[:, base:base + 6, 0] = ex[:, None] + idn.eye_half_width[:, None] * qs[None]
        L[:, base:base + 6, 1] = y
    # mouth 48-67

    def mouth_points(t: np.ndarray, edge: str) -> tuple[np.ndarray, np.ndarray]:
        """Points at positions t on one lip edge: outer upper/lower ("uo"/"lo"), inner ("ui"/"li")."""
        tt = np.broadcast_to(t[None], (n, t.size))
        w = np.where(tt < 0, g.mouth_half_width_r[:, None], g.mouth_half_width_l[:, None])
        c = np.where(tt < 0, g.corner_lift_r[:, None], g.corner_lift_l[:, None])
        m = g.mouth_y[:, None] - c * (MOUTH_LINE_T2 * tt * tt + MOUTH_LINE_T4 * tt ** 4)
        opening, thickness, bow = mouth_profiles(tt)
        ui = m - g.upper_opening[:, None] * opening
        li = m + g.lower_opening[:, None] * opening
        if edge == "uo":
            y = ui - g.upper_lip_thickness[:, None] * thickness * (1 - idn.cupids_bow[:, None] * bow)
        elif edge == "lo":
            y = li + g.lower_lip_thickness[:, None] * thickness
        else:
            y = ui if edge == "ui" else li
        return mid + tt * w, y

    for sl, t, edge in ((slice(48, 55), OUTER_UPPER_LIP_T, "uo"), (slice(55, 60), OUTER_LOWER_LIP_T, "lo"),
                        (slice(61, 64), INNER_UPPER_LIP_T, "ui"), (slice(65, 68), INNER_LOWER_LIP_T, "li")):
        x, y = mouth_points(t, edge)
        L[:, sl, 0], L[:, sl, 1] = x, y
    for idx, t in ((60, -MOUTH_INNER_CORNER), (64, MOUTH_INNER_CORNER)):
        x, y = mouth_points(np.array([t]), "ui")
        L[:, idx, 0], L[:, idx, 1] = x[:, 0], y[:, 0]
    return L
