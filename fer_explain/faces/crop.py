"""Turn a photo into a model's input: detect the largest face with dlib, crop it with a margin, resize.

Used for "explain a real photo" (the quickstart notebook, the explorer's upload button); the
landmarks are mapped into the crop so the face regions line up with the model's input. A detected face
is cut around :func:`~fer_explain.faces.landmarks.face_box` (dlib's box moved up to where FER2013 frames
faces) grown by ``margin`` per side, the same box ``fer-explain landmarks --boxes`` stores for
``FaceDataset``; the default margin, :data:`~fer_explain.faces.landmarks.FER2013_CROP_MARGIN` (0.1),
frames it like FER2013's faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from fer_explain.data.dataset import crop_bounds, crop_box
from fer_explain.data.io import to_channels
from fer_explain.faces.landmarks import (
    FER2013_CROP_MARGIN,
    LandmarkResult,
    detect_landmarks,
    face_box,
    to_crop_coordinates,
)


@dataclass(frozen=True)
class FaceCrop:
    """A face cut out of a photo: ``image`` uint8 ``(size, size)`` or ``(size, size, 3)``, its 68
    ``landmarks`` in crop coordinates, the ``box`` (x, y, w, h) cut from the photo (may extend past the
    photo's edges, which are zero-padded), and the ``detection`` it came from."""

    image: np.ndarray
    landmarks: np.ndarray
    box: tuple[int, int, int, int]
    detection: LandmarkResult


def crop_face(
    photo: np.ndarray, size: int = 48, channels: int = 1, margin: float = FER2013_CROP_MARGIN, upsample: int = 1,
    fallback: bool = False,
) -> FaceCrop:
    """Detect the largest face in ``photo`` (uint8 grey or RGB), crop a square around it and resize.

    Args:
        photo: the image.
        size: output side in pixels (the model's input size).
        channels: 1 (grey, luma) or 3.
        margin: extra border on each side as a fraction of the face box's side (default
            :data:`~fer_explain.faces.landmarks.FER2013_CROP_MARGIN`, 0.1: FER2013's framing; larger
            values show more around the face than a FER2013-trained model has seen).
        upsample: dlib detector upsampling.
        fallback: use the whole photo when no face is found (otherwise :class:`NoFaceError`).
    """
    _check(size, margin)
    det = detect_landmarks(photo, upsample=upsample, fallback=fallback, name="photo")
    return crop_detection(photo, det, size=size, channels=channels, margin=margin, square=True)


def crop_detection(
    photo: np.ndarray, detection: LandmarkResult, size: int = 48, channels: int = 1,
    margin: float = FER2013_CROP_MARGIN, square: bool = True,
) -> FaceCrop:
    """Cut an already detected face out of ``photo`` and resize it to ``size`` x ``size``.

    The face's box is :func:`~fer_explain.faces.landmarks.face_box` of ``detection`` (a ``detected``
    box moved up by ``FER2013_BOX_SHIFT`` of its height; a fallback box as it is).

    Args:
        photo: the image the detection was made on (uint8 grey or RGB).
        detection: its :class:`~fer_explain.faces.LandmarkResult`.
        size, channels: the output side and channels (1: grey, luma; 3: RGB).
        margin: border added on each side as a fraction of the box's width (left/right) and height
            (top/bottom).
        square: ``True`` crops the square of side ``max(w, h)`` centred on the box (what
            :func:`crop_face` does); ``False`` crops the box itself, as
            :class:`~fer_explain.data.dataset.FaceDataset` crops a manifest row with a box (so a
            photo is framed like the dataset faces a model was trained on).

    Parts of the crop past the photo's edges are zero. The landmarks are mapped with the pixel-centre
    convention of the resize, ``x' = (x - x0 + 0.5) * size / width - 0.5``.
    """
    _check(size, margin)
    x, y, w, h = face_box(detection)
    if square:
        side = max(w, h)
        x, y, w, h = x + (w - side) / 2.0, y + (h - side) / 2.0, side, side
    img = to_channels(np.asarray(photo, dtype=np.uint8), channels)
    crop = crop_box(img, (x, y, w, h), margin)
    x0, y0, _, _ = crop_bounds((x, y, w, h), margin)
    ch, cw = crop.shape[:2]
    out = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.Resampling.BILINEAR))
    landmarks = to_crop_coordinates(detection.points, (x0, y0), (cw, ch), size).astype(np.float32)
    return FaceCrop(image=out, landmarks=landmarks, box=(int(x0), int(y0), int(cw), int(ch)), detection=detection)


def _check(size: int, margin: float) -> None:
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
