"""Where a face's features are: the geometry after the action units act on the identity.

:func:`face_geometry` combines a :class:`~.identity.FaceIdentity` with the AU intensities into a
:class:`FaceGeometry`: the parameters of the curves every feature is drawn from (and the 68 landmarks
lie on). Lengths and positions are in canonical units of the 100 x 100 unit face frame (``u`` to the
image right, ``v`` downwards, midline ``u = 50``); "up" means smaller ``v``. AU intensities are in
[0, 1]; each AU coefficient below is the effect of that AU at full intensity.

The shape profiles shared by the landmarks and the drawing code (lid opening, lip profiles, head
contour, brow curve) live here as well, so that both use the same curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_explain.data.synthetic.aus import CH
from fer_explain.data.synthetic.render.canvas import CANONICAL_CENTRE
from fer_explain.data.synthetic.render.identity import FaceIdentity, PerFaceRecord

# nose (AU9 nose wrinkler)
NOSE_TIP_TO_BASE = 3.0  # neutral nose tip (landmark 30) to nose base (landmark 33)
AU9_NOSE_BASE_RISE = 1.6  # AU9 lifts the nose base by this much
AU9_NOSE_WIDENING = 0.8  # AU9 widens the nose base's half-width by this much
AU9_NOSE_CURVE = 0.5  # AU9 adds this much to the nose base's rise towards the wings

# mouth: vertical position and corners
AU26_MOUTH_DROP = 1.0  # AU26 (jaw drop) lowers the mouth line by this much
CORNER_LIFT_AU12 = 4.8  # AU12 (lip corner puller) lifts its corner
CORNER_LIFT_AU14 = 1.4  # AU14 (dimpler) lifts its corner
CORNER_DROP_AU15 = 4.0  # AU15 (lip corner depressor) lowers both corners
CORNER_DROP_AU20 = 1.0  # AU20 (lip stretcher) lowers both corners
# mouth: width
WIDEN_AU12 = 2.6  # AU12 widens its half of the mouth
WIDEN_AU14 = 1.0  # AU14 widens its half of the mouth
WIDEN_AU20 = 3.8  # AU20 widens both halves
NARROW_AU23 = 2.0  # AU23 (lip tightener) narrows both halves
NARROW_AU26 = 2.6  # AU26 narrows both halves (less so while AU20 stretches the lips)
# mouth: opening (gaps from the mouth line to the inner lip edges, at the centre)
TIGHTEN_AU23 = 0.9  # AU23 closes the opening by this fraction
UPPER_OPENING_AU12 = 0.7  # a smile (the weaker AU12 side) parts the lips upwards
UPPER_OPENING_AU26 = 1.0
UPPER_OPENING_AU20 = 0.5
UPPER_OPENING_AU16 = 0.2
LOWER_OPENING_AU12 = 2.0
LOWER_OPENING_AU26 = 7.0
LOWER_OPENING_AU20 = 1.4
LOWER_OPENING_AU16 = 3.0  # AU16 (lower lip depressor)
UPPER_TEETH_HEIGHT = 0.8  # neutral visible height of the upper teeth below the upper inner lip
UPPER_TEETH_AU12 = 1.0  # a smile shows this much more upper teeth
LOWER_TEETH_AU20 = 0.6  # AU20 shows the lower teeth (AU16 shows them fully)
# mouth: lip thickness factors
UPPER_LIP_THIN_AU12 = 0.25  # a smile (the stronger AU12 side) thins the upper lip by this fraction
UPPER_LIP_THIN_AU20 = 0.3
UPPER_LIP_THIN_AU23 = 0.75
LOWER_LIP_THIN_AU12 = 0.2
LOWER_LIP_THIN_AU20 = 0.3
LOWER_LIP_THIN_AU23 = 0.75
LOWER_LIP_THICK_AU16 = 0.25  # AU16 everts (thickens) the lower lip

# eyes: lid opening factors
UPPER_LID_AU5 = 0.8  # AU5 (upper lid raiser) opens the upper lid by this fraction
UPPER_LID_AU7 = 0.35  # AU7 (lid tightener) closes it by this fraction
UPPER_LID_AU6 = 0.3  # AU6 (cheek raiser) closes it by this fraction
UPPER_LID_AU4 = 0.15  # AU4 (brow lowerer) closes it by this fraction
LOWER_LID_AU7 = 0.55  # AU7 raises the lower lid by this fraction of its opening
LOWER_LID_AU6 = 0.45  # AU6 raises the lower lid by this fraction of its opening
IRIS_ABOVE_EYE_LINE = 0.2  # iris centre above the eye line, fraction of the neutral upper lid height

# brows: brow curve y(t) = line - (arch - arch_drop) 4t(1-t) + inner t^2 + outer (1-t)^2 + shift
AU4_DAMPED_BY_AU1 = 0.6  # AU1 weakens AU4's lowering by this fraction (the sad brow)
BROW_INNER_RAISE_AU1 = 5.0  # AU1 (inner brow raiser) lifts the inner end
BROW_INNER_LOWER_AU4 = 3.8  # AU4 lowers the inner end
BROW_OUTER_RAISE_AU2 = 4.5  # AU2 (outer brow raiser) lifts the outer end
BROW_ARCH_AU2 = 2.0  # AU2 raises the arch
BROW_RAISE_AU1 = 0.8  # AU1 lifts the whole brow
BROW_RAISE_AU2 = 1.5  # AU2 lifts the whole brow
BROW_LOWER_AU4 = 1.4  # AU4 lowers the whole brow
BROW_INNER_IN_AU4 = 1.8  # AU4 pulls the inner ends towards the midline
BROW_INNER_OUT_AU1 = 0.3  # AU1 moves the inner ends away from the midline
BROW_THICKEN_AU4 = 0.15  # AU4 thickens the brows by this fraction

# cheeks
CHEEK_BELOW_EYE_LINE = 10.5  # neutral cheek (blush) centre below the eye line
CHEEK_RAISE_AU6 = 2.2  # AU6 lifts the cheeks

# shape profiles
LID_PROFILE_SQRT_WEIGHT = 0.55  # lid opening profile: weight of sqrt(1 - q^2) ...
LID_PROFILE_LINEAR_WEIGHT = 0.45  # ... and of 1 - q^2 (the two sum to 1)
MOUTH_LINE_T2 = 0.6  # the mouth line bends towards a lifted corner as (0.6 t^2 + 0.4 t^4) * lift ...
MOUTH_LINE_T4 = 0.4  # ... (t: -1 right corner .. 1 left corner)
MOUTH_INNER_CORNER = 0.82  # the mouth interior ends at |t| = this (t: -1 right corner .. 1 left corner)
CUPIDS_BOW_HALF_WIDTH = 0.22  # half-width of the Cupid's bow dip, in t
HEAD_LOWER_LIMIT = 1.15  # the head contour narrows down to this normalised height below the centre
HEAD_UPPER_LIMIT = 1.3  # ... and up to this normalised height above it
HEAD_TOP_NARROWING = 0.06  # fraction of the half-width lost at normalised height 1 above the centre
HEAD_MIN_WIDTH = 0.25  # the contour keeps at least this fraction of the half-width


@dataclass(frozen=True)
class ActionUnits(PerFaceRecord):
    """AU intensities of N faces (float64 ``(N,)`` arrays in [0, 1]), one field per AU channel.

    ``_r`` / ``_l`` are the subject's right (image left) and left sides of AU12 and AU14.
    """

    au1: np.ndarray
    """Inner brow raiser."""
    au2: np.ndarray
    """Outer brow raiser."""
    au4: np.ndarray
    """Brow lowerer."""
    au5: np.ndarray
    """Upper lid raiser."""
    au6: np.ndarray
    """Cheek raiser."""
    au7: np.ndarray
    """Lid tightener."""
    au9: np.ndarray
    """Nose wrinkler."""
    au12_r: np.ndarray
    """Lip corner puller, right side."""
    au12_l: np.ndarray
    """Lip corner puller, left side."""
    au14_r: np.ndarray
    """Dimpler, right side."""
    au14_l: np.ndarray
    """Dimpler, left side."""
    au15: np.ndarray
    """Lip corner depressor."""
    au16: np.ndarray
    """Lower lip depressor."""
    au20: np.ndarray
    """Lip stretcher."""
    au23: np.ndarray
    """Lip tightener."""
    au26: np.ndarray
    """Jaw drop."""

    @classmethod
    def from_channels(cls, au: np.ndarray) -> ActionUnits:
        """From AU channel vectors ``(N, 16)`` in :data:`~..aus.AU_CHANNELS` order."""
        return cls(**{name.replace("_", "", 1): au[:, i].astype(np.float64) for name, i in CH.items()})

    def lip_corner_puller(self, side: str) -> np.ndarray:
        """AU12 of one side (``"r"`` or ``"l"``)."""
        return self.au12_r if side == "r" else self.au12_l

    def dimpler(self, side: str) -> np.ndarray:
        """AU14 of one side (``"r"`` or ``"l"``)."""
        return self.au14_r if side == "r" else self.au14_l


@dataclass(frozen=True)
class FaceGeometry(PerFaceRecord):
    """Feature geometry of N faces (``(N,)`` arrays, canonical units) with their identity and AUs.

    Landmark numbers are iBUG 68-point indices (0-based).
    """

    identity: FaceIdentity
    """The identity traits the geometry starts from."""
    au: ActionUnits
    """The AU intensities the face shows."""
    head_half_height: np.ndarray
    """Head centre to chin (the head contour's vertical semi-axis)."""
    chin_y: np.ndarray
    """v of the chin (landmark 8)."""
    bridge_top_y: np.ndarray
    """v of the top of the nose bridge (landmark 27, on the eye line)."""
    nose_tip_y: np.ndarray
    """v of the nose tip (landmark 30)."""
    nose_base_y: np.ndarray
    """v of the centre of the nose base (landmark 33); AU9 lifts it."""
    nose_half_width: np.ndarray
    """Half-width of the nose base (landmarks 31, 35); AU9 widens it."""
    nose_base_curve: np.ndarray
    """Rise of the nose base line from the centre to the wings."""
    neutral_mouth_y: np.ndarray
    """v of the mouth line without AUs (anchors the chin, folds and blush)."""
    mouth_y: np.ndarray
    """v of the mouth line at the centre."""
    corner_lift_r: np.ndarray
    """How far the right mouth corner lies above the mouth line (negative: below)."""
    corner_lift_l: np.ndarray
    """How far the left mouth corner lies above the mouth line (negative: below)."""
    mouth_half_width_r: np.ndarray
    """Centre to right mouth corner."""
    mouth_half_width_l: np.ndarray
    """Centre to left mouth corner."""
    upper_opening: np.ndarray
    """Mouth line to the upper inner lip edge at the centre (0: closed)."""
    lower_opening: np.ndarray
    """Mouth line to the lower inner lip edge at the centre (0: closed)."""
    upper_teeth_height: np.ndarray
    """Visible height of the upper teeth below the upper inner lip edge."""
    lower_teeth: np.ndarray
    """Opacity of the lower teeth, in [0, 1]."""
    upper_lip_thickness: np.ndarray
    """Upper lip thickness at the centre."""
    lower_lip_thickness: np.ndarray
    """Lower lip thickness at the centre."""
    upper_lid_height: np.ndarray
    """Opening of the upper lid above the eye line at the eye's centre."""
    lower_lid_height: np.ndarray
    """Opening of the lower lid below the eye line at the eye's centre."""
    eye_centre_x_r: np.ndarray
    """u of the right eye's centre (image left)."""
    eye_centre_x_l: np.ndarray
    """u of the left eye's centre (image right)."""
    iris_centre_y: np.ndarray
    """v of the iris centres."""
    brow_line_y: np.ndarray
    """v of the neutral brow line (eye line minus the brow height)."""
    brow_inner_shift: np.ndarray
    """Downward shift of the brows' inner ends (AU1 raises, AU4 lowers)."""
    brow_outer_shift: np.ndarray
    """Downward shift of the brows' outer ends (AU2 raises)."""
    brow_arch_drop: np.ndarray
    """Reduction of the brow arch height (negative: a higher arch, AU2)."""
    brow_shift: np.ndarray
    """Downward shift of the whole brow."""
    brow_inner_x: np.ndarray
    """Distance of the brows' inner ends from the midline."""
    brow_thickness: np.ndarray
    """Brow thickness."""
    cheek_y: np.ndarray
    """v of the cheek centres (AU6 lifts them)."""

    def mouth_half_width(self, side: str) -> np.ndarray:
        """Centre to the mouth corner of one side (``"r"`` or ``"l"``)."""
        return self.mouth_half_width_r if side == "r" else self.mouth_half_width_l

    def corner_lift(self, side: str) -> np.ndarray:
        """Lift of the mouth corner of one side (``"r"`` or ``"l"``)."""
        return self.corner_lift_r if side == "r" else self.corner_lift_l

    def eye_centre_x(self, side: str) -> np.ndarray:
        """u of the centre of one eye (``"r"`` or ``"l"``)."""
        return self.eye_centre_x_r if side == "r" else self.eye_centre_x_l


def face_geometry(idn: FaceIdentity, au_channels: np.ndarray) -> FaceGeometry:
    """Feature geometry after the action units ``au_channels`` (N, 16) act on the identity ``idn``."""
    a = ActionUnits.from_channels(au_channels)
    eye_y = idn.eye_line_y
    # nose
    bridge_top_y = eye_y.copy()
    nose_tip_y = eye_y + idn.nose_length
    nose_base_y = eye_y + idn.nose_length + NOSE_TIP_TO_BASE - AU9_NOSE_BASE_RISE * a.au9
    neutral_nose_base_y = eye_y + idn.nose_length + NOSE_TIP_TO_BASE
    # mouth
    neutral_mouth_y = neutral_nose_base_y + idn.mouth_offset
    smile_max = np.maximum(a.au12_r, a.au12_l)
    smile_min = np.minimum(a.au12_r, a.au12_l)
    lift, half_width = {}, {}
    for s in ("r", "l"):
        a12, a14 = a.lip_corner_puller(s), a.dimpler(s)
        lift[s] = (CORNER_LIFT_AU12 * a12 + CORNER_LIFT_AU14 * a14 - CORNER_DROP_AU15 * a.au15
                   - CORNER_DROP_AU20 * a.au20)
        half_width[s] = (idn.mouth_half_width + WIDEN_AU12 * a12 + WIDEN_AU14 * a14 + WIDEN_AU20 * a.au20
                         - NARROW_AU23 * a.au23 - NARROW_AU26 * a.au26 * (1 - a.au20))
    tight = 1.0 - TIGHTEN_AU23 * a.au23
    upper_opening = (UPPER_OPENING_AU12 * smile_min + UPPER_OPENING_AU26 * a.au26
                     + UPPER_OPENING_AU20 * a.au20 + UPPER_OPENING_AU16 * a.au16) * tight
    lower_opening = (LOWER_OPENING_AU12 * smile_min + LOWER_OPENING_AU26 * a.au26
                     + LOWER_OPENING_AU20 * a.au20 + LOWER_OPENING_AU16 * a.au16) * tight
    upper_lip = idn.upper_lip_thickness * (1 - UPPER_LIP_THIN_AU12 * smile_max - UPPER_LIP_THIN_AU20 * a.au20
                                           - UPPER_LIP_THIN_AU23 * a.au23)
    lower_lip = idn.lower_lip_thickness * (1 - LOWER_LIP_THIN_AU12 * smile_max - LOWER_LIP_THIN_AU20 * a.au20
                                           - LOWER_LIP_THIN_AU23 * a.au23 + LOWER_LIP_THICK_AU16 * a.au16)
    # head: the chin lies below the neutral mouth
    chin_y = neutral_mouth_y + idn.chin_length
    # eyes
    upper_lid = (idn.upper_lid_height * (1 + UPPER_LID_AU5 * a.au5) * (1 - UPPER_LID_AU7 * a.au7)
                 * (1 - UPPER_LID_AU6 * a.au6) * (1 - UPPER_LID_AU4 * a.au4))
    lower_lid = idn.lower_lid_height * (1 - LOWER_LID_AU7 * a.au7) * (1 - LOWER_LID_AU6 * a.au6)
    # brows
    lowering = a.au4 * (1 - AU4_DAMPED_BY_AU1 * a.au1)
    return FaceGeometry(
        identity=idn,
        au=a,
        head_half_height=chin_y - idn.head_centre_y,
        chin_y=chin_y,
        bridge_top_y=bridge_top_y,
        nose_tip_y=nose_tip_y,
        nose_base_y=nose_base_y,
        nose_half_width=idn.nose_half_width + AU9_NOSE_WIDENING * a.au9,
        nose_base_curve=idn.nose_base_curve + AU9_NOSE_CURVE * a.au9,
        neutral_mouth_y=neutral_mouth_y,
        mouth_y=neutral_mouth_y + AU26_MOUTH_DROP * a.au26,
        corner_lift_r=lift["r"],
        corner_lift_l=lift["l"],
        mouth_half_width_r=half_width["r"],
        mouth_half_width_l=half_width["l"],
        upper_opening=upper_opening,
        lower_opening=lower_opening,
        upper_teeth_height=UPPER_TEETH_HEIGHT + UPPER_TEETH_AU12 * smile_min,
        lower_teeth=np.clip(a.au16 + LOWER_TEETH_AU20 * a.au20, 0.0, 1.0),
        upper_lip_thickness=upper_lip,
        lower_lip_thickness=lower_lip,
        upper_lid_height=upper_lid,
        lower_lid_height=lower_lid,
        eye_centre_x_r=CANONICAL_CENTRE - idn.eye_offset_x,
        eye_centre_x_l=CANONICAL_CENTRE + idn.eye_offset_x,
        iris_centre_y=eye_y - IRIS_ABOVE_EYE_LINE * idn.upper_lid_height,
        brow_line_y=eye_y - idn.brow_height,
        brow_inner_shift=-BROW_INNER_RAISE_AU1 * a.au1 + BROW_INNER_LOWER_AU4 * lowering,
        brow_outer_shift=-BROW_OUTER_RAISE_AU2 * a.au2,
        brow_arch_drop=-BROW_ARCH_AU2 * a.au2,
        brow_shift=-BROW_RAISE_AU1 * a.au1 - BROW_RAISE_AU2 * a.au2 + BROW_LOWER_AU4 * lowering,
        brow_inner_x=idn.brow_inner_x - BROW_INNER_IN_AU4 * a.au4 + BROW_INNER_OUT_AU1 * a.au1,
        brow_thickness=idn.brow_thickness * (1 + BROW_THICKEN_AU4 * a.au4),
        cheek_y=eye_y + CHEEK_BELOW_EYE_LINE - CHEEK_RAISE_AU6 * a.au6,
    )


# --------------------------------------------------------------------------------------------------
# shape profiles (shared by the landmarks and the drawing code)
# --------------------------------------------------------------------------------------------------


def brow_centre_y(g: FaceGeometry, t: np.ndarray) -> np.ndarray:
    """Brow centre line at position t (0 outer end .. 1 inner end), float64; broadcasts over t."""
    sh = (-1,) + (1,) * (t.ndim - 1) if t.ndim > 1 else (-1, 1)

    def col(x: np.ndarray) -> np.ndarray:
        return x.reshape(sh)

    return (col(g.brow_line_y) - (col(g.identity.brow_arch) - col(g.brow_arch_drop)) * 4 * t * (1 - t)
            + col(g.brow_inner_shift) * t * t + col(g.brow_outer_shift) * (1 - t) * (1 - t)
            + col(g.brow_shift))


def lid_profile(q: np.ndarray) -> np.ndarray:
    """Lid opening along the eye, as a fraction of the opening at the centre (q: -1 .. 1 corner to corner)."""
    z = np.maximum(1.0 - q * q, 0.0)
    return LID_PROFILE_SQRT_WEIGHT * np.sqrt(z) + LID_PROFILE_LINEAR_WEIGHT * z


def mouth_profiles(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Profiles along the mouth (t: -1 right corner .. 1 left corner), each 1 at the centre.

    Returns the opening profile (0 beyond the inner corners), the lip thickness profile and the
    Cupid's bow dip.
    """
    z = np.maximum(1.0 - (t / MOUTH_INNER_CORNER) ** 2, 0.0)
    opening = 0.5 * z + 0.5 * np.sqrt(z)
    z1 = np.maximum(1.0 - t * t, 0.0)
    thickness = 0.5 * np.sqrt(z1) + 0.5 * z1
    bow = np.maximum(1.0 - (t / CUPIDS_BOW_HALF_WIDTH) ** 2, 0.0)
    return opening, thickness, bow


def head_half_width(half_width: np.ndarray, taper: np.ndarray, vn: np.ndarray) -> np.ndarray:
    """Half-width of the head contour at normalised height ``vn`` (0 centre, 1 chin, negative above)."""
    below = np.clip(vn, 0.0, HEAD_LOWER_LIMIT)
    above = np.clip(vn, -HEAD_UPPER_LIMIT, 0.0)
    return half_width * np.maximum(1.0 - taper * below * below - HEAD_TOP_NARROWING * above * above,
                                   HEAD_MIN_WIDTH)
