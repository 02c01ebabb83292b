"""The mouth: lips (landmarks 48-59), the mouth interior and teeth (60-67), AU12 smile brackets and
AU14 dimples.

An AU layer (AU12, AU14, AU15, AU16, AU20, AU23, AU26). Positions along the mouth are ``t = du / w``
(-1 right corner .. 1 left corner, ``w`` the half-width of that side); the lip edges are the mouth line
bent by the corner lift, plus the opening and thickness profiles of :mod:`.geometry`.
"""

from __future__ import annotations

import numpy as np

from fer_explain.data.synthetic.render.canvas import CANONICAL_CENTRE, Canvas
from fer_explain.data.synthetic.render.geometry import (
    MOUTH_INNER_CORNER,
    MOUTH_LINE_T2,
    MOUTH_LINE_T4,
    FaceGeometry,
    mouth_profiles,
)
from fer_explain.data.synthetic.render.primitives import (
    F32,
    HALF_PIXEL,
    band_coverage,
    coverage_from_distance,
    ellipse_distance,
    half_plane_coverage,
    per_face,
)

BOX_SLACK_EXPRESSIVE = 3.0  # window slack around the lips with AU12/AU14 (brackets, dimples) ...
BOX_SLACK = 0.8  # ... and without

LIP_GAIN = 1.04  # lip colour: the identity's lip colour times this
UPPER_LIP_OPACITY = 0.35  # the upper lip is darkened with this opacity ...
UPPER_LIP_SHADE = 0.8  # ... towards the lip colour times this
INTERIOR_RGB = np.array([0.22, 0.07, 0.07])  # the mouth's dark interior
TEETH_RGB = np.array([0.95, 0.93, 0.88])
UPPER_TEETH_END = 0.78  # upper teeth span |t| < this
LOWER_TEETH_TOP = 1.3  # the lower teeth reach this far above the lower inner lip edge
LOWER_TEETH_END = 0.6  # lower teeth span |t| < this
LOWER_TEETH_SHADE = 0.92  # lower teeth colour: TEETH_RGB times this

SEAM_HALF_WIDTH = 0.42  # the line between closed lips
SEAM_END = 1.02  # the seam spans |t| < this
SEAM_OPACITY = 0.55  # seam opacity without AU23 ...
SEAM_OPACITY_AU23 = 0.35  # ... plus this at full AU23 (pressed lips)
CORNER_RADIUS = 0.8  # dark spots at the mouth corners (commissures)
CORNER_OPACITY = 0.6
SEAM_SHADE = 0.35  # seam and corner colour: lip colour times this

BRACKET_BELOW_CORNER = 0.6  # AU12 smile brackets: centred this far below the corner ...
BRACKET_OUTSIDE_CORNER = 1.9  # ... this far outside it (at the centre, curving inwards)
BRACKET_CURVE = 0.12  # inward curve of the bracket: this times the squared vertical offset
BRACKET_HALF_WIDTH = 0.4
BRACKET_HALF_LENGTH = 2.7
BRACKET_DARKNESS = 0.5  # at full AU12
BRACKET_SHADE = 0.55  # bracket colour: skin colour times this
DIMPLE_OUTSIDE_CORNER = 1.1  # AU14 dimples: centred this far outside the corner ...
DIMPLE_BELOW_CORNER = 0.3  # ... and this far below it
DIMPLE_RADIUS = 0.9
DIMPLE_DARKNESS = 0.55  # at full AU14
DIMPLE_SHADE = 0.5  # dimple colour: skin colour times this


def draw_mouth(cv: Canvas, g: FaceGeometry, rows: np.ndarray) -> None:
    """Lips (debug feature ``lips``), mouth interior (``mouth_inner``), teeth, AU12 brackets, AU14 dimples."""
    idn = g.identity
    mid = CANONICAL_CENTRE
    wr, wl, cr, cl = g.mouth_half_width_r, g.mouth_half_width_l, g.corner_lift_r, g.corner_lift_l
    wmax = np.maximum(wr, wl)
    my = g.mouth_y
    k12 = np.maximum(g.au.au12_r, g.au.au12_l)
    k14 = np.maximum(g.au.au14_r, g.au.au14_l)
    extra = np.where((k12 > 0) | (k14 > 0), BOX_SLACK_EXPRESSIVE, BOX_SLACK)
    top = my - np.maximum(np.maximum(cr, cl), 0) - g.upper_opening - g.upper_lip_thickness - extra
    bot = my + np.maximum(-np.minimum(cr, cl), 0) + g.lower_opening + g.lower_lip_thickness + extra
    p = cv.patch(rows, mid - wmax - extra, top, mid + wmax + extra, bot)
    s = p.s
    du = p.u - F32(mid)
    v = p.v
    neg = (du < 0).astype(F32)
    w = per_face(wl) + per_face(wr - wl) * neg
    c = per_face(cl) + per_face(cr - cl) * neg
    t = du / w
    at = np.abs(t)
    tt = t * t
    m = per_face(my) - c * (F32(MOUTH_LINE_T2) * tt + F32(MOUTH_LINE_T4) * tt * tt)
    opening, thickness, bow = mouth_profiles(t)
    ui = m - per_face(g.upper_opening) * opening
    li = m + per_face(g.lower_opening) * opening
    uo = ui - per_face(g.upper_lip_thickness) * thickness * (F32(1.0) - per_face(idn.cupids_bow) * bow)
    lo = li + per_face(g.lower_lip_thickness) * thickness
    lips = coverage_from_distance(np.maximum(np.maximum(uo - v, v - lo), (at - F32(1.0)) * w), s)
    lip_rgb = idn.lip_rgb
    cv.composite(p, lips, cv.colour(lip_rgb * LIP_GAIN))
    up_a = half_plane_coverage(m - v, s)  # the upper lip a little darker
    up_a *= lips
    up_a *= F32(UPPER_LIP_OPACITY)
    cv.composite(p, up_a, cv.colour(lip_rgb * UPPER_LIP_SHADE))
    # mouth interior and teeth
    # interior: exact vertical box-filter coverage of [ui, li] (zero for a closed mouth), cut at the
    # inner corners
    vs = v * s
    inner = np.minimum(vs + HALF_PIXEL, li * s)
    inner -= np.maximum(vs - HALF_PIXEL, ui * s)
    np.clip(inner, 0.0, 1.0, out=inner)
    inner *= half_plane_coverage((F32(MOUTH_INNER_CORNER) - at) * w, s)
    if np.any(g.lower_opening > 0):
        n = len(rows)
        cv.composite(p, inner, cv.colour(INTERIOR_RGB, n))
        a = np.minimum(inner, half_plane_coverage(ui + per_face(g.upper_teeth_height) - v, s))
        a *= half_plane_coverage((F32(UPPER_TEETH_END) - at) * w, s)
        cv.composite(p, a, cv.colour(TEETH_RGB, n))
        if np.any(g.lower_teeth > 0):
            a = np.minimum(inner, half_plane_coverage(v - (li - F32(LOWER_TEETH_TOP)), s))
            a *= half_plane_coverage((F32(LOWER_TEETH_END) - at) * w, s)
            a *= per_face(g.lower_teeth)
            cv.composite(p, a, cv.colour(TEETH_RGB * LOWER_TEETH_SHADE, n))
    # seam between the lips (outside the open interior), darker towards the corners
    seam = band_coverage(v - m, SEAM_HALF_WIDTH, s)
    seam *= half_plane_coverage((F32(SEAM_END) - at) * w, s)
    seam *= F32(1.0) - inner
    seam *= F32(SEAM_OPACITY) + F32(SEAM_OPACITY_AU23) * per_face(g.au.au23)
    # the corners (commissures) are a little darker
    for side, sgn in (("r", -1.0), ("l", 1.0)):
        dx = p.u - per_face(mid + sgn * g.mouth_half_width(side))
        dy = v - per_face(my - g.corner_lift(side))
        a = coverage_from_distance(np.sqrt(dx * dx + dy * dy) - F32(CORNER_RADIUS), s)
        seam = np.maximum(seam, a * F32(CORNER_OPACITY), out=seam)
    cv.composite(p, seam, cv.colour(lip_rgb * SEAM_SHADE))
    if cv.debug is not None:
        cv.keep("lips", p, np.maximum(lips, seam))
        cv.keep("mouth_inner", p, inner)
    # AU12 smile brackets and AU14 dimples beside each corner
    skin = idn.skin_rgb
    for side, sgn in (("r", -1.0), ("l", 1.0)):
        a12, a14 = g.au.lip_corner_puller(side), g.au.dimpler(side)
        cx = F32(mid) + F32(sgn) * per_face(g.mouth_half_width(side))
        cy = per_face(my - g.corner_lift(side))
        if np.any(a12 > 0):
            dv = v - cy + F32(BRACKET_BELOW_CORNER)
            bx = cx + F32(sgn) * (F32(BRACKET_OUTSIDE_CORNER) - F32(BRACKET_CURVE) * dv * dv)
            a = band_coverage(p.u - bx, BRACKET_HALF_WIDTH, s)
            a *= half_plane_coverage(F32(BRACKET_HALF_LENGTH) - np.abs(dv), s)
            a *= per_face(BRACKET_DARKNESS * a12)
            cv.composite(p, a, cv.colour(skin * BRACKET_SHADE))
        if np.any(a14 > 0):
            a = coverage_from_distance(ellipse_distance(
                p.u - (cx + F32(sgn * DIMPLE_OUTSIDE_CORNER)), v - (cy + F32(DIMPLE_BELOW_CORNER)),
                F32(DIMPLE_RADIUS), F32(DIMPLE_RADIUS)), s)
            a *= per_face(DIMPLE_DARKNESS * a14)
            cv.composite(p, a, cv.colour(skin * DIMPLE_SHADE))
    cv.commit(p)
