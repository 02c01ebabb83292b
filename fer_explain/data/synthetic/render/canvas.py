"""The drawing surface: a batch of images, each face's similarity transform, and per-face pixel windows.

A :class:`Canvas` holds the images being drawn, ``(C, N, H, W)`` float32 in [0, 1], and maps between
the *canonical frame* (a 100 x 100 unit face, see :data:`CANONICAL_SIZE`) and pixels with each face's
pose (rotation, scale, translation). Features are drawn on a :class:`Patch`: for some faces, one pixel
window each (all of one size), gathered from the canvas as block copies, drawn into with
:meth:`Canvas.composite`, and written back with :meth:`Canvas.commit`.
"""

from __future__ import annotations

import numpy as np

from fer_explain.data.synthetic.params import POSE
from fer_explain.data.synthetic.render.primitives import F32, per_face

CANONICAL_SIZE = 100.0
"""Side of the canonical frame in canonical units; a face of scale 1 fills the image side with it."""

CANONICAL_CENTRE = 50.0
"""Canonical coordinate (both u and v) that maps to the image centre; also the face's midline u."""

LUMA = np.array([0.299, 0.587, 0.114])
"""RGB -> grey weights (ITU-R BT.601 luma) for single-channel canvases."""

DETAIL_MIN_SIZE = 64
"""Image side (pixels) from which sub-pixel details (catchlights, lid creases) are drawn."""

WINDOW_MARGIN_BEFORE = 1
"""Pixels added before a feature's bounding box (left/top) when its window is placed."""

WINDOW_MARGIN_AFTER = 2
"""Pixels added after a feature's bounding box (right/bottom; one more for the exclusive end)."""


def window_view(img: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """A writeable view (C, N, H-ph+1, W-pw+1, ph, pw) of every ph x pw window of a (C, N, H, W) array.

    Indexing it with per-row window corners gathers one window per row as a block copy (much faster
    than element-wise fancy indexing); assigning through it writes the windows back (each row's
    window is distinct memory, so nothing is written twice)."""
    c, n, h, w = img.shape
    st = img.strides
    assert img.flags.c_contiguous and img.flags.writeable
    return np.ndarray((c, n, h - ph + 1, w - pw + 1, ph, pw), img.dtype, img, 0,
                      (st[0], st[1], st[2], st[3], st[2], st[3]))


class Patch:
    """Pixels of some faces around one feature: canonical coordinates and the gathered canvas values.

    Each face gets its own window (all of one size, the largest the faces need), placed inside the
    image around that face's feature. Attributes:

    * ``idx``: ``(rows, y0, x0)``, the canvas rows and the windows' top-left pixel corners;
    * ``u``, ``v``: ``(k, h, w)`` canonical coordinates of the window's pixel centres;
    * ``pix``: ``(C, k, h, w)`` the gathered pixel values, drawn into in place;
    * ``s``: ``(k, 1, 1)`` each face's scale in pixels per canonical unit.
    """

    __slots__ = ("idx", "pix", "s", "u", "v")

    def __init__(self, idx: tuple[np.ndarray, np.ndarray, np.ndarray], u: np.ndarray, v: np.ndarray,
                 pix: np.ndarray, s: np.ndarray):
        self.idx, self.u, self.v, self.pix, self.s = idx, u, v, pix, s


class Canvas:
    """The images being drawn, ``(C, N, H, W)`` float32 in [0, 1], and each row's pose.

    Args:
        n: number of rows (faces, and twins in the expression pass).
        size: image side in pixels.
        channels: 1 (grey) or 3 (RGB).
        pose: ``(n, len(POSE_FIELDS))`` resolved nuisance values of each row.
        debug: keep each feature's own coverage (see :meth:`keep`).
        img: an existing ``(C, n, size, size)`` C-contiguous array to draw into (default: a new one).
    """

    def __init__(self, n: int, size: int, channels: int, pose: np.ndarray, debug: bool,
                 img: np.ndarray | None = None):
        self.n, self.h, self.w, self.c = n, size, size, channels
        self.img = np.empty((channels, n, size, size), dtype=F32) if img is None else img
        assert self.img.shape == (channels, n, size, size) and self.img.flags.c_contiguous
        cos, sin = pose[:, POSE["rot_cos"]], pose[:, POSE["rot_sin"]]
        S = pose[:, POSE["scale"]] * size / CANONICAL_SIZE
        ox = (size - 1) / 2.0 + pose[:, POSE["tx"]] * size
        oy = (size - 1) / 2.0 + pose[:, POSE["ty"]] * size
        self.S, self.cos, self.sin, self.ox, self.oy = S, cos, sin, ox, oy
        # inverse transform, pixel (x, y) -> canonical (u, v): u = u0 + ux * x + uy * y (same for v)
        iux, iuy = cos / S, sin / S
        ivx, ivy = -sin / S, cos / S
        c0 = CANONICAL_CENTRE
        self.inv = (per_face(c0 - iux * ox - iuy * oy), per_face(iux), per_face(iuy),
                    per_face(c0 - ivx * ox - ivy * oy), per_face(ivx), per_face(ivy))
        self.s = per_face(S)
        self.draw_details = size >= DETAIL_MIN_SIZE
        """Whether sub-pixel details (catchlights, lid creases) are drawn."""
        self.debug: dict[str, np.ndarray] | None = {} if debug else None

    def to_pixels(
        self, u: np.ndarray, v: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Canonical -> pixel coordinates of the given rows (default: the first ``u.shape[0]`` rows)."""
        r = np.arange(u.shape[0]) if rows is None else rows
        sh = (-1,) + (1,) * (u.ndim - 1)
        c, s, S = self.cos[r].reshape(sh), self.sin[r].reshape(sh), self.S[r].reshape(sh)
        du, dv = u - CANONICAL_CENTRE, v - CANONICAL_CENTRE
        ox, oy = self.ox[r].reshape(sh), self.oy[r].reshape(sh)
        return ox + S * (c * du - s * dv), oy + S * (s * du + c * dv)

    def patch(self, rows: np.ndarray, u0: np.ndarray | None = None, v0: np.ndarray | None = None,
              u1: np.ndarray | None = None, v1: np.ndarray | None = None) -> Patch:
        """Per-row windows holding the canonical boxes [u0, u1] x [v0, v1] (whole images without a box)."""
        k = len(rows)
        if u0 is None:
            pw, ph = self.w, self.h
            x0 = y0 = np.zeros(k, dtype=np.int64)
        else:
            assert v0 is not None and u1 is not None and v1 is not None
            cu = np.stack([u0, u1, u0, u1], axis=1)
            cv = np.stack([v0, v0, v1, v1], axis=1)
            x, y = self.to_pixels(cu, cv, rows)
            x0 = np.clip(np.floor(x.min(axis=1)).astype(np.int64) - WINDOW_MARGIN_BEFORE, 0, self.w - 1)
            y0 = np.clip(np.floor(y.min(axis=1)).astype(np.int64) - WINDOW_MARGIN_BEFORE, 0, self.h - 1)
            x1 = np.clip(np.ceil(x.max(axis=1)).astype(np.int64) + WINDOW_MARGIN_AFTER, 1, self.w)
            y1 = np.clip(np.ceil(y.max(axis=1)).astype(np.int64) + WINDOW_MARGIN_AFTER, 1, self.h)
            pw = max(int((x1 - x0).max()), 1)
            ph = max(int((y1 - y0).max()), 1)
            x0 = np.minimum(x0, self.w - pw)
            y0 = np.minimum(y0, self.h - ph)
        xs = x0.reshape(-1, 1, 1) + np.arange(pw).reshape(1, 1, -1)
        ys = y0.reshape(-1, 1, 1) + np.arange(ph).reshape(1, -1, 1)
        u0_, ux, uy, v0_, vx, vy = (a[rows] for a in self.inv)
        xf, yf = xs.astype(F32), ys.astype(F32)
        u = (u0_ + ux * xf) + uy * yf
        v = (v0_ + vx * xf) + vy * yf
        key = (rows, y0, x0)
        return Patch(key, u, v, window_view(self.img, ph, pw)[:, rows, y0, x0], self.s[rows])

    def commit(self, p: Patch) -> None:
        """Write a patch's pixels back into the canvas."""
        rows, y0, x0 = p.idx
        window_view(self.img, p.pix.shape[2], p.pix.shape[3])[:, rows, y0, x0] = p.pix

    @staticmethod
    def composite(p: Patch, alpha: np.ndarray, colour: np.ndarray) -> None:
        """Alpha-composite a colour (C, k, 1, 1) with coverage ``alpha`` (k, h, w) into the patch."""
        t = colour - p.pix
        t *= alpha
        p.pix += t

    def keep(self, name: str, p: Patch, alpha: np.ndarray) -> None:
        """Record a feature's own coverage (debug mode; a no-op otherwise)."""
        if self.debug is None:
            return
        full = self.debug.get(name)
        if full is None:
            full = self.debug[name] = np.zeros((self.n, self.h, self.w), dtype=F32)
        rows, y0, x0 = p.idx
        win = window_view(full[None], alpha.shape[1], alpha.shape[2])[0]
        win[rows, y0, x0] = np.maximum(win[rows, y0, x0], alpha)

    def colour(self, rgb: np.ndarray, k: int | None = None) -> np.ndarray:
        """(k, 3) or (3,) RGB in [0, 1] -> (C, k, 1, 1) float32 in the canvas's channels."""
        rgb = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
        if rgb.ndim == 1:
            rgb = np.broadcast_to(rgb[None], (k or 1, 3))
        out = (rgb @ LUMA)[None] if self.c == 1 else rgb.T
        return np.ascontiguousarray(out, dtype=F32).reshape(self.c, -1, 1, 1)
