"""Everything behind the face: background colour, long hair behind the head, neck, clothes and ears.

Drawn first, once per face, in the base pass (none of it depends on action units).
"""

from __future__ import annotations

import numpy as np

from fer_explain.data.synthetic.render.canvas import CANONICAL_CENTRE, Canvas
from fer_explain.data.synthetic.render.geometry import FaceGeometry
from fer_explain.data.synthetic.render.identity import HAIR_LONG
from fer_explain.data.synthetic.render.primitives import (
    F32,
    coverage_from_distance,
    ellipse_distance,
    per_face,
)

# long hair: the union of an ellipse around the head and a box hanging down to the shoulders
LONG_HAIR_BOX_SIDE = 3.0  # window slack beside the hair, canonical units
LONG_HAIR_BOX_TOP = 1.0  # window slack above the hair
LONG_HAIR_BOX_BOTTOM = 0.9  # the window ends this fraction of the head half-height below its centre
LONG_HAIR_BOX_BELOW = 1.0  # ... plus this slack
LONG_HAIR_LIFT = 2.0  # the hair ellipse's centre lies this far above the head centre
LONG_HAIR_WIDTH = 2.5  # the hair ellipse reaches this far beyond head + hair thickness (sideways)
LONG_HAIR_HEIGHT = 0.96  # the hair ellipse's vertical semi-axis: this fraction of the head's ...
LONG_HAIR_FALL_WIDTH = 1.5  # the hanging box reaches this far beyond head + hair thickness (sideways)
LONG_HAIR_FALL_CENTRE = 0.35  # the hanging box's centre, fraction of the head half-height below centre
LONG_HAIR_FALL_HALF_HEIGHT = 0.55  # the hanging box's half-height, fraction of the head half-height
LONG_HAIR_SHADE = 0.8  # long hair behind the head is darker than the hair colour by this factor

# neck and clothes
SHOULDER_HALF_WIDTH = 1.7  # clothes (shoulders) half-width, multiple of the head half-width
NECK_BOX_TOP = 0.38  # the window starts this fraction of the head half-height below the head centre
NECK_BOX_SIDE = 1.0  # window slack beside the shoulders, canonical units
NECK_BOX_BELOW_CHIN = 40.0  # the window ends this far below the chin
NECK_TOP = 0.4  # the neck starts this fraction of the head half-height below the head centre
NECK_SHADE = 0.78  # the neck is darker than the skin colour by this factor
SHOULDERS_BELOW_CHIN = 19.0  # centre of the clothes ellipse below the chin
SHOULDERS_HALF_HEIGHT = 17.0  # vertical semi-axis of the clothes ellipse

# ears
EAR_HALF_WIDTH = 3.4  # canonical units, times the identity's ear scale
EAR_HALF_HEIGHT = 7.0  # canonical units, times the identity's ear scale
EAR_INSET = 0.8  # ear centres lie this far inside the head contour's half-width
EAR_BELOW_EYE_LINE = 3.5  # ear centres lie this far below the eye line
EAR_BOX_MARGIN = 1.0  # window slack around each ear
EAR_SHADE = 0.9  # ear colour: skin colour times this
EAR_HOLLOW_SHIFT = 0.6  # the ear's hollow is shifted this far outwards
EAR_HOLLOW_WIDTH = 0.5  # hollow semi-axes as fractions of the ear's
EAR_HOLLOW_HEIGHT = 0.6
EAR_HOLLOW_OPACITY = 0.45  # opacity of the hollow's shadow
EAR_HOLLOW_SHADE = 0.6  # hollow colour: skin colour times this


def draw_background(cv: Canvas, g: FaceGeometry, rows: np.ndarray) -> None:
    """Fill the rows with the background colour; draw long hair behind the head, neck, clothes and ears."""
    idn = g.identity
    mid = CANONICAL_CENTRE
    cv.img[:, rows] = cv.colour(idn.background_rgb)
    ha, hy, hb, ey = idn.head_half_width, idn.head_centre_y, g.head_half_height, idn.eye_line_y
    long_ = np.flatnonzero(idn.hair_style == HAIR_LONG)
    if long_.size:
        gl = g.take(long_)
        ha_, hy_, hb_, ht_ = (gl.identity.head_half_width, gl.identity.head_centre_y, gl.head_half_height,
                              gl.identity.hair_thickness)
        p = cv.patch(rows[long_], mid - ha_ - ht_ - LONG_HAIR_BOX_SIDE, hy_ - hb_ - ht_ - LONG_HAIR_BOX_TOP,
                     mid + ha_ + ht_ + LONG_HAIR_BOX_SIDE,
                     hy_ + LONG_HAIR_BOX_BOTTOM * hb_ + LONG_HAIR_BOX_BELOW)
        hap, hbp, htp = per_face(ha_), per_face(hb_), per_face(ht_)
        du = p.u - F32(mid)
        dv = p.v - per_face(hy_)
        d1 = ellipse_distance(du, dv + F32(LONG_HAIR_LIFT), hap + htp + F32(LONG_HAIR_WIDTH),
                              hbp * F32(LONG_HAIR_HEIGHT) + htp)
        d2 = np.maximum(np.abs(du) - (hap + htp + F32(LONG_HAIR_FALL_WIDTH)),
                        np.abs(dv - hbp * F32(LONG_HAIR_FALL_CENTRE)) - hbp * F32(LONG_HAIR_FALL_HALF_HEIGHT))
        np.minimum(d1, d2, out=d1)
        cv.composite(p, coverage_from_distance(d1, p.s), cv.colour(gl.identity.hair_rgb * LONG_HAIR_SHADE))
        cv.commit(p)
    # neck and clothes
    p = cv.patch(rows, mid - SHOULDER_HALF_WIDTH * ha - NECK_BOX_SIDE, hy + NECK_BOX_TOP * hb,
                 mid + SHOULDER_HALF_WIDTH * ha + NECK_BOX_SIDE, hy + hb + NECK_BOX_BELOW_CHIN)
    du = p.u - F32(mid)
    a = coverage_from_distance(np.maximum(np.abs(du) - per_face(ha * idn.neck_width_factor),
                                          per_face(hy + hb * NECK_TOP) - p.v), p.s)
    cv.composite(p, a, cv.colour(idn.skin_rgb * NECK_SHADE))
    clothes = ellipse_distance(du, p.v - per_face(hy + hb + SHOULDERS_BELOW_CHIN),
                               per_face(ha * SHOULDER_HALF_WIDTH), F32(SHOULDERS_HALF_HEIGHT))
    a = coverage_from_distance(clothes, p.s)
    cv.composite(p, a, cv.colour(idn.clothes_rgb))
    cv.commit(p)
    # ears
    rx, ry = EAR_HALF_WIDTH * idn.ear_scale, EAR_HALF_HEIGHT * idn.ear_scale
    for sgn in (-1.0, 1.0):
        ex = mid + sgn * (ha - EAR_INSET)
        ecy = ey + EAR_BELOW_EYE_LINE
        m = EAR_BOX_MARGIN
        p = cv.patch(rows, ex - rx - m, ecy - ry - m, ex + rx + m, ecy + ry + m)
        du = p.u - per_face(ex)
        dv = p.v - per_face(ecy)
        a = coverage_from_distance(ellipse_distance(du, dv, per_face(rx), per_face(ry)), p.s)
        cv.composite(p, a, cv.colour(idn.skin_rgb * EAR_SHADE))
        a = coverage_from_distance(ellipse_distance(du - F32(sgn * EAR_HOLLOW_SHIFT), dv,
                                                    per_face(rx * EAR_HOLLOW_WIDTH),
                                                    per_face(ry * EAR_HOLLOW_HEIGHT)), p.s)
        a *= F32(EAR_HOLLOW_OPACITY)
        cv.composite(p, a, cv.colour(idn.skin_rgb * EAR_HOLLOW_SHADE))
        cv.commit(p)
