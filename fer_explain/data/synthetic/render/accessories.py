"""What covers the face: glasses (an identity trait) and occluders (a hand-like blob or a bar, a nuisance).

Both are drawn in the expression pass on face and twin alike, after every AU layer, so they hide
evidence exactly as they hide the face.
"""

from __future__ import annotations

import numpy as np

from fer_explain.data.synthetic.params import POSE
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

# glasses: two elliptic rims, a bridge and the arms to the head contour
GLASSES_BOX_SIDE = 0.5  # window slack beyond the head contour
GLASSES_BOX_ABOVE = 8.0  # the window spans from this far above the eye line ...
GLASSES_BOX_BELOW = 6.0  # ... to this far below it
LENS_BEYOND_EYE = 3.2  # lens half-width: eye half-width plus this, times the lens width factor
LENS_ABOVE_LID = 3.8  # lens half-height: neutral upper lid opening plus this
LENS_BELOW_EYE_LINE = 0.4  # lens centres lie this far below the eye line
RIM_HALF_WIDTH = 0.5  # half-width of the rims, bridge and arms
LENS_TINT_OPACITY = 0.1  # opacity of the lens glass ...
LENS_TINT_RGB = np.array([0.85, 0.9, 0.95])  # ... of this colour
BRIDGE_ABOVE_LENS_CENTRE = 1.5  # the bridge lies this far above the lens centres
ARM_ABOVE_LENS_CENTRE = 1.8  # the arms lie this far above the lens centres
ARM_BEYOND_HEAD = 0.5  # the arms end this far beyond the head contour's half-width

# occluders, in the occluder's own frame (units: canonical units / occluder size)
PALM_CENTRE_Y = 4.0  # the palm's centre lies this far below the occluder's centre
PALM_HALF_WIDTH = 8.0
PALM_HALF_HEIGHT = 9.0
FINGERS = ((-5.4, -9.0, 6.0), (-1.8, -11.0, 7.0), (1.8, -10.5, 6.8), (5.4, -8.5, 5.6))
"""Fingers of the hand-like occluder: centre x, centre y and half-length of each (a vertical ellipse)."""
FINGER_HALF_WIDTH = 1.7
THUMB_CENTRE = (9.0, 1.0)  # the thumb: a horizontal ellipse centred here ...
THUMB_HALF_WIDTH = 5.0  # ... with these semi-axes
THUMB_HALF_HEIGHT = 1.9
BAR_HALF_LENGTH = 32.0  # the bar occluder's half-length ...
BAR_HALF_HEIGHT = 4.5  # ... and half-height
OCCLUDER_HAND = 1  # ``occ_kind`` of the hand-like blob (2 is the bar)


def draw_glasses(cv: Canvas, g: FaceGeometry, rows: np.ndarray) -> None:
    """Glasses: faintly tinted lenses, rims, a bridge and arms, in the frame colour."""
    idn = g.identity
    mid = CANONICAL_CENTRE
    ha, ey = idn.head_half_width, idn.eye_line_y
    p = cv.patch(rows, mid - ha - GLASSES_BOX_SIDE, ey - GLASSES_BOX_ABOVE, mid + ha + GLASSES_BOX_SIDE,
                 ey + GLASSES_BOX_BELOW)
    s = p.s
    adu = np.abs(p.u - F32(mid))
    rx = per_face((idn.eye_half_width + LENS_BEYOND_EYE) * idn.lens_width_factor)
    ry = per_face(idn.upper_lid_height + LENS_ABOVE_LID)
    cy = per_face(ey + LENS_BELOW_EYE_LINE)
    dx = per_face(idn.eye_offset_x)
    k = np.sqrt(((adu - dx) / rx) ** 2 + ((p.v - cy) / ry) ** 2)
    k -= F32(1.0)
    k *= ry
    ring = band_coverage(k, RIM_HALF_WIDTH, s)
    inside = half_plane_coverage(-k, s)
    inside *= F32(LENS_TINT_OPACITY)
    cv.composite(p, inside, cv.colour(LENS_TINT_RGB, len(rows)))
    bridge = band_coverage(p.v - (cy - F32(BRIDGE_ABOVE_LENS_CENTRE)), RIM_HALF_WIDTH, s)
    bridge *= half_plane_coverage(dx - rx - adu, s)
    arm = band_coverage(p.v - (cy - F32(ARM_ABOVE_LENS_CENTRE)), RIM_HALF_WIDTH, s)
    arm *= half_plane_coverage(adu - (dx + rx), s)
    arm *= half_plane_coverage(per_face(ha) + F32(ARM_BEYOND_HEAD) - adu, s)
    a = np.maximum(np.maximum(ring, bridge), arm)
    cv.composite(p, a, cv.colour(idn.glasses_rgb))
    cv.commit(p)


def draw_occluders(cv: Canvas, pose: np.ndarray, rows: np.ndarray) -> None:
    """A hand-like blob (palm, fingers, thumb) or a bar over the face of each of the ``rows``."""
    pz = pose[rows]
    p = cv.patch(rows)
    oc, os_ = per_face(pz[:, POSE["occ_cos"]]), per_face(pz[:, POSE["occ_sin"]])
    size = per_face(pz[:, POSE["occ_size"]])
    du = p.u - per_face(pz[:, POSE["occ_x"]])
    dv = p.v - per_face(pz[:, POSE["occ_y"]])
    x = (oc * du + os_ * dv) / size
    y = (oc * dv - os_ * du) / size
    kind = per_face(pz[:, POSE["occ_kind"]])
    d = ellipse_distance(x, y - F32(PALM_CENTRE_Y), F32(PALM_HALF_WIDTH), F32(PALM_HALF_HEIGHT))
    for fx, fy, ry in FINGERS:
        np.minimum(d, ellipse_distance(x - F32(fx), y - F32(fy), F32(FINGER_HALF_WIDTH), F32(ry)), out=d)
    tx, ty = THUMB_CENTRE
    np.minimum(d, ellipse_distance(x - F32(tx), y - F32(ty), F32(THUMB_HALF_WIDTH), F32(THUMB_HALF_HEIGHT)),
               out=d)
    bar = np.maximum(np.abs(x) - F32(BAR_HALF_LENGTH), np.abs(y) - F32(BAR_HALF_HEIGHT))
    d = np.where(kind == OCCLUDER_HAND, d, bar)
    d *= size
    a = coverage_from_distance(d, p.s)
    col = np.stack([pz[:, POSE["occ_r"]], pz[:, POSE["occ_g"]], pz[:, POSE["occ_b"]]], axis=1)
    cv.composite(p, a, cv.colour(col))
    cv.commit(p)
