"""The brows through landmarks 17-26, AU1/AU2 forehead lines and AU4 furrows; all hidden under the hair.

An AU layer (AU1, AU2, AU4). Positions along a brow are ``t`` (0 outer end .. 1 inner end); the brow's
centre line is the curve of :func:`~.geometry.brow_centre_y` (evaluated here in float32).
"""

from __future__ import annotations

import numpy as np

from fer_explain.data.synthetic.render.canvas import CANONICAL_CENTRE, Canvas
from fer_explain.data.synthetic.render.geometry import FaceGeometry
from fer_explain.data.synthetic.render.head import below_hair_coverage
from fer_explain.data.synthetic.render.primitives import (
    F32,
    band_coverage,
    coverage_from_distance,
    half_plane_coverage,
    per_face,
)

# window: with AU1/AU2 it covers the forehead lines, else just the brows
FOREHEAD_BOX_ABOVE_ARCH = 13.5  # with forehead lines, the window reaches this far above the arch
BROW_BOX_ABOVE_ARCH = 2.5  # else this far (plus half the brow thickness and any lift)
FOREHEAD_BOX_HALF_WIDTH = 23.0  # window half-width with forehead lines
BROW_BOX_SIDE = 1.0  # else slack beyond the outer brow ends
BROW_BOX_BELOW = 2.0  # window slack below the brows

# AU1 / AU2 forehead lines: horizontal, curved, central for AU1 and lateral for AU2
FOREHEAD_HALF_WIDTH = 21.0  # the lines' weights are functions of |du| / this
FOREHEAD_LINES_ABOVE_ARCH = 5.2  # the lowest line lies this far above the brow arch ...
FOREHEAD_LINE_CURVE = 1.4  # ... plus this at the midline (the lines bow upwards)
FOREHEAD_LINE_SPACING = 3.0
FOREHEAD_LINE_HALF_WIDTH = 0.42
FOREHEAD_LINES_BELOW = 1.0  # the lines fade in from this far below the lowest line ...
FOREHEAD_LINES_ABOVE = 7.0  # ... and out this far above it
AU1_WEIGHT_CENTRE = 1.15  # AU1 weight: clip(1.15 - 1.2 |du| / FOREHEAD_HALF_WIDTH, 0, 1)
AU1_WEIGHT_FALLOFF = 1.2
AU2_WEIGHT_RISE = 1.5  # AU2 weight: clip(1.5 |du| / FOREHEAD_HALF_WIDTH - 0.2, 0, 1)
AU2_WEIGHT_START = 0.2
FOREHEAD_EDGE = 22.0  # the lines fade out at this distance from the midline ...
FOREHEAD_EDGE_PIXELS = 0.25  # ... over 1 / this pixels
FOREHEAD_LINE_OPACITY = 0.5
FOREHEAD_LINE_SHADE = 0.6  # line colour: skin colour times this

# AU4 vertical furrows between the brows
FURROW_ABOVE_BROW = 1.5  # the furrows' reference line lies this far above the inner brow ends
FURROW_X = 0.45  # furrows at this fraction of the inner brow ends' distance from the midline ...
FURROW_SLANT = 0.25  # ... slanting outwards by this per unit downwards
FURROW_HALF_WIDTH = 0.5
FURROW_CENTRE = 2.6  # the furrows' centre lies this far below the reference line ...
FURROW_HALF_LENGTH = 2.8  # ... and they extend this far either way
FURROW_DARKNESS = 0.8  # at full AU4
FURROW_SHADE = 0.55  # furrow colour: skin colour times this

# the brows
BROW_HALF_THICKNESS_OUTER = 0.36  # half-thickness at the outer end, fraction of the brow thickness ...
BROW_HALF_THICKNESS_GROWTH = 0.2  # ... growing by this fraction towards the inner end
BROW_OPACITY = 0.92


def draw_brows(cv: Canvas, g: FaceGeometry, rows: np.ndarray) -> None:
    """Brows (debug features ``brow_r`` / ``brow_l``), AU1/AU2 forehead lines, AU4 furrows."""
    idn = g.identity
    mid = CANONICAL_CENTRE
    bo, yb, arch = idn.brow_outer_x, g.brow_line_y, idn.brow_arch
    forehead = (g.au.au1 > 0) | (g.au.au2 > 0)
    top = yb - np.where(forehead, arch + FOREHEAD_BOX_ABOVE_ARCH,
                        arch + BROW_BOX_ABOVE_ARCH + 0.5 * g.brow_thickness - g.brow_shift
                        - np.minimum(g.brow_inner_shift, 0) - np.minimum(g.brow_outer_shift, 0))
    half = np.where(forehead, FOREHEAD_BOX_HALF_WIDTH, bo + BROW_BOX_SIDE)
    p = cv.patch(rows, mid - half, top, mid + half,
                 yb + BROW_BOX_BELOW + g.brow_thickness + np.maximum(g.brow_inner_shift, 0) + g.brow_shift)
    s = p.s
    skin = idn.skin_rgb
    du = p.u - F32(mid)
    adu = np.abs(du)
    v = p.v
    ybp = per_face(yb)
    hair = below_hair_coverage(g, p, du, adu)
    # AU1 / AU2 forehead lines: central for AU1, lateral for AU2
    if forehead.any():
        xn = adu * F32(1 / FOREHEAD_HALF_WIDTH)
        vv = (ybp - per_face(arch) - F32(FOREHEAD_LINES_ABOVE_ARCH)
              - F32(FOREHEAD_LINE_CURVE) * (F32(1.0) - xn * xn) - v)
        rem = vv - F32(FOREHEAD_LINE_SPACING) * np.rint(vv * F32(1 / FOREHEAD_LINE_SPACING))
        a = band_coverage(rem, FOREHEAD_LINE_HALF_WIDTH, s)
        a *= half_plane_coverage(np.minimum(vv + F32(FOREHEAD_LINES_BELOW), F32(FOREHEAD_LINES_ABOVE) - vv),
                                 s)
        wgt = per_face(g.au.au1) * np.clip(F32(AU1_WEIGHT_CENTRE) - F32(AU1_WEIGHT_FALLOFF) * xn, 0.0, 1.0)
        wgt += per_face(g.au.au2) * np.clip(F32(AU2_WEIGHT_RISE) * xn - F32(AU2_WEIGHT_START), 0.0, 1.0)
        np.minimum(wgt, F32(1.0), out=wgt)
        a *= wgt
        a *= np.clip((F32(FOREHEAD_EDGE) - adu) * s * F32(FOREHEAD_EDGE_PIXELS), 0.0, 1.0)
        a *= hair
        a *= F32(FOREHEAD_LINE_OPACITY)
        cv.composite(p, a, cv.colour(skin * FOREHEAD_LINE_SHADE))
    bip = per_face(g.brow_inner_x)
    # AU4 vertical furrows between the brows
    if np.any(g.au.au4 > 0):
        vv = v - (ybp + per_face(g.brow_inner_shift + g.brow_shift) - F32(FURROW_ABOVE_BROW))
        a = band_coverage(adu - (bip * F32(FURROW_X) + F32(FURROW_SLANT) * vv), FURROW_HALF_WIDTH, s)
        a *= half_plane_coverage(F32(FURROW_HALF_LENGTH) - np.abs(vv - F32(FURROW_CENTRE)), s)
        a *= per_face(FURROW_DARKNESS * g.au.au4)
        cv.composite(p, a, cv.colour(skin * FURROW_SHADE))
    # brows
    bop, bth = per_face(bo), per_face(g.brow_thickness)
    t = (bop - adu) / (bop - bip)
    tt = np.clip(t, 0.0, 1.0)
    it = F32(1.0) - tt
    yc = (ybp + per_face(g.brow_shift) - (per_face(arch) - per_face(g.brow_arch_drop)) * F32(4.0) * tt * it
          + per_face(g.brow_inner_shift) * tt * tt + per_face(g.brow_outer_shift) * it * it)
    half_t = bth * (F32(BROW_HALF_THICKNESS_OUTER) + F32(BROW_HALF_THICKNESS_GROWTH) * tt)
    t -= F32(0.5)
    d = np.maximum(np.abs(v - yc) - half_t, (np.abs(t) - F32(0.5)) * (bop - bip))
    a = coverage_from_distance(d, s)
    if cv.debug is not None:
        right = du < 0
        cv.keep("brow_r", p, a * right)
        cv.keep("brow_l", p, a * ~right)
    a *= hair
    a *= F32(BROW_OPACITY)
    cv.composite(p, a, cv.colour(idn.brow_rgb))
    cv.commit(p)
