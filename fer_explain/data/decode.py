"""Decoding one manifest row into the uint8 pixels a :class:`~fer_explain.data.dataset.FaceDataset` serves.

Decoding one row (:func:`decode_row`)
-------------------------------------
1. ``fer_explain.data.io.load_image(manifest.root, image, pixel_row)`` -> uint8 ``H x W[ x 3]``.
2. When the row has a face box (``box_x, box_y, box_w, box_h``, e.g. ExpW scenes and AffectNet
   photos), crop it, enlarged by ``crop_margin`` x box width (height) on the left and right (top
   and bottom). The crop keeps its full size: parts that fall outside the image are filled with
   **zeros** (black), so the face keeps its position and scale in the crop and no image content
   is invented (edge replication would smear hair and background into streaks).
3. Convert to ``channels`` with :func:`fer_explain.data.io.to_channels` (grey is repeated to RGB;
   RGB becomes ITU-R 601 luma).
4. Resize to ``size x size`` with PIL's bilinear filter. PIL widens the filter support when it
   downsamples, so large reductions average neighbouring pixels (area-like) instead of aliasing.
   The aspect ratio is not kept: a non-square box or image is stretched to a square.

A row that cannot be decoded raises :class:`SampleLoadError`. Its message names the row the way
the rest of the package does (:func:`fer_explain.data.errors.describe_row`): the manifest row as
``manifest line L (data row R)`` and, for a pixel CSV, the CSV row as ``line L (data row R)``
(:func:`sample_location`); its ``row`` attribute keeps the 0-based manifest row index.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from fer_explain.data import io as fio
from fer_explain.data.errors import describe_row
from fer_explain.data.io import ImageReadError
from fer_explain.data.manifest import BOX_COLUMNS, Manifest

__all__ = ["RowDecoder", "SampleLoadError", "crop_bounds", "crop_box", "decode_row", "sample_location"]


class SampleLoadError(ImageReadError):
    """A manifest row could not be turned into pixels; the message names the row (``manifest line L
    (data row R)``) and the file. ``row`` is the 0-based manifest row index, ``file`` the image."""

    def __init__(self, message: str, row: int | None = None, file: str | None = None):
        super().__init__(message)
        self.row = row
        self.file = file

    def __reduce__(self) -> tuple[Any, ...]:  # keep row/file across process boundaries
        return (type(self), (str(self), self.row, self.file))


def sample_location(row: int | None, image: str, pixel_row: int | None = None) -> str:
    """Where a sample comes from, as error messages name it.

    ``row`` is the 0-based manifest row index (shown as ``manifest line L (data row R)``), ``image``
    the manifest's ``image`` entry and ``pixel_row`` the 0-based data row of a pixel CSV::

        >>> sample_location(2, "b/face.png")
        "manifest line 4 (data row 3), image 'b/face.png'"
        >>> sample_location(1, "fer2013.csv", 3)
        "manifest line 3 (data row 2), pixel CSV 'fer2013.csv' line 5 (data row 4)"
    """
    source = f"image {image!r}" if pixel_row is None else f"pixel CSV {image!r} {describe_row(pixel_row)}"
    return source if row is None else f"manifest {describe_row(row)}, {source}"


def crop_bounds(box: Sequence[float], margin: float = 0.0) -> tuple[int, int, int, int]:
    """Whole-pixel bounds ``(x0, y0, x1, y1)`` that :func:`crop_box` cuts for ``box = (x, y, w, h)``
    enlarged by ``margin`` x (w, h) per side (at least one pixel wide and high; not validated)."""
    x, y, w, h = (float(v) for v in box)
    x0, x1 = round(x - margin * w), round(x + w + margin * w)
    y0, y1 = round(y - margin * h), round(y + h + margin * h)
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def crop_box(img: np.ndarray, box: Sequence[float], margin: float = 0.0) -> np.ndarray:
    """Crop ``box = (x, y, w, h)`` enlarged by ``margin`` x (w, h) per side; outside pixels are zero.

    Bounds are rounded to whole pixels. The result always has the enlarged box's size, even where
    it extends past the image border. Raises ``ValueError`` for a box that does not overlap the image.
    """
    _, _, w, h = (float(v) for v in box)
    if not (w > 0 and h > 0):
        raise ValueError(f"face box {tuple(box)} has non-positive width/height")
    if margin < 0:
        raise ValueError(f"crop_margin must be >= 0, got {margin}")
    x0, y0, x1, y1 = crop_bounds(box, margin)
    height, width = img.shape[:2]
    ix0, ix1, iy0, iy1 = max(x0, 0), min(x1, width), max(y0, 0), min(y1, height)
    if ix0 >= ix1 or iy0 >= iy1:
        raise ValueError(f"face box {tuple(box)} lies outside the {width}x{height} image")
    if (x0, y0, x1, y1) == (ix0, iy0, ix1, iy1):
        return img[y0:y1, x0:x1]
    out = np.zeros((y1 - y0, x1 - x0, *img.shape[2:]), dtype=img.dtype)
    out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = img[iy0:iy1, ix0:ix1]
    return out


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    pil = Image.fromarray(np.ascontiguousarray(img))
    return np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))


def decode_row(
    root: str | os.PathLike[str],
    image: str,
    pixel_row: int | None,
    box: Sequence[float] | None,
    size: int,
    channels: int,
    crop_margin: float,
    *,
    row: int | None = None,
) -> np.ndarray:
    """Load, crop, convert and resize one face: uint8 ``channels x size x size``.

    ``box`` is ``(x, y, w, h)`` or None (or NaNs) for the whole image. Errors are
    :class:`SampleLoadError` naming the manifest row ``row`` (a 0-based index, shown as
    ``manifest line L (data row R)``; see :func:`sample_location`) and the file.
    """
    where = sample_location(row, image, pixel_row)
    try:
        img = fio.load_image(root, image, pixel_row)
    except ImageReadError as exc:
        raise SampleLoadError(f"{where}: {exc}", row=row, file=str(image)) from exc
    if box is not None and not any(math.isnan(float(v)) for v in box):
        try:
            img = crop_box(img, box, crop_margin)
        except ValueError as exc:
            raise SampleLoadError(f"{where}: {exc}", row=row, file=str(image)) from exc
    img = _resize(fio.to_channels(img, channels), size)
    out = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    return np.array(out, dtype=np.uint8, order="C", copy=True)  # writable, owns its memory


class RowDecoder:
    """Everything needed to decode any row of one manifest; small and picklable (for worker pools)."""

    def __init__(self, manifest: Manifest, size: int, channels: int, crop_margin: float):
        df = manifest.df
        self.root = str(manifest.root)
        self.images: list[str] = df["image"].astype(str).tolist()
        if "pixel_row" in df:
            pr = df["pixel_row"]
            missing = pr.isna().to_numpy()
            values = pr.astype("float64").fillna(-1).to_numpy().astype(np.int64)
            self.pixel_rows: list[int | None] = [None if m else int(v) for v, m in zip(values, missing)]
        else:
            self.pixel_rows = [None] * len(df)
        self.boxes: np.ndarray | None = (
            manifest.boxes() if all(c in df for c in BOX_COLUMNS) else None
        )
        self.size, self.channels, self.crop_margin = size, channels, crop_margin

    def __call__(self, i: int) -> np.ndarray:
        """The uint8 pixels ``C x size x size`` of manifest row ``i`` (0-based)."""
        box = None if self.boxes is None else self.boxes[i]
        return decode_row(self.root, self.images[i], self.pixel_rows[i], box, self.size, self.channels,
                          self.crop_margin, row=i)

    def many(self, rows: np.ndarray) -> np.ndarray:
        """The pixels of several rows, ``len(rows) x C x size x size``."""
        out = np.empty((len(rows), self.channels, self.size, self.size), dtype=np.uint8)
        for k, i in enumerate(rows):
            out[k] = self(int(i))
        return out
