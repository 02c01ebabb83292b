"""The head: skin with contour shading, and the hair above the hairline (short hair and bangs).

Also the hairline itself (:func:`below_hair_coverage`), which the brows need to hide under bangs.
"""

from __future__ import annotations

import numpy as np

from fer_explain.data.synthetic.render.canvas import CANONICAL_CENTRE, Canvas, Patch
from fer_explain.data.synthetic.render.geometry import HEAD_LOWER_LIMIT, HEAD_MIN_WIDTH, FaceGeometry
from fer_explain.data.synthetic.render.identity import HAIR_BALD, HAIR_BANGS
from fer_explain.data.synthetic.render.primitives import (
    F32,
    coverage_from_distance,
    ellipse_distance,
    half_plane_coverage,
    per_face,
)

HEAD_BOX_MARGIN = 1.0  # window slack around the head contour, canonical units
CONTOUR_SHADING_START = 0.78  # contour shading starts at this normalised distance from the centre ...
CONTOUR_SHADING_OPACITY = 0.22  # ... and darkens up to this opacity at the contour
CONTOUR_SHADE = 0.7  # contour shading colour: skin colour times this

HAIR_BOX_MARGIN = 1.0  # window slack around the hair, canonical units
HAIR_BOX_BELOW_EYE_LINE = 0.5  # the hair window ends this far below the eye line
HAIR_CROWN_LIFT = 1.0  # the hair ellipse's centre lies this far above the head centre

HAIRLINE_CURVE = 1.25  # the hairline descends to the temples over 1 / 1.25 = 0.8 head half-widths ...
HAIRLINE_FLAT = 0.3  # ... starting 0.3 / 1.25 = 0.24 head half-widths from the midline
HAIRLINE_TEMPLE_ABOVE_EYE = 1.5  # at the temples the hairline lies this far above the eye line
BANGS_TOOTH_WIDTH = 3.2  # width of one zig-zag tooth of the bangs' fringe, canonical units
BANGS_TOOTH_SLOPE = 1.6  # steepness of the fringe's teeth (depth per unit of width)
BANGS_ABOVE_BROW = 3.5  # the fringe's teeth end this far above the brows' arch


def hairline_y(g: FaceGeometry, du: np.ndarray, adu: np.ndarray) -> np.ndarray:
    """Canonical v of the hairline at each pixel (hair above it); bangs give a zig-zag fringe.

    ``du`` is the pixels' canonical offset from the midline, ``adu`` its absolute value.
    """
    idn = g.identity
    hap = per_face(idn.head_half_width)
    hl = per_face(idn.hairline_y)
    ramp = adu * (F32(HAIRLINE_CURVE) / hap)
    ramp -= F32(HAIRLINE_FLAT)
    np.clip(ramp, 0.0, 1.0, out=ramp)
    ramp *= ramp
    line = hl + (per_face(idn.eye_line_y - HAIRLINE_TEMPLE_ABOVE_EYE) - hl) * ramp
    bangs = idn.hair_style == HAIR_BANGS
    if bangs.any():
        x = du * F32(1 / BANGS_TOOTH_WIDTH)
        zz = np.abs(x - np.rint(x))
        zz *= F32(2.0 * BANGS_TOOTH_SLOPE)
        zz += per_face(g.brow_line_y - idn.brow_arch - BANGS_ABOVE_BROW)
        line = np.where(per_face(bangs) > 0, np.maximum(zz, line), line)
    return line


def below_hair_coverage(g: FaceGeometry, p: Patch, du: np.ndarray, adu: np.ndarray) -> np.ndarray:
    """Coverage of 'not hair' (1 below the hairline, and everywhere on bald faces)."""
    a = half_plane_coverage(p.v - hairline_y(g, du, adu), p.s)
    bald = g.identity.hair_style == HAIR_BALD
    if bald.any():
        a = np.maximum(a, per_face(bald))
    return a


def draw_head(cv: Canvas, g: FaceGeometry, rows: np.ndarray) -> None:
    """The head's skin (debug feature ``head``) with darker contour shading, then the hair on top."""
    idn = g.identity
    mid = CANONICAL_CENTRE
    ha, hy, hb = idn.head_half_width, idn.head_centre_y, g.head_half_height
    m = HEAD_BOX_MARGIN
    p = cv.patch(rows, mid - ha - m, hy - hb - m, mid + ha + m, hy + hb + m)
    hap, hbp = per_face(ha), per_face(hb)
    du = p.u - F32(mid)
    vn = (p.v - per_face(hy)) / hbp
    # normalised distance k from the centre on the tapered ellipse (k = 1 on the contour)
    low = np.clip(vn, 0.0, HEAD_LOWER_LIMIT)
    low *= low
    low *= per_face(-idn.jaw_taper)
    low += F32(1.0)
    np.maximum(low, F32(HEAD_MIN_WIDTH), out=low)
    k = du / low
    k *= F32(1.0) / hap
    k *= k
    vn *= vn
    k += vn
    np.sqrt(k, out=k)
    d = (k - F32(1.0)) * np.minimum(hap, hbp)
    alpha = coverage_from_distance(d, p.s)
    cv.keep("head", p, alpha)
    skin = idn.skin_rgb
    cv.composite(p, alpha, cv.colour(skin))
    k -= F32(CONTOUR_SHADING_START)
    np.clip(k, 0.0, 1.0, out=k)
    k *= alpha
    k *= F32(CONTOUR_SHADING_OPACITY)
    cv.composite(p, k, cv.colour(skin * CONTOUR_SHADE))
    cv.commit(p)
    # hair above the hairline
    hair = np.flatnonzero(idn.hair_style != HAIR_BALD)
    if hair.size:
        gh = g.take(hair)
        ha_, hy_, hb_, ht_ = (gh.identity.head_half_width, gh.identity.head_centre_y, gh.head_half_height,
                              gh.identity.hair_thickness)
        m = HAIR_BOX_MARGIN
        p = cv.patch(rows[hair], mid - ha_ - ht_ - m, hy_ - hb_ - ht_ - m, mid + ha_ + ht_ + m,
                     gh.identity.eye_line_y + HAIR_BOX_BELOW_EYE_LINE)
        du = p.u - F32(mid)
        adu = np.abs(du)
        d = ellipse_distance(du, p.v - per_face(hy_ - HAIR_CROWN_LIFT), per_face(ha_ + ht_),
                             per_face(hb_ + ht_))
        np.maximum(d, p.v - hairline_y(gh, du, adu), out=d)
        cv.composite(p, coverage_from_distance(d, p.s), cv.colour(gh.identity.hair_rgb))
        cv.commit(p)
