"""Spatial-transformer attention of Deep-Emotion (seed 004): where the network looks.

The localisation network predicts an affine ``theta`` (``(N, 2, 3)``); ``F.affine_grid(theta)``
gives, for every output pixel, the normalised input coordinate it samples. Converted to input
pixel coordinates (``align_corners=False``: ``u = ((g + 1) * W - 1) / 2``) these points can be
drawn over the input; the warped input is what the classifier sees. Arrays only, no plotting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fer_explain.explain.base import explaining, model_device

__all__ = ["STNAttention", "grid_to_pixels", "stn_attention"]


@dataclass
class STNAttention:
    """Spatial-transformer outputs for a batch (numpy arrays).

    Attributes:
        theta: ``(N, 2, 3)`` affine parameters.
        grid: ``(N, h, w, 2)`` sampling points ``(x, y)`` in input pixel coordinates (pixel
            centres at integers), subsampled every ``step`` output pixels.
        corners: ``(N, 5, 2)`` the outline of the sampled region (closed polygon: top-left,
            top-right, bottom-right, bottom-left, top-left) in pixel coordinates.
        warped: ``(N, C, H, W)`` the transformed input.
        area: ``(N,)`` area of the sampled region relative to the image (``|det theta[:, :2]|``).
    """

    theta: np.ndarray
    grid: np.ndarray
    corners: np.ndarray
    warped: np.ndarray
    area: np.ndarray


def grid_to_pixels(grid: Tensor, height: int, width: int) -> Tensor:
    """Normalised ``affine_grid`` coordinates (``align_corners=False``) -> pixel coordinates."""
    scale = torch.tensor([width, height], dtype=grid.dtype, device=grid.device)
    return ((grid + 1) * scale - 1) / 2


def stn_attention(model: nn.Module, x: Tensor, step: int = 1) -> STNAttention:
    """Sampling grid, region outline and warped input of a model with ``stn_theta`` / ``warp``.

    Args:
        model: e.g. :class:`~fer_explain.models.DeepEmotion`.
        x: ``(N, C, H, W)`` input.
        step: keep every ``step``-th grid point in each direction (for drawing).
    """
    if not (hasattr(model, "stn_theta") and hasattr(model, "warp")):
        raise TypeError(f"{getattr(model, 'model_name', type(model).__name__)} has no spatial transformer "
                        f"(needs stn_theta() and warp())")
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    x = x.detach().to(model_device(model))
    n, _, h, w = x.shape
    stn_theta = cast(Callable[[Tensor], Tensor], model.stn_theta)
    warp = cast(Callable[[Tensor, Tensor], Tensor], model.warp)
    with explaining(model), torch.no_grad():
        theta = stn_theta(x)
        warped = warp(x, theta)
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    pix = grid_to_pixels(grid, h, w)[:, ::step, ::step]
    # Outline: the edges of the output image (-1 and 1 in normalised coordinates) mapped by theta.
    edge = torch.tensor([[-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1], [-1, -1, 1]], dtype=theta.dtype,
                        device=theta.device)
    corners = grid_to_pixels(torch.einsum("pk,nik->npi", edge, theta), h, w)
    area = torch.linalg.det(theta[:, :, :2]).abs()
    return STNAttention(theta=theta.cpu().numpy(), grid=pix.cpu().numpy(), corners=corners.cpu().numpy(),
                        warped=warped.cpu().numpy(), area=area.cpu().numpy())
