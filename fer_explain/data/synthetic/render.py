"""The vectorised face renderer: parameters -> pixels, exact 68-point landmarks and evidence masks.

How a face is drawn
-------------------
Every face lives in a *canonical frame* of 100 x 100 units (face centre near (50, 47)). Its features
are defined by a handful of curves whose parameters come from the identity and the action units; the
68 iBUG landmarks are points *on those same curves* (eye corners are the ends of the lid curves, lip
landmarks are points of the lip outline, jaw points lie on the head contour, ...).

Pixels are rendered at the target resolution by inverse mapping: each output pixel centre is mapped
through the inverse of the face's similarity transform (rotation, scale, translation) into the
canonical frame, where every feature is an implicit shape with an (approximate) signed distance
``d``. Coverage is ``clip(0.5 - d * pixels_per_unit, 0, 1)`` (a one-pixel anti-aliasing ramp; thin
lines use the exact 1-D box-filter coverage), and features are alpha-composited back to front. The
landmarks are mapped forward with the same transform, so they are exact for the face as drawn.

All per-pixel arithmetic uses only +, -, *, /, sqrt, min/max, clip and rint, which are correctly
rounded element by element: a face renders to the same bytes alone or inside any batch. Every
feature is evaluated on a small per-face pixel window around it (gathered as block copies, all
windows of a layer of one size), and exactly zero coverage leaves a pixel untouched, so the window
size, and so the batch, does not change the result.

Speed comes from rendering at the target resolution, vectorising over a batch of faces, these
per-feature windows, and drawing the class-independent parts of a face once for face and twin (see
:func:`render_batch`).

Evidence twin
-------------
Faces whose label-carrying AUs are non-zero get a *twin* row in the same batch: same identity, pose,
lighting, blur and occluder, with the label-carrying AUs turned off. The evidence mask is
``max_channel |face - twin| * 255 > evidence_threshold`` measured after lighting, blur and occluders
and before noise and quantisation: the noise field is identical for face and twin, so it cancels
exactly and is left out of the comparison (this also avoids clipping at 0/255 creating spurious
differences). The threshold (default 6 grey levels) removes anti-aliasing dust: sub-pixel shifts of
an edge that change a pixel by a few grey levels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fer_explain.data.synthetic.aus import AU_CHANNELS, CH
from fer_explain.data.synthetic.params import N_ID, POSE, FaceParams

RENDERER_VERSION = "1"
"""Bumped whenever a change alters the pixels produced for a given config (invalidates caches)."""

REF = 100.0
F32 = np.float32
_LUMA = np.array([0.299, 0.587, 0.114])

FEATURES: tuple[str, ...] = (
    "head", "brow_r", "brow_l", "nose", "nose_base", "eye_r", "eye_l", "lips", "mouth_inner",
)
"""Feature masks available with ``debug=True`` (each feature's own drawn coverage, before occlusion)."""

LANDMARK_FEATURE: tuple[str, ...] = (
    ("head",) * 17 + ("brow_r",) * 5 + ("brow_l",) * 5 + ("nose",) * 4 + ("nose_base",) * 5
    + ("eye_r",) * 6 + ("eye_l",) * 6 + ("lips",) * 12 + ("mouth",) * 8
)
"""The drawn feature each landmark lies on (``mouth`` = lips or mouth interior)."""

HAIR_PALETTE = np.array([
    [0.07, 0.06, 0.06], [0.20, 0.13, 0.08], [0.38, 0.25, 0.14], [0.76, 0.62, 0.38],
    [0.55, 0.24, 0.11], [0.62, 0.62, 0.62],
])
HAIR_NAMES = ("black", "dark brown", "brown", "blond", "red", "grey")
IRIS_PALETTE = np.array([
    [0.30, 0.18, 0.10], [0.14, 0.09, 0.06], [0.28, 0.44, 0.62], [0.28, 0.45, 0.30], [0.45, 0.34, 0.18],
])
HAIR_STYLES = ("short", "long", "bangs", "bald")
SKIN_DARK = np.array([0.33, 0.21, 0.15])
SKIN_LIGHT = np.array([0.98, 0.85, 0.75])

# jaw contour angles: point k at phi_k on the head outline (k=0 subject's right temple, 8 chin)
_PHI0 = 0.14
_JAW_PHI = [-_PHI0 + (math.pi + 2 * _PHI0) * k / 16 for k in range(17)]
_JAW_COS = np.array([math.cos(p) for p in _JAW_PHI])
_JAW_SIN = np.array([math.sin(p) for p in _JAW_PHI])
# lip landmark positions along the mouth (t in [-1, 1], subject's right = negative)
_T_UP = np.array([-1.0, -0.62, -0.27, 0.0, 0.27, 0.62, 1.0])  # 48..54
_T_LO = np.array([0.62, 0.29, 0.0, -0.29, -0.62])  # 55..59
_T_INNER_UP = np.array([-0.42, 0.0, 0.42])  # 61..63
_T_INNER_LO = np.array([0.42, 0.0, -0.42])  # 65..67
_TI = 0.82  # inner mouth corner
# crow's feet directions (outward from the outer eye corner, image coordinates, right eye)
_CROW = [(-math.cos(a), math.sin(a)) for a in (math.radians(-28), math.radians(2), math.radians(30))]


# --------------------------------------------------------------------------------------------------
# identity and geometry (small per-face arrays, float64)
# --------------------------------------------------------------------------------------------------


def _identity(u: np.ndarray) -> dict[str, np.ndarray]:
    """Identity parameters from the identity uniforms ``u`` (N, N_ID)."""
    assert u.shape[1] == N_ID
    i: dict[str, np.ndarray] = {}
    i["ha"] = 27.5 + 4.0 * u[:, 0]
    i["hy"] = 46.0 + 2.0 * u[:, 1]
    i["taper"] = 0.20 + 0.18 * u[:, 2]
    l = u[:, 3]
    skin = SKIN_DARK[None] + l[:, None] * (SKIN_LIGHT - SKIN_DARK)[None]
    warm = 0.05 * (u[:, 4] - 0.5)
    skin[:, 0] += warm
    skin[:, 2] -= warm
    i["skin"] = np.clip(skin, 0, 1)
    i["skin_l"] = l
    s = u[:, 5]
    i["hair_style"] = np.where(s < 0.42, 0, np.where(s < 0.7, 1, np.where(s < 0.92, 2, 3))).astype(np.int64)
    hc = np.minimum((u[:, 6] * len(HAIR_PALETTE)).astype(np.int64), len(HAIR_PALETTE) - 1)
    i["hair_colour_id"] = hc
    i["hair"] = np.clip(HAIR_PALETTE[hc] * (0.85 + 0.3 * u[:, 7])[:, None], 0, 1)
    i["hairline"] = 17.0 + 5.0 * u[:, 8]
    i["hair_thick"] = 1.5 + 3.0 * u[:, 9]
    i["eye_dx"] = 13.2 + 2.2 * u[:, 10]
    i["ey"] = i["hy"] - 3.0 + 2.0 * (u[:, 11] - 0.5)
    i["ew"] = 5.4 + 1.3 * u[:, 12]
    i["hu0"] = 2.5 + 0.9 * u[:, 13]
    i["hl0"] = 1.8 + 0.6 * u[:, 14]
    i["tilt"] = -0.4 + 1.2 * u[:, 15]
    ic = np.minimum((u[:, 16] * len(IRIS_PALETTE)).astype(np.int64), len(IRIS_PALETTE) - 1)
    i["iris"] = IRIS_PALETTE[ic]
    i["iris_r"] = (0.44 + 0.08 * u[:, 17]) * i["ew"]
    i["gaze"] = 0.8 * (u[:, 18] - 0.5)
    i["brow_gap"] = 7.0 + 2.0 * u[:, 19]
    i["brow_th"] = 1.6 + 1.1 * u[:, 20]
    i["brow_bi"] = 3.8 + 1.8 * u[:, 21]
    i["brow_bo"] = i["eye_dx"] + i["ew"] + 1.5 + 2.0 * u[:, 22]
    i["brow_arch"] = 0.8 + 1.8 * u[:, 23]
    dark_hair = np.clip(HAIR_PALETTE[hc] * 0.8, 0, 1)
    i["brow"] = np.where((hc >= 3)[:, None], np.clip(HAIR_PALETTE[hc] * 0.55, 0, 1), dark_hair)
    i["nose_len"] = 14.5 + 3.0 * u[:, 24]
    i["nw0"] = 4.3 + 1.6 * u[:, 25]
    i["nc0"] = 1.2 + 0.8 * u[:, 26]
    i["mouth_off"] = 8.5 + 2.0 * u[:, 27]
    i["mw0"] = 9.5 + 2.5 * u[:, 28]
    i["tu0"] = 1.9 + 0.7 * u[:, 29]
    i["tl0"] = 2.6 + 0.8 * u[:, 30]
    lr = 0.35 + 0.4 * u[:, 31]
    lipbase = np.array([0.74, 0.30, 0.32])[None] * (0.55 + 0.45 * l)[:, None]
    i["lip"] = i["skin"] * (1 - lr[:, None]) + lipbase * lr[:, None]
    i["bow"] = 0.15 + 0.3 * u[:, 32]
    i["chin"] = 13.5 + 3.0 * u[:, 33]
    i["ear"] = 0.9 + 0.25 * u[:, 34]
    i["glasses"] = (u[:, 35] < 0.18).astype(np.float64)
    gcol = np.where((u[:, 36] < 0.6)[:, None], np.array([[0.08, 0.07, 0.07]]),
                    np.stack([u[:, 36], 0.5 * u[:, 37], 1 - u[:, 36]], axis=1) * 0.7)
    i["glasses_col"] = gcol
    i["glasses_rx"] = 1.0 + 0.25 * u[:, 37]
    i["blush"] = 0.05 + 0.25 * u[:, 38]
    i["age"] = 0.05 + 0.35 * u[:, 39]
    bl = 0.2 + 0.65 * u[:, 40]
    tint = 0.3 * (u[:, 41:44] - 0.5)
    i["bg"] = np.clip(bl[:, None] * (1 + tint), 0, 1)
    i["clothes"] = u[:, 44:47] * 0.8 + 0.05
    i["light_side"] = np.where(u[:, 47] < 0.5, -1.0, 1.0)
    i["neck_w"] = 0.42 + 0.1 * u[:, 47]
    return i


def _geometry(idn: dict[str, np.ndarray], au: np.ndarray) -> dict[str, np.ndarray]:
    """Feature geometry (canonical units) after the action units ``au`` (N, 16) act on the identity."""
    a = {name: au[:, CH[name]].astype(np.float64) for name in AU_CHANNELS}
    g: dict[str, np.ndarray] = dict(idn)
    ey = idn["ey"]
    # nose
    y27 = ey.copy()
    y30 = ey + idn["nose_len"]
    y33 = ey + idn["nose_len"] + 3.0 - 1.6 * a["au_9"]
    g.update(y27=y27, y30=y30, y33=y33, nw=idn["nw0"] + 0.8 * a["au_9"], nc=idn["nc0"] + 0.5 * a["au_9"])
    y33_0 = ey + idn["nose_len"] + 3.0
    # mouth
    my0 = y33_0 + idn["mouth_off"]
    g["my0"] = my0
    g["my"] = my0 + 1.0 * a["au_26"]
    a12max = np.maximum(a["au_12_r"], a["au_12_l"])
    a12min = np.minimum(a["au_12_r"], a["au_12_l"])
    for s in ("r", "l"):
        g[f"c_{s}"] = (4.8 * a[f"au_12_{s}"] + 1.4 * a[f"au_14_{s}"] - 4.0 * a["au_15"] - 1.0 * a["au_20"])
        g[f"w_{s}"] = (idn["mw0"] + 2.6 * a[f"au_12_{s}"] + 1.0 * a[f"au_14_{s}"] + 3.8 * a["au_20"]
                       - 2.0 * a["au_23"] - 2.6 * a["au_26"] * (1 - a["au_20"]))
    tight = 1.0 - 0.9 * a["au_23"]
    g["gu"] = (0.7 * a12min + 1.0 * a["au_26"] + 0.5 * a["au_20"] + 0.2 * a["au_16"]) * tight
    g["gl"] = (2.0 * a12min + 7.0 * a["au_26"] + 1.4 * a["au_20"] + 3.0 * a["au_16"]) * tight
    g["teeth_up"] = 0.8 + 1.0 * a12min
    g["teeth_lo"] = np.clip(a["au_16"] + 0.6 * a["au_20"], 0.0, 1.0)
    g["tu"] = idn["tu0"] * (1 - 0.25 * a12max - 0.3 * a["au_20"] - 0.75 * a["au_23"])
    g["tl"] = idn["tl0"] * (1 - 0.2 * a12max - 0.3 * a["au_20"] - 0.75 * a["au_23"] + 0.25 * a["au_16"])
    g["au12_r"], g["au12_l"] = a["au_12_r"], a["au_12_l"]
    g["au14_r"], g["au14_l"] = a["au_14_r"], a["au_14_l"]
    g["au23"] = a["au_23"]
    # head: chin below the mouth
    g["chin_y"] = my0 + idn["chin"]
    g["hb"] = g["chin_y"] - idn["hy"]
    # eyes
    hu = idn["hu0"] * (1 + 0.8 * a["au_5"]) * (1 - 0.35 * a["au_7"]) * (1 - 0.3 * a["au_6"]) * (1 - 0.15 * a["au_4"])
    hl = idn["hl0"] * (1 - 0.55 * a["au_7"]) * (1 - 0.45 * a["au_6"])
    g.update(hu=hu, hl=hl, ex_r=50.0 - idn["eye_dx"], ex_l=50.0 + idn["eye_dx"])
    g["iy"] = ey - 0.2 * idn["hu0"]
    g["au6"], g["au7"] = a["au_6"], a["au_7"]
    # brows: y(t) = yb - arch*4t(1-t) + k_in*t^2 + k_out*(1-t)^2 + k0, t = 0 outer .. 1 inner
    au1, au2, au4 = a["au_1"], a["au_2"], a["au_4"]
    low = au4 * (1 - 0.6 * au1)
    g["yb"] = ey - idn["brow_gap"]
    g["b_in"] = -5.0 * au1 + 3.8 * low
    g["b_out"] = -4.5 * au2
    g["b_mid"] = -2.0 * au2
    g["b_0"] = -0.8 * au1 - 1.5 * au2 + 1.4 * low
    g["bi"] = idn["brow_bi"] - 1.8 * au4 + 0.3 * au1
    g["bth"] = idn["brow_th"] * (1 + 0.15 * au4)
    g["au1"], g["au2"], g["au4"] = au1, au2, au4
    g["au9"] = a["au_9"]
    # cheeks
    g["cheek_y"] = ey + 10.5 - 2.2 * a["au_6"]
    return g


def _brow_y(g: dict[str, np.ndarray], t: np.ndarray) -> np.ndarray:
    """Brow centre line at position t (0 outer end .. 1 inner end); broadcasts over t."""
    sh = (-1,) + (1,) * (t.ndim - 1) if t.ndim > 1 else (-1, 1)
    def c(k: str) -> np.ndarray:
        return g[k].reshape(sh)
    return (c("yb") - (c("brow_arch") - c("b_mid")) * 4 * t * (1 - t) + c("b_in") * t * t
            + c("b_out") * (1 - t) * (1 - t) + c("b_0"))


def _eye_g(q: np.ndarray) -> np.ndarray:
    z = np.maximum(1.0 - q * q, 0.0)
    return 0.55 * np.sqrt(z) + 0.45 * z


def _mouth_shapes(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Opening profile gs(t), lip thickness profile h(t), Cupid's bow bump(t)."""
    z = np.maximum(1.0 - (t / _TI) ** 2, 0.0)
    gs = 0.5 * z + 0.5 * np.sqrt(z)
    z1 = np.maximum(1.0 - t * t, 0.0)
    h = 0.5 * np.sqrt(z1) + 0.5 * z1
    bump = np.maximum(1.0 - (t / 0.22) ** 2, 0.0)
    return gs, h, bump


def _head_a(ha: np.ndarray, taper: np.ndarray, vn: np.ndarray) -> np.ndarray:
    """Half-width of the head contour at normalised height vn (narrowing towards the chin)."""
    lowv = np.clip(vn, 0.0, 1.15)
    upv = np.clip(vn, -1.3, 0.0)
    return ha * np.maximum(1.0 - taper * lowv * lowv - 0.06 * upv * upv, 0.25)


def canonical_landmarks(g: dict[str, np.ndarray]) -> np.ndarray:
    """The 68 iBUG landmarks (N, 68, 2) in canonical units, on the curves the renderer draws."""
    n = g["ha"].shape[0]
    L = np.zeros((n, 68, 2))
    # jaw 0-16 on the head contour
    vn = np.broadcast_to(_JAW_SIN[None], (n, 17))
    a = _head_a(g["ha"][:, None], g["taper"][:, None], vn)
    L[:, 0:17, 0] = 50.0 - a * _JAW_COS[None]
    L[:, 0:17, 1] = g["hy"][:, None] + g["hb"][:, None] * vn
    # brows 17-21 (right: outer -> inner), 22-26 (left: inner -> outer)
    t5 = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    by = _brow_y(g, np.broadcast_to(t5[None], (n, 5)))
    xo, xi = 50.0 - g["brow_bo"], 50.0 - g["bi"]
    L[:, 17:22, 0] = xo[:, None] + t5[None] * (xi - xo)[:, None]
    L[:, 17:22, 1] = by
    xo, xi = 50.0 + g["brow_bo"], 50.0 + g["bi"]
    L[:, 22:27, 0] = (xo[:, None] + t5[None] * (xi - xo)[:, None])[:, ::-1]
    L[:, 22:27, 1] = by[:, ::-1]
    # nose bridge 27-30, base 31-35
    for k in range(4):
        L[:, 27 + k, 0] = 50.0
        L[:, 27 + k, 1] = g["y27"] + (g["y30"] - g["y27"]) * (k / 3.0)
    for k, xn in enumerate((-1.0, -0.5, 0.0, 0.5, 1.0)):
        L[:, 31 + k, 0] = 50.0 + g["nw"] * xn
        L[:, 31 + k, 1] = g["y33"] - g["nc"] * xn * xn
    # eyes 36-41 (right), 42-47 (left): corner, upper, upper, corner, lower, lower
    qs = np.array([-1.0, -1 / 3, 1 / 3, 1.0, 1 / 3, -1 / 3])
    upper = np.array([0, 1, 1, 0, 0, 0], dtype=bool)
    lower = np.array([0, 0, 0, 0, 1, 1], dtype=bool)
    gq = _eye_g(qs)
    for base, ex, sgn in ((36, g["ex_r"], 1.0), (42, g["ex_l"], -1.0)):
        line = g["ey"][:, None] + sgn * g["tilt"][:, None] * qs[None]
        y = line - g["hu"][:, None] * gq[None] * upper[None] + g["hl"][:, None] * gq[None] * lower[None]
        L[:, base:base + 6, 0] = ex[:, None] + g["ew"][:, None] * qs[None]
        L[:, base:base + 6, 1] = y
    # mouth 48-67
    def mouth_pts(t: np.ndarray, which: str) -> tuple[np.ndarray, np.ndarray]:
        tt = np.broadcast_to(t[None], (n, t.size))
        w = np.where(tt < 0, g["w_r"][:, None], g["w_l"][:, None])
        c = np.where(tt < 0, g["c_r"][:, None], g["c_l"][:, None])
        m = g["my"][:, None] - c * (0.6 * tt * tt + 0.4 * tt ** 4)
        gs, h, bump = _mouth_shapes(tt)
        ui = m - g["gu"][:, None] * gs
        li = m + g["gl"][:, None] * gs
        y = {"uo": ui - g["tu"][:, None] * h * (1 - g["bow"][:, None] * bump), "lo": li + g["tl"][:, None] * h,
             "ui": ui, "li": li}[which]
        return 50.0 + tt * w, y
    for sl, t, which in ((slice(48, 55), _T_UP, "uo"), (slice(55, 60), _T_LO, "lo"),
                         (slice(61, 64), _T_INNER_UP, "ui"), (slice(65, 68), _T_INNER_LO, "li")):
        x, y = mouth_pts(t, which)
        L[:, sl, 0], L[:, sl, 1] = x, y
    for idx, t in ((60, -_TI), (64, _TI)):
        x, y = mouth_pts(np.array([t]), "ui")
        L[:, idx, 0], L[:, idx, 1] = x[:, 0], y[:, 0]
    return L


# pixel machinery
# --------------------------------------------------------------------------------------------------


def _p(x: np.ndarray) -> np.ndarray:
    """(N,) -> (N, 1, 1) float32 for broadcasting over a pixel window."""
    return np.asarray(x, dtype=F32).reshape(-1, 1, 1)


def _cov(d: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Coverage from a signed distance (canonical units, > 0 outside), in place."""
    np.multiply(d, -s, out=d)
    d += F32(0.5)
    np.clip(d, 0.0, 1.0, out=d)
    return d


def _ramp(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Coverage of the half-plane ``x > 0`` (x in canonical units): clip(x * s + 0.5, 0, 1)."""
    y = x * s
    y += F32(0.5)
    np.clip(y, 0.0, 1.0, out=y)
    return y


def _band(dist: np.ndarray, hw: np.ndarray | float, s: np.ndarray) -> np.ndarray:
    """Exact 1-D box-filter coverage of a band of half-width ``hw`` at distance ``dist`` (canonical)."""
    p = np.abs(dist)
    p *= s
    w = np.asarray(hw, dtype=F32) * s
    hi = np.minimum(p + F32(0.5), w)
    p -= F32(0.5)
    np.maximum(p, -w, out=p)
    hi -= p
    np.clip(hi, 0.0, 1.0, out=hi)
    return hi


def _ell(du: np.ndarray, dv: np.ndarray, rx: np.ndarray | float, ry: np.ndarray | float) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse (exact zero set)."""
    a = du / rx
    a *= a
    b = dv / ry
    b *= b
    a += b
    np.sqrt(a, out=a)
    a -= F32(1.0)
    a *= np.minimum(rx, ry)
    return a


class _Rows:
    """Geometry of a subset of canvas rows, sliced lazily."""

    def __init__(self, g: dict[str, np.ndarray], rows: np.ndarray):
        self.g, self.rows, self.n = g, rows, len(rows)
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        v = self._cache.get(key)
        if v is None:
            v = self._cache[key] = self.g[key][self.rows]
        return v


def _windows(img: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """A writeable view (C, N, H-ph+1, W-pw+1, ph, pw) of every ph x pw window of a (C, N, H, W) array.

    Indexing it with per-row window corners gathers one window per row as a block copy (much faster
    than element-wise fancy indexing); assigning through it writes the windows back (each row's
    window is distinct memory, so nothing is written twice)."""
    c, n, h, w = img.shape
    st = img.strides
    assert img.flags.c_contiguous and img.flags.writeable
    return np.ndarray((c, n, h - ph + 1, w - pw + 1, ph, pw), img.dtype, img, 0,
                      (st[0], st[1], st[2], st[3], st[2], st[3]))


class _Patch:
    """Pixels of some faces around one feature: canonical coordinates and the gathered canvas values.

    Each face gets its own window (all of one size, the largest the faces need), placed inside the
    image around that face's feature; ``idx`` holds the canvas rows and the windows' top-left corners.
    """

    __slots__ = ("idx", "pix", "s", "u", "v")

    def __init__(self, idx: tuple[np.ndarray, np.ndarray, np.ndarray], u: np.ndarray, v: np.ndarray, pix: np.ndarray, s: np.ndarray):
        self.idx, self.u, self.v, self.pix, self.s = idx, u, v, pix, s


class _Canvas:
    """The images being drawn, ``(C, N, H, W)`` float32 in [0, 1], and each row's pose."""

    def __init__(self, n: int, size: int, channels: int, pose: np.ndarray, debug: bool,
                 img: np.ndarray | None = None):
        self.n, self.h, self.w, self.c = n, size, size, channels
        self.img = np.empty((channels, n, size, size), dtype=F32) if img is None else img
        assert self.img.shape == (channels, n, size, size) and self.img.flags.c_contiguous
        cos, sin = pose[:, POSE["rot_cos"]], pose[:, POSE["rot_sin"]]
        S = pose[:, POSE["scale"]] * size / REF
        ox = (size - 1) / 2.0 + pose[:, POSE["tx"]] * size
        oy = (size - 1) / 2.0 + pose[:, POSE["ty"]] * size
        self.S, self.cos, self.sin, self.ox, self.oy = S, cos, sin, ox, oy
        iux, iuy = cos / S, sin / S
        ivx, ivy = -sin / S, cos / S
        self.inv = (_p(50.0 - iux * ox - iuy * oy), _p(iux), _p(iuy), _p(50.0 - ivx * ox - ivy * oy), _p(ivx),
                    _p(ivy))
        self.s = _p(S)
        self.plane = self.img.reshape(channels, -1)
        self.lod = size >= 64  # draw sub-pixel details (catchlights, lid creases) only from 64 px up
        self.debug: dict[str, np.ndarray] | None = {} if debug else None

    def to_pixels(self, u: np.ndarray, v: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Canonical -> pixel coordinates of the given rows (default: the first ``u.shape[0]`` rows)."""
        r = np.arange(u.shape[0]) if rows is None else rows
        sh = (-1,) + (1,) * (u.ndim - 1)
        c, s, S = self.cos[r].reshape(sh), self.sin[r].reshape(sh), self.S[r].reshape(sh)
        du, dv = u - 50.0, v - 50.0
        ox, oy = self.ox[r].reshape(sh), self.oy[r].reshape(sh)
        return ox + S * (c * du - s * dv), oy + S * (s * du + c * dv)

    def patch(self, rows: np.ndarray, u0: np.ndarray | None = None, v0: np.ndarray | None = None,
              u1: np.ndarray | None = None, v1: np.ndarray | None = None) -> _Patch:
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
            x0 = np.clip(np.floor(x.min(axis=1)).astype(np.int64) - 1, 0, self.w - 1)
            y0 = np.clip(np.floor(y.min(axis=1)).astype(np.int64) - 1, 0, self.h - 1)
            x1 = np.clip(np.ceil(x.max(axis=1)).astype(np.int64) + 2, 1, self.w)
            y1 = np.clip(np.ceil(y.max(axis=1)).astype(np.int64) + 2, 1, self.h)
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
        return _Patch(key, u, v, _windows(self.img, ph, pw)[:, rows, y0, x0], self.s[rows])

    def commit(self, p: _Patch) -> None:
        """Write a patch's pixels back into the canvas."""
        rows, y0, x0 = p.idx
        _windows(self.img, p.pix.shape[2], p.pix.shape[3])[:, rows, y0, x0] = p.pix

    @staticmethod
    def comp(p: _Patch, alpha: np.ndarray, colour: np.ndarray) -> None:
        """Alpha-composite a colour (C, k, 1, 1) with coverage ``alpha`` (k, h, w) into the patch."""
        t = colour - p.pix
        t *= alpha
        p.pix += t

    def keep(self, name: str, p: _Patch, alpha: np.ndarray) -> None:
        """Record a feature's own coverage (debug mode)."""
        if self.debug is None:
            return
        full = self.debug.get(name)
        if full is None:
            full = self.debug[name] = np.zeros((self.n, self.h, self.w), dtype=F32)
        rows, y0, x0 = p.idx
        win = _windows(full[None], alpha.shape[1], alpha.shape[2])[0]
        win[rows, y0, x0] = np.maximum(win[rows, y0, x0], alpha)

    def colour(self, rgb: np.ndarray, k: int | None = None) -> np.ndarray:
        """(k, 3) or (3,) RGB in [0, 1] -> (C, k, 1, 1) float32 in the canvas's channels."""
        rgb = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
        if rgb.ndim == 1:
            rgb = np.broadcast_to(rgb[None], (k or 1, 3))
        out = (rgb @ _LUMA)[None] if self.c == 1 else rgb.T
        return np.ascontiguousarray(out, dtype=F32).reshape(self.c, -1, 1, 1)


# --------------------------------------------------------------------------------------------------
# layers: each draws into the canvas rows ``rows`` with geometry ``g`` (a _Rows view of those rows)
# --------------------------------------------------------------------------------------------------


def _hairline(g: _Rows, du: np.ndarray, adu: np.ndarray) -> np.ndarray:
    """Canonical v of the hairline at each pixel (hair above it); bangs give a zig-zag fringe."""
    hap = _p(g["ha"])
    hl = _p(g["hairline"])
    ramp = adu * (F32(1.25) / hap)
    ramp -= F32(0.3)
    np.clip(ramp, 0.0, 1.0, out=ramp)
    ramp *= ramp
    line = hl + (_p(g["ey"] - 1.5) - hl) * ramp
    bangs = g["hair_style"] == 2
    if bangs.any():
        x = du * F32(1 / 3.2)
        zz = np.abs(x - np.rint(x))
        zz *= F32(2.0 * 1.6)
        zz += _p(g["yb"] - g["brow_arch"] - 3.5)
        line = np.where(_p(bangs) > 0, np.maximum(zz, line), line)
    return line


def _below_hair(g: _Rows, p: _Patch, du: np.ndarray, adu: np.ndarray) -> np.ndarray:
    """Coverage of 'not hair' (1 below the hairline and for bald faces)."""
    a = _ramp(p.v - _hairline(g, du, adu), p.s)
    bald = g["hair_style"] == 3
    if bald.any():
        a = np.maximum(a, _p(bald))
    return a


def _draw_background(cv: _Canvas, g: _Rows, rows: np.ndarray) -> None:
    """Background, long hair behind the head, neck, clothes and ears."""
    cv.img[:, rows] = cv.colour(g["bg"])
    ha, hy, hb, ey = g["ha"], g["hy"], g["hb"], g["ey"]
    long_ = np.flatnonzero(g["hair_style"] == 1)
    if long_.size:
        gl = _Rows({k: g[k] for k in ("ha", "hy", "hb", "hair_thick", "hair")}, long_)
        ha_, hy_, hb_, ht_ = gl["ha"], gl["hy"], gl["hb"], gl["hair_thick"]
        p = cv.patch(rows[long_], 50.0 - ha_ - ht_ - 3.0, hy_ - hb_ - ht_ - 1.0, 50.0 + ha_ + ht_ + 3.0,
                     hy_ + 0.9 * hb_ + 1.0)
        hap, hbp, htp = _p(ha_), _p(hb_), _p(ht_)
        du = p.u - F32(50.0)
        dv = p.v - _p(hy_)
        d1 = _ell(du, dv + F32(2.0), hap + htp + F32(2.5), hbp * F32(0.96) + htp)
        d2 = np.maximum(np.abs(du) - (hap + htp + F32(1.5)), np.abs(dv - hbp * F32(0.35)) - hbp * F32(0.55))
        np.minimum(d1, d2, out=d1)
        cv.comp(p, _cov(d1, p.s), cv.colour(gl["hair"] * 0.8))
        cv.commit(p)
    # neck and clothes
    p = cv.patch(rows, 50.0 - 1.7 * ha - 1.0, hy + 0.38 * hb, 50.0 + 1.7 * ha + 1.0, hy + hb + 40.0)
    du = p.u - F32(50.0)
    a = _cov(np.maximum(np.abs(du) - _p(ha * g["neck_w"]), _p(hy + hb * 0.4) - p.v), p.s)
    cv.comp(p, a, cv.colour(g["skin"] * 0.78))
    a = _cov(_ell(du, p.v - _p(hy + hb + 19.0), _p(ha * 1.7), F32(17.0)), p.s)
    cv.comp(p, a, cv.colour(g["clothes"]))
    cv.commit(p)
    # ears
    rx, ry = 3.4 * g["ear"], 7.0 * g["ear"]
    for sgn in (-1.0, 1.0):
        ex = 50.0 + sgn * (ha - 0.8)
        ecy = ey + 3.5
        p = cv.patch(rows, ex - rx - 1.0, ecy - ry - 1.0, ex + rx + 1.0, ecy + ry + 1.0)
        du = p.u - _p(ex)
        dv = p.v - _p(ecy)
        a = _cov(_ell(du, dv, _p(rx), _p(ry)), p.s)
        cv.comp(p, a, cv.colour(g["skin"] * 0.9))
        a = _cov(_ell(du - F32(sgn * 0.6), dv, _p(rx * 0.5), _p(ry * 0.6)), p.s)
        a *= F32(0.45)
        cv.comp(p, a, cv.colour(g["skin"] * 0.6))
        cv.commit(p)


def _draw_head(cv: _Canvas, g: _Rows, rows: np.ndarray) -> None:
    """The head with contour shading, the hair above the hairline, blush, age lines, the nose bridge."""
    ha, hy, hb = g["ha"], g["hy"], g["hb"]
    p = cv.patch(rows, 50.0 - ha - 1.0, hy - hb - 1.0, 50.0 + ha + 1.0, hy + hb + 1.0)
    hap, hbp = _p(ha), _p(hb)
    du = p.u - F32(50.0)
    vn = (p.v - _p(hy)) / hbp
    low = np.clip(vn, 0.0, 1.15)
    low *= low
    low *= _p(-g["taper"])
    low += F32(1.0)
    np.maximum(low, F32(0.25), out=low)
    k = du / low
    k *= F32(1.0) / hap
    k *= k
    vn *= vn
    k += vn
    np.sqrt(k, out=k)
    d = (k - F32(1.0)) * np.minimum(hap, hbp)
    alpha = _cov(d, p.s)
    cv.keep("head", p, alpha)
    skin = g["skin"]
    cv.comp(p, alpha, cv.colour(skin))
    k -= F32(0.78)
    np.clip(k, 0.0, 1.0, out=k)
    k *= alpha
    k *= F32(0.22)
    cv.comp(p, k, cv.colour(skin * 0.7))
    cv.commit(p)
    # hair above the hairline
    hair = np.flatnonzero(g["hair_style"] != 3)
    if hair.size:
        gh = _Rows({k2: g[k2] for k2 in ("ha", "hy", "hb", "hair_thick", "hairline", "ey", "hair_style", "yb",
                                         "brow_arch", "hair")}, hair)
        ha_, hy_, hb_, ht_ = gh["ha"], gh["hy"], gh["hb"], gh["hair_thick"]
        p = cv.patch(rows[hair], 50.0 - ha_ - ht_ - 1.0, hy_ - hb_ - ht_ - 1.0, 50.0 + ha_ + ht_ + 1.0,
                     gh["ey"] + 0.5)
        du = p.u - F32(50.0)
        adu = np.abs(du)
        d = _ell(du, p.v - _p(hy_ - 1.0), _p(ha_ + ht_), _p(hb_ + ht_))
        np.maximum(d, p.v - _hairline(gh, du, adu), out=d)
        cv.comp(p, _cov(d, p.s), cv.colour(gh["hair"]))
        cv.commit(p)
    # blush on the cheeks (neutral position) and age lines (nasolabial folds)
    half = np.maximum(g["eye_dx"] + 9.0, g["mw0"] + 5.0)
    p = cv.patch(rows, 50.0 - half, g["ey"] + 5.0, 50.0 + half, g["my0"] + 5.0)
    adu = np.abs(p.u - F32(50.0))
    dx = adu - _p(g["eye_dx"] + 2.5)
    dv = p.v - _p(g["ey"] + 10.5)
    k2 = (dx * F32(1 / 6.5)) ** 2 + (dv * F32(1 / 4.5)) ** 2
    blush = np.clip(F32(1.0) - k2, 0.0, 1.0)
    blush *= _p(g["blush"])
    cv.comp(p, blush, cv.colour(skin * 0.55 + np.array([0.42, 0.1, 0.1])))
    _fold(cv, g, p, adu, _p(np.minimum(g["age"] * 0.35, 0.9)))
    cv.commit(p)
    # nose bridge highlight (the bridge landmarks' feature), bridge side shadow and tip
    y27v, y30v = g["y27"], g["y30"]
    p = cv.patch(rows, np.full(len(rows), 46.0), y27v - 1.0, np.full(len(rows), 54.0), y30v + 3.5)
    s = p.s
    du = p.u - F32(50.0)
    adu = np.abs(du)
    y27, y30 = _p(y27v), _p(y30v)
    d = np.maximum(adu - F32(1.3), np.maximum(y27 - p.v, p.v - (y30 + F32(1.0))))
    a = _cov(d, s)
    cv.keep("nose", p, a)
    a *= F32(0.12)
    light = cv.colour(np.minimum(skin * 1.15 + 0.04, 1.0))
    cv.comp(p, a, light)
    a = _band(du - _p(g["light_side"]) * F32(2.9), 0.55, s)
    a *= _ramp(np.minimum(p.v - (y27 + F32(5.0)), y30 - p.v), s)
    a *= F32(0.25)
    cv.comp(p, a, cv.colour(skin * 0.65))
    a = _cov(_ell(du, p.v - (y30 + F32(0.6)), F32(2.6), F32(2.2)), s)
    a *= F32(0.1)
    cv.comp(p, a, light)
    cv.commit(p)


def _fold(cv: _Canvas, g: _Rows, p: _Patch, adu: np.ndarray, strength: np.ndarray) -> None:
    """Nasolabial folds (both sides) with the given per-face darkness."""
    vt, vb = _p(g["y33"] - 1.0 + 1.6 * g["au9"]), _p(g["my0"] + 4.5)  # from the neutral nose wing
    xt, xb = _p(g["nw0"] + 1.6), _p(g["mw0"] + 3.2)
    sv = (p.v - vt) / (vb - vt)
    xline = xt + (xb - xt) * sv + F32(1.8) * sv * (F32(1.0) - sv)
    a = _band(adu - xline, 0.5, p.s)
    a *= _ramp((F32(0.5) - np.abs(sv - F32(0.5))) * (vb - vt), p.s)
    np.clip(sv, 0.0, 1.0, out=sv)
    sv *= F32(-0.5)
    sv += F32(1.0)
    a *= sv
    a *= strength
    cv.comp(p, a, cv.colour(g["skin"] * 0.55))


def _draw_cheeks(cv: _Canvas, g: _Rows, rows: np.ndarray) -> None:
    """AU6 raises the cheeks (a lifted highlight); AU9 deepens the nasolabial folds."""
    sub = np.flatnonzero(g["au6"] > 0)
    if sub.size:
        gs = _Rows({k: g[k] for k in ("eye_dx", "cheek_y", "au6", "skin")}, sub)
        half = gs["eye_dx"] + 8.0
        cy = gs["cheek_y"] - 1.2
        p = cv.patch(rows[sub], 50.0 - half, cy - 3.5, 50.0 + half, cy + 3.5)
        dx = np.abs(p.u - F32(50.0)) - _p(gs["eye_dx"] + 2.5)
        dv = p.v - _p(cy)
        k2 = (dx * F32(1 / 4.8)) ** 2 + (dv * F32(1 / 3.0)) ** 2
        hi = np.clip(F32(1.0) - k2, 0.0, 1.0)
        hi *= _p(0.3 * gs["au6"])
        cv.comp(p, hi, cv.colour(np.minimum(gs["skin"] * 1.18 + 0.05, 1.0)))
        cv.commit(p)
    sub = np.flatnonzero(g["au9"] > 0)
    if sub.size:
        gs = _Rows({k: g[k] for k in ("y33", "my0", "nw0", "mw0", "au9", "skin")}, sub)
        half = gs["mw0"] + 5.5
        p = cv.patch(rows[sub], 50.0 - half, gs["y33"] - 2.0, 50.0 + half, gs["my0"] + 5.0)
        _fold(cv, gs, p, np.abs(p.u - F32(50.0)), _p(0.6 * gs["au9"]))
        cv.commit(p)


def _draw_nose_base(cv: _Canvas, g: _Rows, rows: np.ndarray) -> None:
    """Nose base line through landmarks 31-35, nostrils, alar creases and (AU9) bridge wrinkles."""
    nw = g["nw"]
    au9 = g["au9"]
    top = np.where(au9 > 0, g["y27"] + 1.0, g["y33"] - 4.5)
    p = cv.patch(rows, 50.0 - nw - 1.0, top, 50.0 + nw + 1.0, g["y33"] + 1.5)
    s = p.s
    du = p.u - F32(50.0)
    adu = np.abs(du)
    y27, y33 = _p(g["y27"]), _p(g["y33"])
    nwp, nc = _p(nw), _p(g["nc"])
    skin = g["skin"]
    if np.any(au9 > 0):
        vv = p.v - (y27 + F32(3.0)) + F32(0.06) * du * du
        rem = vv - F32(2.4) * np.rint(vv * F32(1 / 2.4))
        a = _band(rem, 0.45, s)
        a *= _ramp(F32(3.4) - adu, s)
        a *= _ramp(np.minimum(vv + F32(0.9), F32(5.7) - vv), s)
        a *= _p(0.6 * au9)
        cv.comp(p, a, cv.colour(skin * 0.6))
    xn = du / nwp
    xn *= xn
    base = _band(p.v - (y33 - nc * xn), 0.45, s)
    base *= _ramp(nwp - adu, s)
    nos = _cov(_ell(adu - F32(0.45) * nwp, p.v - (y33 - F32(1.1)), F32(0.3) * nwp + F32(0.3), F32(0.85)), s)
    ax = adu - (nwp - F32(1.6))
    r = np.sqrt(ax * ax + (p.v - (y33 - F32(1.6))) ** 2)
    ala = _band(r - F32(2.0), 0.35, s)
    ala *= _ramp(ax, s)
    if cv.debug is not None:
        cv.keep("nose_base", p, np.maximum(np.maximum(base, nos), ala))
    base *= F32(0.5)
    cv.comp(p, base, cv.colour(skin * 0.5))
    ala *= F32(0.45)
    cv.comp(p, ala, cv.colour(skin * 0.55))
    nos *= F32(0.9)
    cv.comp(p, nos, cv.colour(skin * 0.28))
    cv.commit(p)


def _draw_mouth(cv: _Canvas, g: _Rows, rows: np.ndarray) -> None:
    """Lips (outline through landmarks 48-59), mouth interior (60-67), teeth, AU12 brackets, AU14 dimples."""
    wr, wl, cr, cl = g["w_r"], g["w_l"], g["c_r"], g["c_l"]
    wmax = np.maximum(wr, wl)
    my = g["my"]
    k12 = np.maximum(g["au12_r"], g["au12_l"])
    k14 = np.maximum(g["au14_r"], g["au14_l"])
    extra = np.where((k12 > 0) | (k14 > 0), 3.0, 0.8)
    top = my - np.maximum(np.maximum(cr, cl), 0) - g["gu"] - g["tu"] - extra
    bot = my + np.maximum(-np.minimum(cr, cl), 0) + g["gl"] + g["tl"] + extra
    p = cv.patch(rows, 50.0 - wmax - extra, top, 50.0 + wmax + extra, bot)
    s = p.s
    du = p.u - F32(50.0)
    v = p.v
    neg = (du < 0).astype(F32)
    w = _p(wl) + _p(wr - wl) * neg
    c = _p(cl) + _p(cr - cl) * neg
    t = du / w
    at = np.abs(t)
    tt = t * t
    m = _p(my) - c * (F32(0.6) * tt + F32(0.4) * tt * tt)
    gs, h, bump = _mouth_shapes(t)
    ui = m - _p(g["gu"]) * gs
    li = m + _p(g["gl"]) * gs
    uo = ui - _p(g["tu"]) * h * (F32(1.0) - _p(g["bow"]) * bump)
    lo = li + _p(g["tl"]) * h
    lips = _cov(np.maximum(np.maximum(uo - v, v - lo), (at - F32(1.0)) * w), s)
    lipc = g["lip"]
    cv.comp(p, lips, cv.colour(lipc * 1.04))
    up_a = _ramp(m - v, s)  # upper lip a little darker
    up_a *= lips
    up_a *= F32(0.35)
    cv.comp(p, up_a, cv.colour(lipc * 0.8))
    # mouth interior and teeth
    # interior: exact vertical box-filter coverage of [ui, li] (zero for a closed mouth), cut at the
    # inner corners
    vs = v * s
    inner = np.minimum(vs + F32(0.5), li * s)
    inner -= np.maximum(vs - F32(0.5), ui * s)
    np.clip(inner, 0.0, 1.0, out=inner)
    inner *= _ramp((F32(_TI) - at) * w, s)
    if np.any(g["gl"] > 0):
        n = len(rows)
        cv.comp(p, inner, cv.colour(np.array([0.22, 0.07, 0.07]), n))
        teeth = np.array([0.95, 0.93, 0.88])
        a = np.minimum(inner, _ramp(ui + _p(g["teeth_up"]) - v, s))
        a *= _ramp((F32(0.78) - at) * w, s)
        cv.comp(p, a, cv.colour(teeth, n))
        if np.any(g["teeth_lo"] > 0):
            a = np.minimum(inner, _ramp(v - (li - F32(1.3)), s))
            a *= _ramp((F32(0.6) - at) * w, s)
            a *= _p(g["teeth_lo"])
            cv.comp(p, a, cv.colour(teeth * 0.92, n))
    # seam between the lips (outside the open interior), darker towards the corners
    seam = _band(v - m, 0.42, s)
    seam *= _ramp((F32(1.02) - at) * w, s)
    seam *= F32(1.0) - inner
    seam *= F32(0.55) + F32(0.35) * _p(g["au23"])
    # the corners (commissures) are a little darker
    for corner, sgn in ((wr, -1.0), (wl, 1.0)):
        dx = p.u - _p(50.0 + sgn * corner)
        dy = v - _p(my - (cr if sgn < 0 else cl))
        a = _cov(np.sqrt(dx * dx + dy * dy) - F32(0.8), s)
        seam = np.maximum(seam, a * F32(0.6), out=seam)
    cv.comp(p, seam, cv.colour(lipc * 0.35))
    if cv.debug is not None:
        cv.keep("lips", p, np.maximum(lips, seam))
        cv.keep("mouth_inner", p, inner)
    # AU12 smile brackets and AU14 dimples beside each corner
    for side, sgn in (("r", -1.0), ("l", 1.0)):
        a12, a14 = g[f"au12_{side}"], g[f"au14_{side}"]
        cx = F32(50.0) + F32(sgn) * _p(g[f"w_{side}"])
        cy = _p(my - g[f"c_{side}"])
        if np.any(a12 > 0):
            dv = v - cy + F32(0.6)
            bx = cx + F32(sgn) * (F32(1.9) - F32(0.12) * dv * dv)
            a = _band(p.u - bx, 0.4, s)
            a *= _ramp(F32(2.7) - np.abs(dv), s)
            a *= _p(0.5 * a12)
            cv.comp(p, a, cv.colour(g["skin"] * 0.55))
        if np.any(a14 > 0):
            a = _cov(_ell(p.u - (cx + F32(sgn * 1.1)), v - (cy + F32(0.3)), F32(0.9), F32(0.9)), s)
            a *= _p(0.55 * a14)
            cv.comp(p, a, cv.colour(g["skin"] * 0.5))
    cv.commit(p)


def _draw_eye(cv: _Canvas, g: _Rows, rows: np.ndarray, side: str) -> None:
    """One eye: lids through landmarks 36-41 / 42-47, iris, pupil, lid lines, AU6 crow's feet."""
    sgn = 1.0 if side == "r" else -1.0  # tilt sign; the outer corner is at q = -sgn
    ex = g[f"ex_{side}"]
    ew, hu, hl, ey = g["ew"], g["hu"], g["hl"], g["ey"]
    p = cv.patch(rows, ex - ew - 1.0, ey - hu - 4.6, ex + ew + 1.0, ey + hl + 3.0)
    s = p.s
    skin = g["skin"]
    n = len(rows)
    exp, ewp, hup, hlp, eyp = _p(ex), _p(ew), _p(hu), _p(hl), _p(ey)
    du = p.u - exp
    v = p.v
    q = du / ewp
    aq = np.abs(q)
    line = eyp + F32(sgn) * _p(g["tilt"]) * q
    gq = _eye_g(q)
    top = line - hup * gq
    bot = line + hlp * gq
    # socket shadow above the eye
    k2 = (du * (F32(0.8) / ewp)) ** 2 + ((v - eyp + F32(2.6)) * F32(1 / 3.6)) ** 2
    sh = np.clip(F32(1.0) - k2, 0.0, 1.0)
    sh *= F32(0.16)
    cv.comp(p, sh, cv.colour(skin * 0.72))
    # lower-lid bulge (AU6 / AU7 make it stronger) and, at higher resolution, the lid crease
    bul = _band(v - (bot + F32(1.5)), 0.4, s)
    bul *= _ramp((F32(0.8) - aq) * ewp, s)
    bul *= _p(0.12 + 0.45 * np.maximum(g["au6"], 0.7 * g["au7"]))
    cv.comp(p, bul, cv.colour(skin * 0.62))
    if cv.lod:
        cre = _band(v - (top - F32(1.9) * gq - F32(0.5)), 0.35, s)
        cre *= _ramp((F32(0.85) - aq) * ewp, s)
        cre *= F32(0.3)
        cv.comp(p, cre, cv.colour(skin * 0.6))
    # sclera
    sclera = _cov(np.maximum(np.maximum(top - v, v - bot), (aq - F32(1.0)) * ewp), s)
    cv.comp(p, sclera, cv.colour(np.array([0.93, 0.92, 0.9]), n))
    # iris, pupil, catchlight (clipped by the lids)
    ir = _p(g["iris_r"])
    dx, dy = du - _p(g["gaze"]), v - _p(g["iy"])
    r = np.sqrt(dx * dx + dy * dy)
    a = np.minimum(_cov(r - ir, s), sclera)
    cv.comp(p, a, cv.colour(g["iris"]))
    r -= ir * F32(0.45)
    a = np.minimum(_cov(r, s), sclera)
    cv.comp(p, a, cv.colour(np.array([0.03, 0.03, 0.03]), n))
    if cv.lod:
        dx -= ir * F32(0.35)
        dy += ir * F32(0.35)
        r2 = np.sqrt(dx * dx + dy * dy)
        a = np.minimum(_cov(r2 - ir * F32(0.22), s), sclera)
        a *= F32(0.85)
        cv.comp(p, a, cv.colour(np.array([1.0, 1.0, 1.0]), n))
    # lid lines: upper (with lashes) and lower
    qcap = _ramp((F32(1.06) - aq) * ewp, s)
    up = _band(v - top + F32(0.25), 0.6, s)
    up *= qcap
    cv.comp(p, up, cv.colour(np.minimum(g["brow"], 0.25) * 0.6))
    lo = _band(v - bot, 0.3, s)
    lo *= qcap
    if cv.debug is not None:
        cv.keep(f"eye_{side}", p, np.maximum(np.maximum(sclera, up), lo))
    lo *= F32(0.55)
    cv.comp(p, lo, cv.colour(skin * 0.45))
    cv.commit(p)
    # AU6 crow's feet at the outer corner (only faces that show AU6)
    sub = np.flatnonzero(g["au6"] > 0)
    if sub.size:
        gs = _Rows({k: g[k] for k in ("ew", "ey", "tilt", "au6", "skin", f"ex_{side}")}, sub)
        qo = -sgn
        cxv = gs[f"ex_{side}"] + qo * (gs["ew"] + 0.8)
        cyv = gs["ey"] - gs["tilt"]
        p = cv.patch(rows[sub], np.minimum(cxv, cxv + qo * 6.0), cyv - 4.0, np.maximum(cxv, cxv + qo * 6.0),
                     cyv + 4.0)
        ddu, ddv = p.u - _p(cxv), p.v - _p(cyv)
        a_all = None
        for dxc, dyc in _CROW:
            dxc = dxc * sgn
            along = ddu * F32(dxc) + ddv * F32(dyc)
            across = ddv * F32(dxc) - ddu * F32(dyc)
            a = _band(across, 0.32, p.s)
            along -= F32(3.0)
            a *= _ramp(F32(2.2) - np.abs(along), p.s)
            a_all = a if a_all is None else np.maximum(a_all, a, out=a_all)
        assert a_all is not None
        a_all *= _p(0.6 * gs["au6"])
        cv.comp(p, a_all, cv.colour(gs["skin"] * 0.55))
        cv.commit(p)


def _draw_brows(cv: _Canvas, g: _Rows, rows: np.ndarray) -> None:
    """Brows through landmarks 17-26, AU1/AU2 forehead lines, AU4 furrows; hidden under the hair."""
    bo, yb, arch = g["brow_bo"], g["yb"], g["brow_arch"]
    forehead = (g["au1"] > 0) | (g["au2"] > 0)
    top = yb - np.where(forehead, arch + 13.5, arch + 2.5 + 0.5 * g["bth"] - g["b_0"]
                        - np.minimum(g["b_in"], 0) - np.minimum(g["b_out"], 0))
    half = np.where(forehead, 23.0, bo + 1.0)
    p = cv.patch(rows, 50.0 - half, top, 50.0 + half, yb + 2.0 + g["bth"] + np.maximum(g["b_in"], 0) + g["b_0"])
    s = p.s
    skin = g["skin"]
    du = p.u - F32(50.0)
    adu = np.abs(du)
    v = p.v
    ybp = _p(yb)
    hair = _below_hair(g, p, du, adu)
    # AU1 / AU2 forehead lines: central for AU1, lateral for AU2
    if forehead.any():
        xn = adu * F32(1 / 21.0)
        vv = ybp - _p(arch) - F32(5.2) - F32(1.4) * (F32(1.0) - xn * xn) - v
        rem = vv - F32(3.0) * np.rint(vv * F32(1 / 3.0))
        a = _band(rem, 0.42, s)
        a *= _ramp(np.minimum(vv + F32(1.0), F32(7.0) - vv), s)
        wgt = _p(g["au1"]) * np.clip(F32(1.15) - F32(1.2) * xn, 0.0, 1.0)
        wgt += _p(g["au2"]) * np.clip(F32(1.5) * xn - F32(0.2), 0.0, 1.0)
        np.minimum(wgt, F32(1.0), out=wgt)
        a *= wgt
        a *= np.clip((F32(22.0) - adu) * s * F32(0.25), 0.0, 1.0)
        a *= hair
        a *= F32(0.5)
        cv.comp(p, a, cv.colour(skin * 0.6))
    bip = _p(g["bi"])
    # AU4 vertical furrows between the brows
    if np.any(g["au4"] > 0):
        vv = v - (ybp + _p(g["b_in"] + g["b_0"]) - F32(1.5))
        a = _band(adu - (bip * F32(0.45) + F32(0.25) * vv), 0.5, s)
        a *= _ramp(F32(2.8) - np.abs(vv - F32(2.6)), s)
        a *= _p(0.8 * g["au4"])
        cv.comp(p, a, cv.colour(skin * 0.55))
    # brows
    bop, bth = _p(bo), _p(g["bth"])
    t = (bop - adu) / (bop - bip)
    tt = np.clip(t, 0.0, 1.0)
    it = F32(1.0) - tt
    yc = (ybp + _p(g["b_0"]) - (_p(arch) - _p(g["b_mid"])) * F32(4.0) * tt * it
          + _p(g["b_in"]) * tt * tt + _p(g["b_out"]) * it * it)
    half_t = bth * (F32(0.36) + F32(0.2) * tt)
    t -= F32(0.5)
    d = np.maximum(np.abs(v - yc) - half_t, (np.abs(t) - F32(0.5)) * (bop - bip))
    a = _cov(d, s)
    if cv.debug is not None:
        right = du < 0
        cv.keep("brow_r", p, a * right)
        cv.keep("brow_l", p, a * ~right)
    a *= hair
    a *= F32(0.92)
    cv.comp(p, a, cv.colour(g["brow"]))
    cv.commit(p)


def _draw_glasses(cv: _Canvas, g: _Rows, rows: np.ndarray) -> None:
    ha, ey = g["ha"], g["ey"]
    p = cv.patch(rows, 50.0 - ha - 0.5, ey - 8.0, 50.0 + ha + 0.5, ey + 6.0)
    s = p.s
    adu = np.abs(p.u - F32(50.0))
    rx = _p((g["ew"] + 3.2) * g["glasses_rx"])
    ry = _p(g["hu0"] + 3.8)
    cy = _p(ey + 0.4)
    dx = _p(g["eye_dx"])
    k = np.sqrt(((adu - dx) / rx) ** 2 + ((p.v - cy) / ry) ** 2)
    k -= F32(1.0)
    k *= ry
    ring = _band(k, 0.5, s)
    inside = _ramp(-k, s)
    inside *= F32(0.1)
    cv.comp(p, inside, cv.colour(np.array([0.85, 0.9, 0.95]), len(rows)))
    bridge = _band(p.v - (cy - F32(1.5)), 0.5, s)
    bridge *= _ramp(dx - rx - adu, s)
    arm = _band(p.v - (cy - F32(1.8)), 0.5, s)
    arm *= _ramp(adu - (dx + rx), s)
    arm *= _ramp(_p(ha) + F32(0.5) - adu, s)
    a = np.maximum(np.maximum(ring, bridge), arm)
    cv.comp(p, a, cv.colour(g["glasses_col"]))
    cv.commit(p)


def _draw_occluders(cv: _Canvas, pose: np.ndarray, rows: np.ndarray) -> None:
    """A hand-like blob (palm, fingers, thumb) or a bar over the face."""
    pz = pose[rows]
    p = cv.patch(rows)
    oc, os_ = _p(pz[:, POSE["occ_cos"]]), _p(pz[:, POSE["occ_sin"]])
    size = _p(pz[:, POSE["occ_size"]])
    du = p.u - _p(pz[:, POSE["occ_x"]])
    dv = p.v - _p(pz[:, POSE["occ_y"]])
    x = (oc * du + os_ * dv) / size
    y = (oc * dv - os_ * du) / size
    kind = _p(pz[:, POSE["occ_kind"]])
    d = _ell(x, y - F32(4.0), F32(8.0), F32(9.0))
    for fx, fy, ry in ((-5.4, -9.0, 6.0), (-1.8, -11.0, 7.0), (1.8, -10.5, 6.8), (5.4, -8.5, 5.6)):
        np.minimum(d, _ell(x - F32(fx), y - F32(fy), F32(1.7), F32(ry)), out=d)
    np.minimum(d, _ell(x - F32(9.0), y - F32(1.0), F32(5.0), F32(1.9)), out=d)
    bar = np.maximum(np.abs(x) - F32(32.0), np.abs(y) - F32(4.5))
    d = np.where(kind == 1, d, bar)
    d *= size
    a = _cov(d, p.s)
    col = np.stack([pz[:, POSE["occ_r"]], pz[:, POSE["occ_g"]], pz[:, POSE["occ_b"]]], axis=1)
    cv.comp(p, a, cv.colour(col))
    cv.commit(p)


def _light_and_blur(cv: _Canvas, pose: np.ndarray) -> None:
    n, h, w = cv.n, cv.h, cv.w
    xs = (np.arange(w, dtype=F32) - F32((w - 1) / 2)) * F32(1.0 / w)
    ys = (np.arange(h, dtype=F32) - F32((h - 1) / 2)) * F32(1.0 / h)
    gx = _p(pose[:, POSE["grad_x"]] * pose[:, POSE["gain"]])
    gy = _p(pose[:, POSE["grad_y"]] * pose[:, POSE["gain"]])
    f = (_p(pose[:, POSE["gain"]]) + gx * xs.reshape(1, 1, w)) + gy * ys.reshape(1, h, 1)
    img = cv.img
    img *= f
    if cv.c == 3:
        cast = np.stack([pose[:, POSE["cast_r"]], pose[:, POSE["cast_g"]], pose[:, POSE["cast_b"]]])
        img *= (F32(1.0) + cast.astype(F32)).reshape(3, n, 1, 1)
    beta = pose[:, POSE["blur"]]
    passes = pose[:, POSE["blur_passes"]]
    for k in range(int(passes.max()) if n else 0):
        b = np.where(passes > k, beta, 0.0)
        if not np.any(b > 0):
            break
        t = np.empty_like(img)
        np.add(img[..., :-2], img[..., 2:], out=t[..., 1:-1])
        t[..., 1:-1] += img[..., 1:-1]
        t[..., 1:-1] += img[..., 1:-1]
        t[..., 0] = img[..., 0] * F32(3.0) + img[..., 1]
        t[..., -1] = img[..., -1] * F32(3.0) + img[..., -2]
        t2 = np.empty_like(img)
        np.add(t[..., :-2, :], t[..., 2:, :], out=t2[..., 1:-1, :])
        t2[..., 1:-1, :] += t[..., 1:-1, :]
        t2[..., 1:-1, :] += t[..., 1:-1, :]
        t2[..., 0, :] = t[..., 0, :] * F32(3.0) + t[..., 1, :]
        t2[..., -1, :] = t[..., -1, :] * F32(3.0) + t[..., -2, :]
        t2 *= F32(1 / 16)
        t2 -= img
        t2 *= _p(b)
        img += t2


# --------------------------------------------------------------------------------------------------
# batch rendering
# --------------------------------------------------------------------------------------------------

_AU_LAYERS = (
    ("cheeks", ("au_6", "au_9"), _draw_cheeks),
    ("nose_base", ("au_9",), _draw_nose_base),
    ("mouth", ("au_12_r", "au_12_l", "au_14_r", "au_14_l", "au_15", "au_16", "au_20", "au_23", "au_26"),
     _draw_mouth),
    ("eye_r", ("au_4", "au_5", "au_6", "au_7"), lambda cv, g, rows: _draw_eye(cv, g, rows, "r")),
    ("eye_l", ("au_4", "au_5", "au_6", "au_7"), lambda cv, g, rows: _draw_eye(cv, g, rows, "l")),
    ("brows", ("au_1", "au_2", "au_4"), _draw_brows),
)
"""The layers action units change, in drawing order, with the AU channels each depends on."""
_AU_DEPS = {name: np.array([CH[c] for c in deps]) for name, deps, _ in _AU_LAYERS}


@dataclass
class RenderOutput:
    """Arrays for a list of faces (N faces)."""

    images: np.ndarray  # (N, H, W) or (N, H, W, 3) uint8
    landmarks: np.ndarray  # (N, 68, 2) float32, pixel coordinates (pixel centres at integers)
    evidence: np.ndarray  # (N, H, W) bool
    identity: dict[str, np.ndarray]  # per-face identity parameters
    features: dict[str, np.ndarray] | None  # debug: feature name -> (N, H, W) coverage


def render_batch(params: Sequence[FaceParams], debug: bool = False) -> RenderOutput:
    """Render faces (all of one size and channel count), their landmarks and evidence masks.

    Drawing happens in two passes. The *base* pass draws, once per face, everything its label does
    not change: background, hair, head, and every AU layer whose AUs the label leaves untouched. The
    base is copied to the face's twin, and the *expression* pass draws the remaining AU layers on
    face and twin (each with its own AUs), then glasses, occluders, lighting and blur on both. Face
    and twin therefore go through the same layers in the same order.

    With ``debug`` the output also holds every feature's own drawn coverage (see :data:`FEATURES`),
    used to check that each landmark lies on the feature it names.
    """
    if not params:
        raise ValueError("render_batch needs at least one FaceParams")
    size, channels = params[0].size, params[0].channels
    for p in params:
        if p.size != size or p.channels != channels:
            raise ValueError(f"face {p.index}: size/channels {p.size}/{p.channels} differ from the batch's "
                             f"{size}/{channels}; render faces of one size together")
        if p.noise.shape != (size * size,):
            raise ValueError(f"face {p.index}: noise field has {p.noise.shape[0]} values, expected {size * size}")
    n = len(params)
    au_label = np.stack([p.au_label for p in params])
    au_other = np.stack([p.au_other for p in params])
    twin_of = np.flatnonzero(au_label.max(axis=1) > 0)
    twin_row = np.full(n, -1, dtype=np.int64)
    twin_row[twin_of] = n + np.arange(twin_of.size)
    rows_all = np.concatenate([np.arange(n), twin_of])
    au = np.concatenate([np.maximum(au_label, au_other), au_other[twin_of]])
    pose_n = np.stack([p.pose for p in params])
    idn = _identity(np.stack([p.identity_u for p in params]))
    # base pass: one row per face
    g_n = _geometry(idn, au[:n])
    base = _Canvas(n, size, channels, pose_n, debug)
    faces = np.arange(n)
    everyone = _Rows(g_n, faces)
    _draw_background(base, everyone, faces)
    _draw_head(base, everyone, faces)
    changing: dict[str, np.ndarray] = {}
    for name, _, fn in _AU_LAYERS:
        moved = au_label[:, _AU_DEPS[name]].max(axis=1) > 0
        stable = np.flatnonzero(~moved)
        if stable.size:
            fn(base, _Rows(g_n, stable), stable)
        changing[name] = np.flatnonzero(moved)
    # expression pass: faces and twins
    img = base.img if not twin_of.size else np.concatenate([base.img, base.img[:, twin_of]], axis=1)
    pose = pose_n[rows_all]
    g = _geometry({k: v[rows_all] for k, v in idn.items()}, au) if twin_of.size else g_n
    cv = _Canvas(len(rows_all), size, channels, pose, debug, img=img)
    if cv.debug is not None and base.debug is not None:
        cv.debug.update({k: np.concatenate([v, v[twin_of]]) for k, v in base.debug.items()})
    for name, _, fn in _AU_LAYERS:
        f = changing[name]
        if f.size:
            rows = np.concatenate([f, twin_row[f]])
            fn(cv, _Rows(g, rows), rows)
    glasses = np.flatnonzero(g["glasses"] > 0)
    if glasses.size:
        _draw_glasses(cv, _Rows(g, glasses), glasses)
    occ = np.flatnonzero(pose[:, POSE["occ_kind"]] > 0)
    if occ.size:
        _draw_occluders(cv, pose, occ)
    _light_and_blur(cv, pose)
    img = cv.img
    # evidence: face vs twin before noise (identical noise would cancel)
    evidence = np.zeros((n, size, size), dtype=bool)
    if twin_of.size:
        diff = np.abs(img[:, twin_of] - img[:, n:]).max(axis=0)
        thr = np.array([params[i].evidence_threshold for i in twin_of], dtype=F32).reshape(-1, 1, 1) / F32(255.0)
        evidence[twin_of] = diff > thr
    face = img[:, :n]
    sigma = pose_n[:, POSE["noise_sigma"]].astype(F32)
    if np.any(sigma > 0):
        noise = np.stack([p.noise for p in params]).reshape(n, size, size)
        noise -= F32(0.5)
        noise *= (sigma * F32(math.sqrt(12.0))).reshape(n, 1, 1)
        face = face + noise
    else:
        face = face.copy()
    face *= F32(255.0)
    face += F32(0.5)
    np.clip(face, 0.0, 255.0, out=face)
    out = face.astype(np.uint8)
    images = out[0] if channels == 1 else np.ascontiguousarray(out.transpose(1, 2, 3, 0))
    L = canonical_landmarks(g_n)
    x, y = cv.to_pixels(L[..., 0], L[..., 1])  # faces are the first n rows
    lm = np.stack([x, y], axis=-1).astype(np.float32)
    features = None
    if cv.debug is not None:
        features = {k: v[:n] for k, v in cv.debug.items()}
    return RenderOutput(images=images, landmarks=lm, evidence=evidence, identity=idn, features=features)
