"""Turn a photo into a model's input: detect the largest face with dlib, crop it with a margin, resize.

Used for "explain a real photo" (the quickstart notebook, the explorer's upload button); the
landmarks are mapped into the crop so the face regions line up with the model's input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from fer_explain.data.io import to_channels
from fer_explain.faces.landmarks import LandmarkResult, detect_landmarks


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
    photo: np.ndarray, size: int = 48, channels: int = 1, margin: float = 0.2, upsample: int = 1,
    fallback: bool = False,
) -> FaceCrop:
    """Detect the largest face in ``photo`` (uint8 grey or RGB), crop a square around it and resize.

    Args:
        photo: the image.
        size: output side in pixels (the model's input size).
        channels: 1 (grey, luma) or 3.
        margin: extra border on each side as a fraction of the detected box side (0.2: FER2013-like
            framing with the whole chin and forehead).
        upsample: dlib detector upsampling.
        fallback: use the whole photo when no face is found (otherwise :class:`NoFaceError`).
    """
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    det = detect_landmarks(photo, upsample=upsample, fallback=fallback, name="photo")
    x, y, w, h = det.box
    side = int(round(max(w, h) * (1 + 2 * margin)))
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = int(round(cx - side / 2.0)), int(round(cy - side / 2.0))
    img = to_channels(np.asarray(photo, dtype=np.uint8), channels)
    padded = np.zeros((side, side) + img.shape[2:], dtype=np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, img.shape[1]), min(y0 + side, img.shape[0])
    if sx1 > sx0 and sy1 > sy0:
        padded[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    out = np.asarray(Image.fromarray(padded).resize((size, size), Image.BILINEAR))
    scale = size / side
    landmarks = ((det.points - np.array([x0, y0], dtype=np.float32)) * scale).astype(np.float32)
    return FaceCrop(image=out, landmarks=landmarks, box=(x0, y0, side, side), detection=det)
