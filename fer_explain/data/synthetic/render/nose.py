"""The nose: the bridge (landmarks 27-30, no AU) and the nose base with nostrils and AU9's wrinkles.

:func:`draw_nose_bridge` belongs to the base pass; :func:`draw_nose_base` is the AU layer (AU9 nose
wrinkler: bridge wrinkles, and a lifted, wider nose base).
"""

from __future__ import annotations

import numpy as np

from fer_explain.data.synthetic.render.canvas import CANONICAL_CENTRE, Canvas
from fer_explain.data.synthetic.render.geometry import FaceGeometry
from fer_explain.data.synthetic.render.primitives import (
    F32,
    band_coverage,
    coverage_from_distance,
    ellipse_distance,
    half_plane_coverage,
    per_face,
)

# bridge: a faint highlight strip from landmark 27 to below the tip, a side shadow, a tip highlight
BRIDGE_BOX_HALF_WIDTH = 4.0  # window half-width around the midline
BRIDGE_BOX_ABOVE = 1.0  # the window starts this far above landmark 27 ...
BRIDGE_BOX_BELOW_TIP = 3.5  # ... and ends this far below the tip (landmark 30)
BRIDGE_HALF_WIDTH = 1.3  # half-width of the bridge highlight strip
BRIDGE_BELOW_TIP = 1.0  # the strip ends this far below the tip
BRIDGE_OPACITY = 0.12
HIGHLIGHT_GAIN = 1.15  # highlight colour: skin colour times this plus HIGHLIGHT_LIFT
HIGHLIGHT_LIFT = 0.04
SIDE_SHADOW_OFFSET = 2.9  # the side shadow lies this far from the midline, on the light's far side
SIDE_SHADOW_HALF_WIDTH = 0.55
SIDE_SHADOW_START = 5.0  # the side shadow starts this far below landmark 27 and ends at the tip
SIDE_SHADOW_OPACITY = 0.25
SIDE_SHADOW_SHADE = 0.65  # side shadow colour: skin colour times this
TIP_BELOW = 0.6  # the tip highlight's centre lies this far below landmark 30
TIP_HALF_WIDTH = 2.6  # semi-axes of the tip highlight
TIP_HALF_HEIGHT = 2.2
TIP_OPACITY = 0.1

# base: AU9 wrinkles across the bridge
AU9_BOX_BELOW_BRIDGE_TOP = 1.0  # with AU9, the window starts this far below landmark 27 ...
BASE_BOX_ABOVE = 4.5  # ... else this far above the nose base
BASE_BOX_SIDE = 1.0  # window slack beside the nose base
BASE_BOX_BELOW = 1.5  # window slack below the nose base
WRINKLE_START = 3.0  # the wrinkles start this far below landmark 27
WRINKLE_CURVE = 0.06  # wrinkles curve down away from the midline by this times du^2
WRINKLE_SPACING = 2.4  # spacing between wrinkles
WRINKLE_HALF_WIDTH = 0.45
WRINKLE_SPAN = 3.4  # wrinkles reach this far from the midline
WRINKLE_ABOVE = 0.9  # wrinkles fade in from this far above WRINKLE_START ...
WRINKLE_BELOW = 5.7  # ... and out this far below it
WRINKLE_DARKNESS = 0.6  # at full AU9
WRINKLE_SHADE = 0.6  # wrinkle colour: skin colour times this
# base: the base line through landmarks 31-35, nostrils and alar creases
BASE_LINE_HALF_WIDTH = 0.45
NOSTRIL_X = 0.45  # nostril centres, fraction of the nose half-width from the midline
NOSTRIL_ABOVE_BASE = 1.1  # nostril centres lie this far above the base line's centre
NOSTRIL_HALF_WIDTH = 0.3  # nostril half-width: this fraction of the nose half-width plus NOSTRIL_MIN
NOSTRIL_MIN_HALF_WIDTH = 0.3
NOSTRIL_HALF_HEIGHT = 0.85
ALA_INSET = 1.6  # the alar creases curve around a centre this far inside the nose wing ...
ALA_ABOVE_BASE = 1.6  # ... and this far above the base line's centre
ALA_RADIUS = 2.0
ALA_HALF_WIDTH = 0.35
BASE_LINE_OPACITY = 0.5
BASE_LINE_SHADE = 0.5  # base line colour: skin colour times this
ALA_OPACITY = 0.45
ALA_SHADE = 0.55
NOSTRIL_OPACITY = 0.9
NOSTRIL_SHADE = 0.28


def draw_nose_bridge(cv: Canvas, g: FaceGeometry, rows: np.ndarray) -> None:
    """The nose bridge highlight (debug feature ``nose``), its side shadow and the tip highlight."""
    mid = CANONICAL_CENTRE
    skin = g.identity.skin_rgb
    top_y, tip_y = g.bridge_top_y, g.nose_tip_y
    p = cv.patch(rows, np.full(len(rows), mid - BRIDGE_BOX_HALF_WIDTH), top_y - BRIDGE_BOX_ABOVE,
                 np.full(len(rows), mid + BRIDGE_BOX_HALF_WIDTH), tip_y + BRIDGE_BOX_BELOW_TIP)
    s = p.s
    du = p.u - F32(mid)
    adu = np.abs(du)
    y27, y30 = per_face(top_y), per_face(tip_y)
    d = np.maximum(adu - F32(BRIDGE_HALF_WIDTH), np.maximum(y27 - p.v, p.v - (y30 + F32(BRIDGE_BELOW_TIP))))
    a = coverage_from_distance(d, s)
    cv.keep("nose", p, a)
    a *= F32(BRIDGE_OPACITY)
    light = cv.colour(np.minimum(skin * HIGHLIGHT_GAIN + HIGHLIGHT_LIFT, 1.0))
    cv.composite(p, a, light)
    side_shadow_u = per_face(g.identity.light_side) * F32(SIDE_SHADOW_OFFSET)
    a = band_coverage(du - side_shadow_u, SIDE_SHADOW_HALF_WIDTH, s)
    a *= half_plane_coverage(np.minimum(p.v - (y27 + F32(SIDE_SHADOW_START)), y30 - p.v), s)
    a *= F32(SIDE_SHADOW_OPACITY)
    cv.composite(p, a, cv.colour(skin * SIDE_SHADOW_SHADE))
    a = coverage_from_distance(ellipse_distance(du, p.v - (y30 + F32(TIP_BELOW)), F32(TIP_HALF_WIDTH),
                                                F32(TIP_HALF_HEIGHT)), s)
    a *= F32(TIP_OPACITY)
    cv.composite(p, a, light)
    cv.commit(p)


def draw_nose_base(cv: Canvas, g: FaceGeometry, rows: np.ndarray) -> None:
    """Nose base line through landmarks 31-35 (debug feature ``nose_base``), nostrils, alar creases
    and (AU9) bridge wrinkles."""
    mid = CANONICAL_CENTRE
    nw = g.nose_half_width
    au9 = g.au.au9
    top = np.where(au9 > 0, g.bridge_top_y + AU9_BOX_BELOW_BRIDGE_TOP, g.nose_base_y - BASE_BOX_ABOVE)
    p = cv.patch(rows, mid - nw - BASE_BOX_SIDE, top, mid + nw + BASE_BOX_SIDE,
                 g.nose_base_y + BASE_BOX_BELOW)
    s = p.s
    du = p.u - F32(mid)
    adu = np.abs(du)
    y27, y33 = per_face(g.bridge_top_y), per_face(g.nose_base_y)
    nwp, nc = per_face(nw), per_face(g.nose_base_curve)
    skin = g.identity.skin_rgb
    if np.any(au9 > 0):
        vv = p.v - (y27 + F32(WRINKLE_START)) + F32(WRINKLE_CURVE) * du * du
        rem = vv - F32(WRINKLE_SPACING) * np.rint(vv * F32(1 / WRINKLE_SPACING))
        a = band_coverage(rem, WRINKLE_HALF_WIDTH, s)
        a *= half_plane_coverage(F32(WRINKLE_SPAN) - adu, s)
        a *= half_plane_coverage(np.minimum(vv + F32(WRINKLE_ABOVE), F32(WRINKLE_BELOW) - vv), s)
        a *= per_face(WRINKLE_DARKNESS * au9)
        cv.composite(p, a, cv.colour(skin * WRINKLE_SHADE))
    xn = du / nwp
    xn *= xn
    base = band_coverage(p.v - (y33 - nc * xn), BASE_LINE_HALF_WIDTH, s)
    base *= half_plane_coverage(nwp - adu, s)
    nos = coverage_from_distance(ellipse_distance(
        adu - F32(NOSTRIL_X) * nwp, p.v - (y33 - F32(NOSTRIL_ABOVE_BASE)),
        F32(NOSTRIL_HALF_WIDTH) * nwp + F32(NOSTRIL_MIN_HALF_WIDTH), F32(NOSTRIL_HALF_HEIGHT)), s)
    ax = adu - (nwp - F32(ALA_INSET))
    r = np.sqrt(ax * ax + (p.v - (y33 - F32(ALA_ABOVE_BASE))) ** 2)
    ala = band_coverage(r - F32(ALA_RADIUS), ALA_HALF_WIDTH, s)
    ala *= half_plane_coverage(ax, s)
    if cv.debug is not None:
        cv.keep("nose_base", p, np.maximum(np.maximum(base, nos), ala))
    base *= F32(BASE_LINE_OPACITY)
    cv.composite(p, base, cv.colour(skin * BASE_LINE_SHADE))
    ala *= F32(ALA_OPACITY)
    cv.composite(p, ala, cv.colour(skin * ALA_SHADE))
    nos *= F32(NOSTRIL_OPACITY)
    cv.composite(p, nos, cv.colour(skin * NOSTRIL_SHADE))
    cv.commit(p)
