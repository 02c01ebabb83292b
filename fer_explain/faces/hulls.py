"""Rasterising face regions: convex hulls of landmark points, grown by a margin, as pixel masks.

The geometry under :mod:`fer_explain.faces.regions` (which decides *which* points form a region):
Andrew's monotone-chain hull, a pixel-centre inside test against the hull's edges grown by a margin,
and the half-plane masks of the left/right face halves.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["check_finite", "convex_hull", "half_plane_masks", "hull_masks"]


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (Andrew's monotone chain) of ``(k, 2)`` points, ``(m, 2)`` vertices in order with
    positive cross products (collinear points dropped); 1 or 2 vertices for degenerate input."""
    pts = np.unique(np.asarray(points, dtype=np.float64), axis=0)  # sorted by x, then y
    if len(pts) <= 2:
        return pts

    def half(seq: np.ndarray) -> list[np.ndarray]:
        chain: list[np.ndarray] = []
        for p in seq:
            while len(chain) >= 2:
                o, a = chain[-2], chain[-1]
                if (a[0] - o[0]) * (p[1] - o[1]) - (a[1] - o[1]) * (p[0] - o[0]) <= 0:
                    chain.pop()
                else:
                    break
            chain.append(p)
        return chain

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def check_finite(arr: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1))
    if len(bad):
        raise ValueError(f"landmarks of sample(s) {bad[:10].tolist()}{' ...' if len(bad) > 10 else ''} are NaN/inf "
                         "(rows without landmarks: run fer_explain.faces.landmarks.extract_landmarks first)")


def hull_masks(points: np.ndarray, size: tuple[int, int], margin: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(N, H, W)`` masks of the convex hull of ``points`` (N, k, 2), grown by ``margin`` (N,) pixels
    (pixel ``(r, c)`` has its centre at ``(x=c, y=r)``). A hull that holds no pixel centre covers the
    pixels of its vertices instead. Vectorised over samples and pixels (within the window that can hold any hull); the loop runs
    over hull edges."""
    n = points.shape[0]
    h, w = size
    hulls = [convex_hull(p) for p in points]
    m = max(len(hh) for hh in hulls)
    a = np.zeros((n, m, 2))
    b = np.zeros((n, m, 2))
    for i, hh in enumerate(hulls):
        k = len(hh)
        a[i, :k] = hh
        b[i, :k] = np.roll(hh, -1, axis=0)
        a[i, k:] = hh[0]  # padding: zero-length edges at a hull vertex
        b[i, k:] = hh[0]
    full = torch.zeros((n, h, w), dtype=torch.bool, device=device)
    # only the window that can hold any of the batch's hulls (grown by the margin) is computed
    grow = float(margin.max()) + 1e-6
    x_lo, y_lo = np.floor(a.reshape(-1, 2).min(axis=0) - grow).astype(int)
    x_hi, y_hi = np.ceil(a.reshape(-1, 2).max(axis=0) + grow).astype(int)
    x_lo, y_lo, x_hi, y_hi = max(x_lo, 0), max(y_lo, 0), min(x_hi, w - 1), min(y_hi, h - 1)
    if x_lo > x_hi or y_lo > y_hi:
        return full
    ww, hh_ = x_hi - x_lo + 1, y_hi - y_lo + 1
    polygon = torch.as_tensor(np.array([len(hh) >= 3 for hh in hulls]), device=device)
    ta = torch.as_tensor(a, dtype=torch.float64, device=device)
    tb = torch.as_tensor(b, dtype=torch.float64, device=device)
    px = torch.arange(x_lo, x_hi + 1, dtype=torch.float64, device=device).view(1, 1, ww)
    py = torch.arange(y_lo, y_hi + 1, dtype=torch.float64, device=device).view(1, hh_, 1)
    marg = torch.as_tensor(margin, dtype=torch.float64, device=device).view(n, 1, 1)
    need_dist = bool((margin > 0).any()) or not bool(polygon.all())
    inside = polygon.view(n, 1, 1).expand(n, hh_, ww).clone()
    near = torch.zeros((n, hh_, ww), dtype=torch.bool, device=device)
    tol = 1e-9
    for e in range(m):
        ax, ay = ta[:, e, 0].view(n, 1, 1), ta[:, e, 1].view(n, 1, 1)
        dx, dy = (tb[:, e, 0] - ta[:, e, 0]).view(n, 1, 1), (tb[:, e, 1] - ta[:, e, 1]).view(n, 1, 1)
        rx, ry = px - ax, py - ay
        inside &= (dx * ry - dy * rx) >= -tol
        if need_dist:
            len2 = dx * dx + dy * dy
            t = ((rx * dx + ry * dy) / len2.clamp_min(1e-12)).clamp(0.0, 1.0)
            t = torch.where(len2 > 0, t, torch.zeros_like(t))
            ex, ey = rx - t * dx, ry - t * dy
            near |= (ex * ex + ey * ey) <= marg * marg + 1e-9
    full[:, y_lo : y_hi + 1, x_lo : x_hi + 1] = inside | near
    # A hull thinner than a pixel (a closed mouth's lips, collinear points) can hold no pixel centre:
    # it then covers the pixels its vertices fall in, so a region is never empty while inside the image.
    for i in torch.nonzero(~full.flatten(1).any(dim=1)).flatten().tolist():
        for vx, vy in np.rint(hulls[i]).astype(int):
            if 0 <= vx < w and 0 <= vy < h:
                full[i, vy, vx] = True
    return full


def half_plane_masks(points: np.ndarray, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """``(N, H, W)``: True on the image-left side of the nose line fitted through landmarks 28-31."""
    n = points.shape[0]
    h, w = size
    bridge = points[:, 27:31, :]
    centre = bridge.mean(axis=1)
    d = np.zeros((n, 2))
    for i in range(n):
        c = bridge[i] - centre[i]
        _, _, vt = np.linalg.svd(c)
        di = vt[0] if np.abs(c).sum() > 0 else np.array([0.0, 1.0])
        if di @ (bridge[i, -1] - bridge[i, 0]) < 0 or (np.allclose(bridge[i, -1], bridge[i, 0]) and di[1] < 0):
            di = -di
        d[i] = di
    c_t = torch.as_tensor(centre, dtype=torch.float64, device=device)
    d_t = torch.as_tensor(d, dtype=torch.float64, device=device)
    px = torch.arange(w, dtype=torch.float64, device=device).view(1, 1, w)
    py = torch.arange(h, dtype=torch.float64, device=device).view(1, h, 1)
    side = d_t[:, 0].view(n, 1, 1) * (py - c_t[:, 1].view(n, 1, 1)) - d_t[:, 1].view(n, 1, 1) * (px - c_t[:, 0].view(n, 1, 1))
    return side > 0
