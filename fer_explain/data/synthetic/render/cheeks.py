"""The cheeks: blush and age lines (nasolabial folds) of the identity, AU6's raised cheeks, AU9's folds.

:func:`draw_blush_and_age_lines` belongs to the base pass (no AU); :func:`draw_cheeks` is the AU
layer (AU6 cheek raiser, AU9 nose wrinkler).
"""

from __future__ import annotations

import numpy as np

from fer_explain.data.synthetic.render.canvas import CANONICAL_CENTRE, Canvas, Patch
from fer_explain.data.synthetic.render.geometry import (
    AU9_NOSE_BASE_RISE,
    CHEEK_BELOW_EYE_LINE,
    FaceGeometry,
)
from fer_explain.data.synthetic.render.primitives import F32, band_coverage, half_plane_coverage, per_face

# blush (an elliptic wash centred below and outside each eye)
BLUSH_BOX_BEYOND_EYE = 9.0  # window half-width: eye offset plus this ...
BLUSH_BOX_BEYOND_MOUTH = 5.0  # ... or mouth half-width plus this, whichever is larger
BLUSH_BOX_BELOW_EYE_LINE = 5.0  # the window starts this far below the eye line ...
BLUSH_BOX_BELOW_MOUTH = 5.0  # ... and ends this far below the neutral mouth line
CHEEK_OUTSIDE_EYE = 2.5  # cheek centres lie this far further from the midline than the eye centres
BLUSH_HALF_WIDTH = 6.5  # semi-axes of the blush
BLUSH_HALF_HEIGHT = 4.5
BLUSH_SHADE = 0.55  # blush colour: skin colour times this plus BLUSH_RED
BLUSH_RED = np.array([0.42, 0.1, 0.1])
AGE_LINE_SCALE = 0.35  # neutral fold darkness: the identity's age lines times this ...
AGE_LINE_MAX = 0.9  # ... at most this

# nasolabial folds: a line from beside the nose wing down to beside the mouth corner
FOLD_TOP_ABOVE_NOSE_BASE = 1.0  # the fold starts this far above the (neutral) nose base ...
FOLD_TOP_OUTSIDE_NOSE = 1.6  # ... this far outside the neutral nose wing
FOLD_BOTTOM_BELOW_MOUTH = 4.5  # the fold ends this far below the neutral mouth line ...
FOLD_BOTTOM_OUTSIDE_MOUTH = 3.2  # ... this far outside the neutral mouth corner
FOLD_BULGE = 1.8  # outward bulge of the fold at its middle
FOLD_HALF_WIDTH = 0.5  # half-width of the fold line
FOLD_FADE = 0.5  # the fold fades to 1 - FOLD_FADE of its darkness towards its bottom end
FOLD_SHADE = 0.55  # fold colour: skin colour times this

# AU6: raised cheeks (a highlight above the neutral cheek centre)
CHEEK_BOX_BEYOND_EYE = 8.0  # window half-width: eye offset plus this
CHEEK_LIFT = 1.2  # the highlight lies this far above the (AU6-raised) cheek centre
CHEEK_BOX_HALF_HEIGHT = 3.5  # window half-height around the highlight
CHEEK_HIGHLIGHT_HALF_WIDTH = 4.8  # semi-axes of the highlight
CHEEK_HIGHLIGHT_HALF_HEIGHT = 3.0
CHEEK_HIGHLIGHT_OPACITY = 0.3  # at full AU6
CHEEK_HIGHLIGHT_GAIN = 1.18  # highlight colour: skin colour times this plus CHEEK_HIGHLIGHT_LIFT
CHEEK_HIGHLIGHT_LIFT = 0.05

# AU9: deeper nasolabial folds
AU9_FOLD_BOX_BEYOND_MOUTH = 5.5  # window half-width: mouth half-width plus this
AU9_FOLD_BOX_ABOVE_NOSE_BASE = 2.0  # the window starts this far above the nose base ...
AU9_FOLD_BOX_BELOW_MOUTH = 5.0  # ... and ends this far below the neutral mouth line
AU9_FOLD_DARKNESS = 0.6  # fold darkness at full AU9


def draw_nasolabial_folds(
    cv: Canvas, g: FaceGeometry, p: Patch, adu: np.ndarray, strength: np.ndarray
) -> None:
    """Nasolabial folds (both sides) with the given per-face darkness ``(k, 1, 1)`` into the patch ``p``.

    ``adu`` is the pixels' absolute canonical offset from the midline.
    """
    idn = g.identity
    # from the neutral nose wing
    vt = per_face(g.nose_base_y - FOLD_TOP_ABOVE_NOSE_BASE + AU9_NOSE_BASE_RISE * g.au.au9)
    vb = per_face(g.neutral_mouth_y + FOLD_BOTTOM_BELOW_MOUTH)
    xt = per_face(idn.nose_half_width + FOLD_TOP_OUTSIDE_NOSE)
    xb = per_face(idn.mouth_half_width + FOLD_BOTTOM_OUTSIDE_MOUTH)
    sv = (p.v - vt) / (vb - vt)
    xline = xt + (xb - xt) * sv + F32(FOLD_BULGE) * sv * (F32(1.0) - sv)
    a = band_coverage(adu - xline, FOLD_HALF_WIDTH, p.s)
    a *= half_plane_coverage((F32(0.5) - np.abs(sv - F32(0.5))) * (vb - vt), p.s)
    np.clip(sv, 0.0, 1.0, out=sv)
    sv *= F32(-FOLD_FADE)
    sv += F32(1.0)
    a *= sv
    a *= strength
    cv.composite(p, a, cv.colour(idn.skin_rgb * FOLD_SHADE))


def draw_blush_and_age_lines(cv: Canvas, g: FaceGeometry, rows: np.ndarray) -> None:
    """The identity's cheek blush and its (neutral) nasolabial folds."""
    idn = g.identity
    mid = CANONICAL_CENTRE
    half = np.maximum(idn.eye_offset_x + BLUSH_BOX_BEYOND_EYE, idn.mouth_half_width + BLUSH_BOX_BEYOND_MOUTH)
    p = cv.patch(rows, mid - half, idn.eye_line_y + BLUSH_BOX_BELOW_EYE_LINE, mid + half,
                 g.neutral_mouth_y + BLUSH_BOX_BELOW_MOUTH)
    adu = np.abs(p.u - F32(mid))
    dx = adu - per_face(idn.eye_offset_x + CHEEK_OUTSIDE_EYE)
    dv = p.v - per_face(idn.eye_line_y + CHEEK_BELOW_EYE_LINE)
    k2 = (dx * F32(1 / BLUSH_HALF_WIDTH)) ** 2 + (dv * F32(1 / BLUSH_HALF_HEIGHT)) ** 2
    blush = np.clip(F32(1.0) - k2, 0.0, 1.0)
    blush *= per_face(idn.blush)
    cv.composite(p, blush, cv.colour(idn.skin_rgb * BLUSH_SHADE + BLUSH_RED))
    draw_nasolabial_folds(cv, g, p, adu, per_face(np.minimum(idn.age_lines * AGE_LINE_SCALE, AGE_LINE_MAX)))
    cv.commit(p)


def draw_cheeks(cv: Canvas, g: FaceGeometry, rows: np.ndarray) -> None:
    """AU6 raises the cheeks (a lifted highlight); AU9 deepens the nasolabial folds."""
    mid = CANONICAL_CENTRE
    sub = np.flatnonzero(g.au.au6 > 0)
    if sub.size:
        gs = g.take(sub)
        eye_offset = gs.identity.eye_offset_x
        half = eye_offset + CHEEK_BOX_BEYOND_EYE
        cy = gs.cheek_y - CHEEK_LIFT
        box_h = CHEEK_BOX_HALF_HEIGHT
        p = cv.patch(rows[sub], mid - half, cy - box_h, mid + half, cy + box_h)
        dx = np.abs(p.u - F32(mid)) - per_face(eye_offset + CHEEK_OUTSIDE_EYE)
        dv = p.v - per_face(cy)
        k2 = ((dx * F32(1 / CHEEK_HIGHLIGHT_HALF_WIDTH)) ** 2
              + (dv * F32(1 / CHEEK_HIGHLIGHT_HALF_HEIGHT)) ** 2)
        hi = np.clip(F32(1.0) - k2, 0.0, 1.0)
        hi *= per_face(CHEEK_HIGHLIGHT_OPACITY * gs.au.au6)
        cv.composite(p, hi, cv.colour(np.minimum(gs.identity.skin_rgb * CHEEK_HIGHLIGHT_GAIN
                                                 + CHEEK_HIGHLIGHT_LIFT, 1.0)))
        cv.commit(p)
    sub = np.flatnonzero(g.au.au9 > 0)
    if sub.size:
        gs = g.take(sub)
        half = gs.identity.mouth_half_width + AU9_FOLD_BOX_BEYOND_MOUTH
        p = cv.patch(rows[sub], mid - half, gs.nose_base_y - AU9_FOLD_BOX_ABOVE_NOSE_BASE, mid + half,
                     gs.neutral_mouth_y + AU9_FOLD_BOX_BELOW_MOUTH)
        draw_nasolabial_folds(cv, gs, p, np.abs(p.u - F32(mid)), per_face(AU9_FOLD_DARKNESS * gs.au.au9))
        cv.commit(p)
