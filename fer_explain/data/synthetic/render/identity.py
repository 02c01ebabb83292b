"""Who a face is: the identity traits (shape, colours, hair, accessories) drawn from its identity uniforms.

:func:`face_identity` turns the ``(N, N_ID)`` identity uniforms of :class:`~..params.FaceParams` into a
:class:`FaceIdentity`, a record of per-face arrays. Lengths and positions are in *canonical units* of
the 100 x 100 unit face frame (``u`` grows to the image right, ``v`` downwards; the face's midline is
``u = 50``); colours are RGB in [0, 1]. Every trait is ``base + span * uniform`` unless said otherwise;
the ``(base, span)`` pairs are the module constants below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from fer_explain.data.synthetic.params import N_ID

if TYPE_CHECKING:
    from typing_extensions import Self

# --------------------------------------------------------------------------------------------------
# palettes and categories
# --------------------------------------------------------------------------------------------------

HAIR_PALETTE = np.array([
    [0.07, 0.06, 0.06], [0.20, 0.13, 0.08], [0.38, 0.25, 0.14], [0.76, 0.62, 0.38],
    [0.55, 0.24, 0.11], [0.62, 0.62, 0.62],
])
"""Base hair colours (RGB), in the order of :data:`HAIR_NAMES`."""

HAIR_NAMES = ("black", "dark brown", "brown", "blond", "red", "grey")
"""Names of the hair colours (``FaceIdentity.hair_colour_id`` indexes this)."""

IRIS_PALETTE = np.array([
    [0.30, 0.18, 0.10], [0.14, 0.09, 0.06], [0.28, 0.44, 0.62], [0.28, 0.45, 0.30], [0.45, 0.34, 0.18],
])
"""Iris colours (RGB): brown, dark brown, blue, green, hazel."""

HAIR_STYLES = ("short", "long", "bangs", "bald")
"""Names of the hair styles (``FaceIdentity.hair_style`` indexes this)."""

HAIR_SHORT, HAIR_LONG, HAIR_BANGS, HAIR_BALD = range(4)
"""Indices of the hair styles in :data:`HAIR_STYLES`."""

HAIR_STYLE_CUTS = (0.42, 0.7, 0.92)
"""Cumulative probabilities of short, long and bangs (the rest is bald)."""

SKIN_DARK = np.array([0.33, 0.21, 0.15])
"""Darkest skin colour (RGB), at skin lightness 0."""

SKIN_LIGHT = np.array([0.98, 0.85, 0.75])
"""Lightest skin colour (RGB), at skin lightness 1."""

SKIN_WARMTH = 0.05
"""Largest red-up/blue-down (or the reverse) shift of the skin colour."""

FIRST_LIGHT_HAIR = 3
"""Hair colours from this id on (blond, red, grey) get brows darker than the hair."""

LIGHT_HAIR_BROW_SHADE = 0.55
"""Brow colour of light hair colours, as a factor on the base hair colour."""

DARK_HAIR_BROW_SHADE = 0.8
"""Brow colour of dark hair colours, as a factor on the base hair colour."""

LIP_RED = np.array([0.74, 0.30, 0.32])
"""Lip pigment (RGB) mixed into the skin colour for the lips."""

DARK_FRAME_RGB = np.array([[0.08, 0.07, 0.07]])
"""Colour of dark glasses frames."""

DARK_FRAME_PROBABILITY = 0.6
"""Probability that glasses have dark frames (else a colour from the uniforms)."""

COLOURED_FRAME_SHADE = 0.7
"""Brightness factor of coloured glasses frames."""

GLASSES_PROBABILITY = 0.18
"""Fraction of identities that wear glasses."""

# --------------------------------------------------------------------------------------------------
# trait ranges: (base, span) of ``base + span * uniform``
# --------------------------------------------------------------------------------------------------

HEAD_HALF_WIDTH = (27.5, 4.0)  # canonical units
HEAD_CENTRE_Y = (46.0, 2.0)  # canonical units
JAW_TAPER = (0.20, 0.18)  # fraction of the head's half-width lost towards the chin
HAIR_SHADE = (0.85, 0.3)  # factor on the base hair colour
HAIRLINE_Y = (17.0, 5.0)  # canonical units (at the midline)
HAIR_THICKNESS = (1.5, 3.0)  # canonical units of hair outside the head contour
EYE_OFFSET_X = (13.2, 2.2)  # eye centre to the midline, canonical units
EYE_LINE_ABOVE_HEAD_CENTRE = 3.0  # canonical units, plus a jitter of +/- half EYE_LINE_JITTER
EYE_LINE_JITTER = 2.0  # canonical units (full range)
EYE_HALF_WIDTH = (5.4, 1.3)  # canonical units
UPPER_LID_HEIGHT = (2.5, 0.9)  # neutral opening above the eye line, canonical units
LOWER_LID_HEIGHT = (1.8, 0.6)  # neutral opening below the eye line, canonical units
EYE_TILT = (-0.4, 1.2)  # outer corners this much above the eye line, canonical units
IRIS_RADIUS = (0.44, 0.08)  # fraction of the eye's half-width
GAZE_RANGE = 0.8  # horizontal iris offset range (full range, centred on 0), canonical units
BROW_HEIGHT = (7.0, 2.0)  # eye line to brow line, canonical units
BROW_THICKNESS = (1.6, 1.1)  # canonical units
BROW_INNER_X = (3.8, 1.8)  # inner brow end to the midline, canonical units
BROW_OUTER_BEYOND_EYE = (1.5, 2.0)  # outer brow end beyond the outer eye corner, canonical units
BROW_ARCH = (0.8, 1.8)  # arch height of the brow, canonical units
NOSE_LENGTH = (14.5, 3.0)  # eye line to the nose tip (landmark 30), canonical units
NOSE_HALF_WIDTH = (4.3, 1.6)  # half-width of the nose base, canonical units
NOSE_BASE_CURVE = (1.2, 0.8)  # how much the nose base rises at the wings, canonical units
MOUTH_OFFSET = (8.5, 2.0)  # nose base to the mouth line, canonical units
MOUTH_HALF_WIDTH = (9.5, 2.5)  # canonical units
UPPER_LIP_THICKNESS = (1.9, 0.7)  # canonical units
LOWER_LIP_THICKNESS = (2.6, 0.8)  # canonical units
LIP_REDNESS = (0.35, 0.4)  # weight of LIP_RED against the skin colour
LIP_PIGMENT_SHADE = (0.55, 0.45)  # brightness of LIP_RED, over skin lightness (not a uniform)
CUPIDS_BOW = (0.15, 0.3)  # depth of the bow, fraction of the upper lip thickness
CHIN_LENGTH = (13.5, 3.0)  # mouth line to the chin, canonical units
EAR_SCALE = (0.9, 0.25)  # factor on the ear's size
LENS_WIDTH = (1.0, 0.25)  # factor on the glasses lens width
BLUSH = (0.05, 0.25)  # opacity of the cheek blush
AGE_LINES = (0.05, 0.35)  # darkness of the age lines (nasolabial folds)
BACKGROUND_LIGHTNESS = (0.2, 0.65)  # grey level of the background
BACKGROUND_TINT = 0.3  # largest relative colour tint of the background (full range)
CLOTHES_COLOUR = (0.05, 0.8)  # per RGB channel
NECK_WIDTH = (0.42, 0.1)  # neck half-width, fraction of the head half-width

IDENTITY_UNIFORMS: tuple[str, ...] = (
    "head_width", "head_y", "jaw_taper", "skin_lightness", "skin_warmth", "hair_style", "hair_colour",
    "hair_shade", "hairline", "hair_thickness", "eye_offset", "eye_line", "eye_width", "upper_lid",
    "lower_lid", "eye_tilt", "iris_colour", "iris_radius", "gaze", "brow_height", "brow_thickness",
    "brow_inner", "brow_outer", "brow_arch", "nose_length", "nose_width", "nose_curve", "mouth_offset",
    "mouth_width", "upper_lip", "lower_lip", "lip_redness", "cupids_bow", "chin_length", "ear_scale",
    "glasses", "frame_colour", "frame_green_and_lens_width", "blush", "age_lines", "background",
    "background_r", "background_g", "background_b", "clothes_r", "clothes_g", "clothes_b",
    "light_side_and_neck_width",
)
"""Meaning of each of the ``N_ID`` identity uniforms, in order."""
assert len(IDENTITY_UNIFORMS) == N_ID
_U = {name: i for i, name in enumerate(IDENTITY_UNIFORMS)}


class PerFaceRecord:
    """Mixin of the per-face records: dataclasses whose fields are arrays (or records) indexed by face."""

    def take(self, rows: np.ndarray) -> Self:
        """The record of the faces ``rows`` (every array indexed by ``rows``, nested records too)."""
        values = {f.name: _take(getattr(self, f.name), rows) for f in fields(self)}  # type: ignore[arg-type]
        return type(self)(**values)

    @classmethod
    def concatenate(cls, records: Sequence[Self]) -> Self:
        """One record of the faces of several records, in order."""
        return cls(**{f.name: _concatenate([getattr(r, f.name) for r in records])  # type: ignore[arg-type]
                      for f in fields(cls)})  # type: ignore[arg-type]


def _take(value: object, rows: np.ndarray) -> object:
    if isinstance(value, PerFaceRecord):
        return value.take(rows)
    return value[rows]  # type: ignore[index]


def _concatenate(values: list) -> object:
    if isinstance(values[0], PerFaceRecord):
        return type(values[0]).concatenate(values)
    return np.concatenate(values)


@dataclass(frozen=True)
class FaceIdentity(PerFaceRecord):
    """Identity traits of N faces: each field an ``(N,)`` array, colours ``(N, 3)`` RGB in [0, 1].

    Lengths and positions are in canonical units (see the module docstring).
    """

    head_half_width: np.ndarray
    """Half-width of the head contour at the head centre."""
    head_centre_y: np.ndarray
    """v of the head centre (the widest point of the head)."""
    jaw_taper: np.ndarray
    """Fraction of the half-width lost towards the chin (a narrower jaw when larger)."""
    skin_rgb: np.ndarray
    """Skin colour."""
    skin_lightness: np.ndarray
    """Skin lightness in [0, 1] (0: SKIN_DARK, 1: SKIN_LIGHT)."""
    hair_style: np.ndarray
    """Index into :data:`HAIR_STYLES` (int64)."""
    hair_colour_id: np.ndarray
    """Index into :data:`HAIR_NAMES` / :data:`HAIR_PALETTE` (int64)."""
    hair_rgb: np.ndarray
    """Hair colour."""
    hairline_y: np.ndarray
    """v of the hairline at the midline."""
    hair_thickness: np.ndarray
    """Thickness of the hair outside the head contour."""
    eye_offset_x: np.ndarray
    """Distance of each eye's centre from the midline."""
    eye_line_y: np.ndarray
    """v of the eye line (through the eye centres); also the top of the nose bridge."""
    eye_half_width: np.ndarray
    """Half-width of each eye (centre to corner)."""
    upper_lid_height: np.ndarray
    """Neutral opening of the upper lid above the eye line, at the eye's centre."""
    lower_lid_height: np.ndarray
    """Neutral opening of the lower lid below the eye line, at the eye's centre."""
    eye_tilt: np.ndarray
    """Canthal tilt: the outer eye corners lie this much above the eye line (inner ones as much below)."""
    iris_rgb: np.ndarray
    """Iris colour."""
    iris_radius: np.ndarray
    """Iris radius."""
    gaze_offset_x: np.ndarray
    """Horizontal offset of the irises from the eye centres."""
    brow_height: np.ndarray
    """Distance from the eye line up to the brow line."""
    brow_thickness: np.ndarray
    """Neutral brow thickness."""
    brow_inner_x: np.ndarray
    """Neutral distance of the brows' inner ends from the midline."""
    brow_outer_x: np.ndarray
    """Distance of the brows' outer ends from the midline."""
    brow_arch: np.ndarray
    """Neutral arch height of the brows."""
    brow_rgb: np.ndarray
    """Brow colour."""
    nose_length: np.ndarray
    """Eye line to the nose tip (landmark 30)."""
    nose_half_width: np.ndarray
    """Neutral half-width of the nose base (landmarks 31 and 35)."""
    nose_base_curve: np.ndarray
    """Neutral rise of the nose base line from the centre to the wings."""
    mouth_offset: np.ndarray
    """Neutral nose base (landmark 33) to the mouth line."""
    mouth_half_width: np.ndarray
    """Neutral half-width of the mouth (centre to corner)."""
    upper_lip_thickness: np.ndarray
    """Neutral upper lip thickness at the centre."""
    lower_lip_thickness: np.ndarray
    """Neutral lower lip thickness at the centre."""
    lip_rgb: np.ndarray
    """Lip colour."""
    cupids_bow: np.ndarray
    """Depth of the Cupid's bow, as a fraction of the upper lip thickness."""
    chin_length: np.ndarray
    """Neutral mouth line to the chin."""
    ear_scale: np.ndarray
    """Factor on the ears' size."""
    glasses: np.ndarray
    """1.0 for faces that wear glasses, else 0.0."""
    glasses_rgb: np.ndarray
    """Colour of the glasses frame."""
    lens_width_factor: np.ndarray
    """Factor on the lens width."""
    blush: np.ndarray
    """Opacity of the cheek blush."""
    age_lines: np.ndarray
    """Darkness of the age lines (neutral nasolabial folds)."""
    background_rgb: np.ndarray
    """Background colour."""
    clothes_rgb: np.ndarray
    """Colour of the clothes."""
    light_side: np.ndarray
    """-1.0 or 1.0: the side (image left / right) the nose bridge shadow falls on."""
    neck_width_factor: np.ndarray
    """Neck half-width as a fraction of the head half-width."""


def _spread(u: np.ndarray, base_span: tuple[float, float]) -> np.ndarray:
    """``base + span * u`` for a ``(base, span)`` trait range."""
    base, span = base_span
    return base + span * u


def _palette_index(u: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Uniforms in [0, 1) -> an index into ``palette`` (int64)."""
    return np.minimum((u * len(palette)).astype(np.int64), len(palette) - 1)


def face_identity(u: np.ndarray) -> FaceIdentity:
    """Identity traits from the identity uniforms ``u`` (N, N_ID), see :data:`IDENTITY_UNIFORMS`."""
    assert u.shape[1] == N_ID

    def uni(name: str) -> np.ndarray:
        return u[:, _U[name]]

    lightness = uni("skin_lightness")
    skin = SKIN_DARK[None] + lightness[:, None] * (SKIN_LIGHT - SKIN_DARK)[None]
    warm = SKIN_WARMTH * (uni("skin_warmth") - 0.5)
    skin[:, 0] += warm
    skin[:, 2] -= warm
    skin = np.clip(skin, 0, 1)
    s = uni("hair_style")
    short_cut, long_cut, bangs_cut = HAIR_STYLE_CUTS
    hair_style = np.where(s < short_cut, HAIR_SHORT, np.where(s < long_cut, HAIR_LONG, np.where(
        s < bangs_cut, HAIR_BANGS, HAIR_BALD))).astype(np.int64)
    hair_id = _palette_index(uni("hair_colour"), HAIR_PALETTE)
    hair = np.clip(HAIR_PALETTE[hair_id] * _spread(uni("hair_shade"), HAIR_SHADE)[:, None], 0, 1)
    eye_offset = _spread(uni("eye_offset"), EYE_OFFSET_X)
    head_y = _spread(uni("head_y"), HEAD_CENTRE_Y)
    eye_half_width = _spread(uni("eye_width"), EYE_HALF_WIDTH)
    brow_outer = eye_offset + eye_half_width + BROW_OUTER_BEYOND_EYE[0] + BROW_OUTER_BEYOND_EYE[1] * uni(
        "brow_outer")
    dark_hair_brow = np.clip(HAIR_PALETTE[hair_id] * DARK_HAIR_BROW_SHADE, 0, 1)
    brow = np.where((hair_id >= FIRST_LIGHT_HAIR)[:, None],
                    np.clip(HAIR_PALETTE[hair_id] * LIGHT_HAIR_BROW_SHADE, 0, 1), dark_hair_brow)
    redness = _spread(uni("lip_redness"), LIP_REDNESS)
    pigment = LIP_RED[None] * _spread(lightness, LIP_PIGMENT_SHADE)[:, None]
    lip = skin * (1 - redness[:, None]) + pigment * redness[:, None]
    frame_u, frame_green = uni("frame_colour"), uni("frame_green_and_lens_width")
    coloured_frame = np.stack([frame_u, 0.5 * frame_green, 1 - frame_u], axis=1) * COLOURED_FRAME_SHADE
    glasses_rgb = np.where((frame_u < DARK_FRAME_PROBABILITY)[:, None], DARK_FRAME_RGB, coloured_frame)
    bg_lightness = _spread(uni("background"), BACKGROUND_LIGHTNESS)
    tint = BACKGROUND_TINT * (u[:, _U["background_r"]:_U["background_b"] + 1] - 0.5)
    clothes = u[:, _U["clothes_r"]:_U["clothes_b"] + 1] * CLOTHES_COLOUR[1] + CLOTHES_COLOUR[0]
    side_u = uni("light_side_and_neck_width")
    return FaceIdentity(
        head_half_width=_spread(uni("head_width"), HEAD_HALF_WIDTH),
        head_centre_y=head_y,
        jaw_taper=_spread(uni("jaw_taper"), JAW_TAPER),
        skin_rgb=skin,
        skin_lightness=lightness,
        hair_style=hair_style,
        hair_colour_id=hair_id,
        hair_rgb=hair,
        hairline_y=_spread(uni("hairline"), HAIRLINE_Y),
        hair_thickness=_spread(uni("hair_thickness"), HAIR_THICKNESS),
        eye_offset_x=eye_offset,
        eye_line_y=head_y - EYE_LINE_ABOVE_HEAD_CENTRE + EYE_LINE_JITTER * (uni("eye_line") - 0.5),
        eye_half_width=eye_half_width,
        upper_lid_height=_spread(uni("upper_lid"), UPPER_LID_HEIGHT),
        lower_lid_height=_spread(uni("lower_lid"), LOWER_LID_HEIGHT),
        eye_tilt=_spread(uni("eye_tilt"), EYE_TILT),
        iris_rgb=IRIS_PALETTE[_palette_index(uni("iris_colour"), IRIS_PALETTE)],
        iris_radius=_spread(uni("iris_radius"), IRIS_RADIUS) * eye_half_width,
        gaze_offset_x=GAZE_RANGE * (uni("gaze") - 0.5),
        brow_height=_spread(uni("brow_height"), BROW_HEIGHT),
        brow_thickness=_spread(uni("brow_thickness"), BROW_THICKNESS),
        brow_inner_x=_spread(uni("brow_inner"), BROW_INNER_X),
        brow_outer_x=brow_outer,
        brow_arch=_spread(uni("brow_arch"), BROW_ARCH),
        brow_rgb=brow,
        nose_length=_spread(uni("nose_length"), NOSE_LENGTH),
        nose_half_width=_spread(uni("nose_width"), NOSE_HALF_WIDTH),
        nose_base_curve=_spread(uni("nose_curve"), NOSE_BASE_CURVE),
        mouth_offset=_spread(uni("mouth_offset"), MOUTH_OFFSET),
        mouth_half_width=_spread(uni("mouth_width"), MOUTH_HALF_WIDTH),
        upper_lip_thickness=_spread(uni("upper_lip"), UPPER_LIP_THICKNESS),
        lower_lip_thickness=_spread(uni("lower_lip"), LOWER_LIP_THICKNESS),
        lip_rgb=lip,
        cupids_bow=_spread(uni("cupids_bow"), CUPIDS_BOW),
        chin_length=_spread(uni("chin_length"), CHIN_LENGTH),
        ear_scale=_spread(uni("ear_scale"), EAR_SCALE),
        glasses=(uni("glasses") < GLASSES_PROBABILITY).astype(np.float64),
        glasses_rgb=glasses_rgb,
        lens_width_factor=_spread(frame_green, LENS_WIDTH),
        blush=_spread(uni("blush"), BLUSH),
        age_lines=_spread(uni("age_lines"), AGE_LINES),
        background_rgb=np.clip(bg_lightness[:, None] * (1 + tint), 0, 1),
        clothes_rgb=clothes,
        light_side=np.where(side_u < 0.5, -1.0, 1.0),
        neck_width_factor=_spread(side_u, NECK_WIDTH),
    )
