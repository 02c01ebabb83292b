"""Reading face images referenced by a manifest row: image files and rows of a pixel CSV.

Every error is an :class:`ImageReadError` (a :class:`~fer_explain.data.errors.UserError`) naming the
file, and for pixel CSVs the row as ``line L (data row R)`` (header = line 1), so a bad sample can
be found and fixed in an editor.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from fer_explain.data.errors import UserError, describe_row


class ImageReadError(UserError, RuntimeError):
    """An image that a manifest row refers to could not be read; the message names file and row."""


@lru_cache(maxsize=8)
def _pixel_column(path: str, mtime_ns: int) -> tuple[str, ...]:
    """The ``pixels`` column of a FER2013-style CSV, read once per file version."""
    try:
        head = pd.read_csv(path, nrows=0)
    except (OSError, pd.errors.ParserError) as exc:
        raise ImageReadError(f"{path}: cannot read pixel CSV ({exc})") from exc
    col = next((c for c in head.columns if c.strip().lower() == "pixels"), None)
    if col is None:
        raise ImageReadError(f"{path}: no 'pixels' column (columns: {list(head.columns)})")
    values = pd.read_csv(path, usecols=[col], dtype=str, keep_default_na=False)[col]
    return tuple(values.fillna("").tolist())


def pixel_csv_rows(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """All pixel strings of a pixel CSV (cached while the file is unchanged)."""
    p = str(Path(path))
    try:
        mtime = os.stat(p).st_mtime_ns
    except FileNotFoundError:
        raise ImageReadError(f"{p}: pixel CSV not found") from None
    return _pixel_column(p, mtime)


def decode_pixels(pixels: str, *, file: str = "<string>", row: int | None = None) -> np.ndarray:
    """Decode a space-separated pixel string into a square uint8 image (48x48 for FER2013).

    ``row`` is the 0-based data row of the pixel CSV; errors name it as ``line L (data row R)``.
    """
    where = f"{file} {describe_row(row)}" if row is not None else file
    try:
        values = np.array(pixels.split(), dtype=np.int64)
    except ValueError:
        raise ImageReadError(f"{where}: pixels contain a non-integer value") from None
    side = round(np.sqrt(values.size))
    if values.size == 0 or side * side != values.size:
        raise ImageReadError(f"{where}: {values.size} pixel values do not form a square image (expected 2304 = 48x48)")
    if values.min() < 0 or values.max() > 255:
        raise ImageReadError(f"{where}: pixel values outside 0..255")
    return values.astype(np.uint8).reshape(side, side)


def load_image(root: str | os.PathLike[str], image: str, pixel_row: int | None = None) -> np.ndarray:
    """Load one face image as uint8, ``(H, W)`` for grey or ``(H, W, 3)`` for colour.

    ``image`` is a path relative to ``root`` (absolute paths are used as they are). When ``pixel_row``
    is given, ``image`` is a pixel CSV and ``pixel_row`` the 0-based data row to decode.
    """
    path = Path(image)
    if not path.is_absolute():
        path = Path(root) / path
    if pixel_row is not None and not (isinstance(pixel_row, float) and np.isnan(pixel_row)):
        rows = pixel_csv_rows(path)
        r = int(pixel_row)
        if r < 0:
            raise ImageReadError(f"{path}: pixel_row {r} is negative (it counts data rows from 0)")
        if r >= len(rows):
            raise ImageReadError(f"{path} {describe_row(r)}: out of range (the file has {len(rows)} data rows; "
                                 f"pixel_row {r} is 0-based)")
        return decode_pixels(rows[r], file=str(path), row=r)
    if not path.is_file():
        raise ImageReadError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("L", "I;16", "I", "F", "1", "LA"):
                arr = np.asarray(im.convert("L"))
            else:
                arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageReadError(f"{path}: unreadable or corrupt image ({exc})") from exc
    return np.ascontiguousarray(arr)


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """Convert a uint8 ``(H, W)`` or ``(H, W, 3)`` image to ``channels`` (1 or 3), keeping ``(H, W[, 3])``."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if channels == 1:
        if img.ndim == 2:
            return img
        # ITU-R 601 luma, as PIL's convert("L")
        grey = img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114
        return np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    if img.ndim == 3:
        return img
    return np.repeat(img[..., None], 3, axis=2)
