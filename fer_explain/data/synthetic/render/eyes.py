"""The eyes: socket shadow, lids through landmarks 36-41 / 42-47, iris, pupil, lid lines, AU6 crow's feet.

An AU layer (AU4, AU5, AU6, AU7), drawn once per eye. Positions along an eye are ``q = du / w``
(-1 image-left corner .. 1 image-right corner, ``w`` the eye's half-width); the lids are the eye line
(tilted by the canthal tilt) plus and minus the lid openings times :func:`~.geometry.lid_profile`.
"""

from __future__ import annotations

import math

import numpy as np

from fer_explain.data.synthetic.render.canvas import Canvas
from fer_explain.data.synthetic.render.geometry import FaceGeometry, lid_profile
from fer_explain.data.synthetic.render.primitives import (
    F32,
    band_coverage,
    coverage_from_distance,
    half_plane_coverage,
    per_face,
)

EYE_BOX_SIDE = 1.0  # window slack beside the eye corners, canonical units
EYE_BOX_ABOVE = 4.6  # window slack above the upper lid (socket shadow, crease)
EYE_BOX_BELOW = 3.0  # window slack below the lower lid (lower-lid bulge)

SOCKET_WIDTH = 0.8  # the socket shadow's horizontal semi-axis is the eye half-width / this
SOCKET_ABOVE_EYE_LINE = 2.6  # the socket shadow's centre lies this far above the eye line
SOCKET_HALF_HEIGHT = 3.6
SOCKET_OPACITY = 0.16
SOCKET_SHADE = 0.72  # socket shadow colour: skin colour times this

BULGE_BELOW_LID = 1.5  # the lower-lid bulge line lies this far below the lower lid
BULGE_HALF_WIDTH = 0.4
BULGE_END = 0.8  # the bulge spans |q| < this
BULGE_OPACITY = 0.12  # bulge opacity without AU6 / AU7 ...
BULGE_OPACITY_AU6 = 0.45  # ... plus this times max(AU6, BULGE_AU7_WEIGHT * AU7)
BULGE_AU7_WEIGHT = 0.7
BULGE_SHADE = 0.62  # bulge colour: skin colour times this

CREASE_ABOVE_LID = 1.9  # the lid crease lies this times the lid profile above the upper lid ...
CREASE_OFFSET = 0.5  # ... plus this
CREASE_HALF_WIDTH = 0.35
CREASE_END = 0.85  # the crease spans |q| < this
CREASE_OPACITY = 0.3
CREASE_SHADE = 0.6  # crease colour: skin colour times this

SCLERA_RGB = np.array([0.93, 0.92, 0.9])
PUPIL_RGB = np.array([0.03, 0.03, 0.03])
PUPIL_RADIUS = 0.45  # pupil radius: the iris radius minus this fraction of it
CATCHLIGHT_OFFSET = 0.35  # catchlight centre: up and image-right of the iris centre, fraction of its radius
CATCHLIGHT_RADIUS = 0.22  # fraction of the iris radius
CATCHLIGHT_OPACITY = 0.85
CATCHLIGHT_RGB = np.array([1.0, 1.0, 1.0])

LID_LINE_END = 1.06  # lid lines span |q| < this
UPPER_LID_LINE_OFFSET = 0.25  # the upper lid line (lashes) lies this far above the upper lid
UPPER_LID_LINE_HALF_WIDTH = 0.6
LASH_MAX_RGB = 0.25  # lash colour: the brow colour, at most this, times LASH_SHADE
LASH_SHADE = 0.6
LOWER_LID_LINE_HALF_WIDTH = 0.3
LOWER_LID_LINE_OPACITY = 0.55
LOWER_LID_LINE_SHADE = 0.45  # lower lid line colour: skin colour times this

CROW_FEET_ANGLES_DEG = (-28.0, 2.0, 30.0)  # AU6 crow's feet directions (from horizontal, outwards)
CROW_FEET_DIRECTIONS = [(-math.cos(a), math.sin(a)) for a in map(math.radians, CROW_FEET_ANGLES_DEG)]
"""Unit directions (image coordinates, right eye) of the crow's feet, outward from the outer corner."""
CROW_FEET_GAP = 0.8  # the crow's feet centre lies this far outside the outer eye corner
CROW_FEET_BOX_LENGTH = 6.0  # window extent outwards from that centre
CROW_FEET_BOX_HALF_HEIGHT = 4.0  # window half-height
CROW_FEET_HALF_WIDTH = 0.32  # half-width of each line
CROW_FEET_CENTRE = 3.0  # each line's centre lies this far along its direction ...
CROW_FEET_HALF_LENGTH = 2.2  # ... and it extends this far either way
CROW_FEET_DARKNESS = 0.6  # at full AU6
CROW_FEET_SHADE = 0.55  # line colour: skin colour times this


def draw_eye(cv: Canvas, g: FaceGeometry, rows: np.ndarray, side: str) -> None:
    """One eye (debug feature ``eye_r`` / ``eye_l``): lids, iris, pupil, lid lines, AU6 crow's feet."""
    idn = g.identity
    sgn = 1.0 if side == "r" else -1.0  # tilt sign; the outer corner is at q = -sgn
    ex = g.eye_centre_x(side)
    ew, hu, hl, ey = idn.eye_half_width, g.upper_lid_height, g.lower_lid_height, idn.eye_line_y
    p = cv.patch(rows, ex - ew - EYE_BOX_SIDE, ey - hu - EYE_BOX_ABOVE, ex + ew + EYE_BOX_SIDE,
                 ey + hl + EYE_BOX_BELOW)
    s = p.s
    skin = idn.skin_rgb
    n = len(rows)
    exp, ewp, hup, hlp, eyp = per_face(ex), per_face(ew), per_face(hu), per_face(hl), per_face(ey)
    du = p.u - exp
    v = p.v
    q = du / ewp
    aq = np.abs(q)
    line = eyp + F32(sgn) * per_face(idn.eye_tilt) * q
    gq = lid_profile(q)
    top = line - hup * gq
    bot = line + hlp * gq
    # socket shadow above the eye
    k2 = (du * (F32(SOCKET_WIDTH) / ewp)) ** 2 + ((v - eyp + F32(SOCKET_ABOVE_EYE_LINE))
                                                  * F32(1 / SOCKET_HALF_HEIGHT)) ** 2
    sh = np.clip(F32(1.0) - k2, 0.0, 1.0)
    sh *= F32(SOCKET_OPACITY)
    cv.composite(p, sh, cv.colour(skin * SOCKET_SHADE))
    # lower-lid bulge (AU6 / AU7 make it stronger) and, at higher resolution, the lid crease
    bul = band_coverage(v - (bot + F32(BULGE_BELOW_LID)), BULGE_HALF_WIDTH, s)
    bul *= half_plane_coverage((F32(BULGE_END) - aq) * ewp, s)
    bul *= per_face(BULGE_OPACITY + BULGE_OPACITY_AU6 * np.maximum(g.au.au6, BULGE_AU7_WEIGHT * g.au.au7))
    cv.composite(p, bul, cv.colour(skin * BULGE_SHADE))
    if cv.draw_details:
        cre = band_coverage(v - (top - F32(CREASE_ABOVE_LID) * gq - F32(CREASE_OFFSET)), CREASE_HALF_WIDTH, s)
        cre *= half_plane_coverage((F32(CREASE_END) - aq) * ewp, s)
        cre *= F32(CREASE_OPACITY)
        cv.composite(p, cre, cv.colour(skin * CREASE_SHADE))
    # sclera
    sclera = coverage_from_distance(np.maximum(np.maximum(top - v, v - bot), (aq - F32(1.0)) * ewp), s)
    cv.composite(p, sclera, cv.colour(SCLERA_RGB, n))
    # iris, pupil, catchlight (clipped by the lids)
    ir = per_face(idn.iris_radius)
    dx, dy = du - per_face(idn.gaze_offset_x), v - per_face(g.iris_centre_y)
    r = np.sqrt(dx * dx + dy * dy)
    a = np.minimum(coverage_from_distance(r - ir, s), sclera)
    cv.composite(p, a, cv.colour(idn.iris_rgb))
    r -= ir * F32(PUPIL_RADIUS)
    a = np.minimum(coverage_from_distance(r, s), sclera)
    cv.composite(p, a, cv.colour(PUPIL_RGB, n))
    if cv.draw_details:
        dx -= ir * F32(CATCHLIGHT_OFFSET)
        dy += ir * F32(CATCHLIGHT_OFFSET)
        r2 = np.sqrt(dx * dx + dy * dy)
        a = np.minimum(coverage_from_distance(r2 - ir * F32(CATCHLIGHT_RADIUS), s), sclera)
        a *= F32(CATCHLIGHT_OPACITY)
        cv.composite(p, a, cv.colour(CATCHLIGHT_RGB, n))
    # lid lines: upper (with lashes) and lower
    qcap = half_plane_coverage((F32(LID_LINE_END) - aq) * ewp, s)
    up = band_coverage(v - top + F32(UPPER_LID_LINE_OFFSET), UPPER_LID_LINE_HALF_WIDTH, s)
    up *= qcap
    cv.composite(p, up, cv.colour(np.minimum(idn.brow_rgb, LASH_MAX_RGB) * LASH_SHADE))
    lo = band_coverage(v - bot, LOWER_LID_LINE_HALF_WIDTH, s)
    lo *= qcap
    if cv.debug is not None:
        cv.keep(f"eye_{side}", p, np.maximum(np.maximum(sclera, up), lo))
    lo *= F32(LOWER_LID_LINE_OPACITY)
    cv.composite(p, lo, cv.colour(skin * LOWER_LID_LINE_SHADE))
    cv.commit(p)
    _draw_crows_feet(cv, g, rows, side)


def _draw_crows_feet(cv: Canvas, g: FaceGeometry, rows: np.ndarray, side: str) -> None:
    """AU6 crow's feet at the outer corner of one eye (only faces that show AU6)."""
    sub = np.flatnonzero(g.au.au6 > 0)
    if not sub.size:
        return
    sgn = 1.0 if side == "r" else -1.0
    gs = g.take(sub)
    qo = -sgn  # the outer corner
    cxv = gs.eye_centre_x(side) + qo * (gs.identity.eye_half_width + CROW_FEET_GAP)
    cyv = gs.identity.eye_line_y - gs.identity.eye_tilt
    far = cxv + qo * CROW_FEET_BOX_LENGTH
    p = cv.patch(rows[sub], np.minimum(cxv, far), cyv - CROW_FEET_BOX_HALF_HEIGHT, np.maximum(cxv, far),
                 cyv + CROW_FEET_BOX_HALF_HEIGHT)
    ddu, ddv = p.u - per_face(cxv), p.v - per_face(cyv)
    a_all = None
    for dxc, dyc in CROW_FEET_DIRECTIONS:
        dxc = dxc * sgn
        along = ddu * F32(dxc) + ddv * F32(dyc)
        across = ddv * F32(dxc) - ddu * F32(dyc)
        a = band_coverage(across, CROW_FEET_HALF_WIDTH, p.s)
        along -= F32(CROW_FEET_CENTRE)
        a *= half_plane_coverage(F32(CROW_FEET_HALF_LENGTH) - np.abs(along), p.s)
        a_all = a if a_all is None else np.maximum(a_all, a, out=a_all)
    assert a_all is not None
    a_all *= per_face(CROW_FEET_DARKNESS * gs.au.au6)
    cv.composite(p, a_all, cv.colour(gs.identity.skin_rgb * CROW_FEET_SHADE))
    cv.commit(p)
