"""Occlusion: captum's sliding-window ``Occlusion`` and the seed-004 "region of importance" map.

Both slide a ``window x window`` patch filled with ``baseline`` over the input with ``stride``
(window positions ``0, s, 2s, ...`` up to the last one that still overlaps the image, where the
patch is cut at the border -- captum's convention) and score the *softmax probability* of the
target class.

* :class:`Occlusion` runs captum's ``Occlusion`` on ``forward_func = softmax(model(x))[target]``
  and picks ``perturbations_per_eval`` from a memory budget.
* :class:`SlidingOcclusion` is the seed-004 experiment (Minaee et al. 2021, Sec. 4.4): it builds
  all occluded copies for a chunk of positions at once and records, per position, the drop
  in target probability and whether the occluded prediction differs from the target
  ("region of importance"). Its pixel map (mean drop over the windows covering a pixel) equals
  captum's ``Occlusion`` attribution.

``baseline`` is in the model's input space (inputs are normalised): ``0.0`` is the mean grey of
the normalisation; to write black pixels as seed 004 does on raw images pass
:func:`black_baseline` (model).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from captum.attr import Occlusion as CaptumOcclusion
from torch import Tensor, nn
from tqdm.auto import tqdm

from fer_explain.explain.base import Explainer, auto_batch

__all__ = ["Occlusion", "SlidingOcclusion", "black_baseline", "window_starts"]


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Start offsets of the sliding window along one side (captum's ``Occlusion`` convention)."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    if window > size:
        raise ValueError(f"window {window} is larger than the input side {size}")
    if stride > window and window != size:
        raise ValueError(f"stride {stride} larger than window {window} would leave pixels never occluded")
    return [i * stride for i in range(math.ceil((size - window) / stride) + 1)]


def black_baseline(model: nn.Module) -> float | Tensor:
    """Input-space value of a black pixel, ``(0 - mean) / std`` per channel, shape ``(C, 1, 1)``."""
    spec = getattr(model, "input_spec", None)
    if spec is None:
        raise TypeError(f"{type(model).__name__} has no input_spec; pass the baseline value yourself")
    mean = torch.tensor(spec.mean)
    std = torch.tensor(spec.std)
    return (-mean / std)[:, None, None]


def _prob_forward(model: nn.Module):
    def forward(inp: Tensor) -> Tensor:
        return model(inp).float().softmax(dim=1)

    return forward


def _baseline_tensor(baseline: float | Tensor, x: Tensor) -> Tensor:
    """``baseline`` (a float, ``(C, 1, 1)``, ``(C, H, W)`` or ``(N, C, H, W)``) broadcast to ``x``."""
    return torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)


class Occlusion(Explainer):
    """captum ``Occlusion`` on the target's softmax probability, with batched perturbations.

    Args:
        model: the network.
        window: side of the square patch (pixels).
        stride: step between patch positions.
        baseline: value written into the patch (input space; a float or a broadcastable tensor).
        perturbations_per_eval: occluded copies of the batch per forward; ``None`` chooses it
            from ``memory_budget_mb`` (see :func:`~fer_explain.explain.base.auto_batch`).
        memory_budget_mb: activation memory allowed for one forward pass.
        show_progress: captum's progress bar.

    ``maps`` is the attribution of the first channel (captum occludes all channels together,
    so the channels carry the same values).
    """

    method = "occlusion"

    def __init__(self, model: nn.Module, window: int = 8, stride: int = 4, baseline: float | Tensor = 0.0, *,
                 perturbations_per_eval: int | None = None, memory_budget_mb: float = 512.0,
                 show_progress: bool = False) -> None:
        super().__init__(model)
        self.window = int(window)
        self.stride = int(stride)
        self.baseline = baseline
        self.perturbations_per_eval = perturbations_per_eval
        self.memory_budget_mb = float(memory_budget_mb)
        self.show_progress = show_progress
        self._used_ppe: int | None = None

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, None, dict[str, Any]]:
        c, h, w = x.shape[1:]
        n_pos = len(window_starts(h, self.window, self.stride)) * len(
            window_starts(w, self.window, self.stride))
        ppe = self.perturbations_per_eval or auto_batch(self.model, x, n_pos, self.memory_budget_mb)
        self._used_ppe = ppe
        occ = CaptumOcclusion(_prob_forward(self.model))
        base = (self.baseline if isinstance(self.baseline, (int, float))
                else _baseline_tensor(self.baseline, x))
        with torch.no_grad():
            attr = occ.attribute(x, sliding_window_shapes=(c, self.window, self.window),
                                 strides=(c, self.stride, self.stride), baselines=base, target=targets,
                                 perturbations_per_eval=ppe, show_progress=self.show_progress)
        return attr[:, 0], None, {}

    def _params(self) -> dict[str, Any]:
        return {"window": self.window, "stride": self.stride,
                "baseline": self.baseline if isinstance(self.baseline, (int, float)) else "tensor",
                "perturbations_per_eval": self._used_ppe}


class SlidingOcclusion(Explainer):
    """Seed-004 occlusion map: probability drop and prediction flips per patch position.

    Args:
        model: the network.
        window: patch side ``N``.
        stride: step ``s``.
        baseline: patch value in input space (``0.0``; see :func:`black_baseline`).
        chunk: number of positions evaluated per forward pass (each forward sees
            ``chunk * len(x)`` images); ``None`` chooses it from ``memory_budget_mb``.
        memory_budget_mb: activation memory allowed for one forward pass.
        progress: show a tqdm bar over the chunks.

    Result: ``maps`` is the mean drop in target probability over the windows covering each
    pixel (= captum ``Occlusion``); ``raw`` the ``(N, nH, nW)`` drop per position; ``extras``:

    * ``"flip"``: ``(N, nH, nW)`` bool, occluded prediction ``!= target`` (with the default
      target -- the prediction -- this is "the prediction changes"; pass the true labels as
      target for the paper's "wrong prediction");
    * ``"flip_map"``: ``(N, H, W)`` fraction of covering windows that flip;
    * ``"importance"``: ``(N, H, W)`` bool, covered by at least one flipping window
      (the region of importance);
    * ``"occluded_probs"``: ``(N, nH, nW)`` target probability with the patch in place;
    * ``"rows"``, ``"cols"``: window start offsets.
    """

    method = "sliding_occlusion"

    def __init__(self, model: nn.Module, window: int = 8, stride: int = 4, baseline: float | Tensor = 0.0, *,
                 chunk: int | None = None, memory_budget_mb: float = 512.0, progress: bool = False) -> None:
        super().__init__(model)
        self.window = int(window)
        self.stride = int(stride)
        self.baseline = baseline
        self.chunk = chunk
        self.memory_budget_mb = float(memory_budget_mb)
        self.progress = progress
        self._used_chunk: int | None = None

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        n, _, h, w = x.shape
        rows = window_starts(h, self.window, self.stride)
        cols = window_starts(w, self.window, self.stride)
        positions = [(r, q) for r in rows for q in cols]
        chunk = self.chunk or auto_batch(self.model, x, len(positions), self.memory_budget_mb)
        self._used_chunk = chunk
        base = _baseline_tensor(self.baseline, x)
        # Window masks (P, 1, H, W), built once: 1 inside the (border-clipped) patch.
        masks = torch.zeros(len(positions), 1, h, w, dtype=torch.bool, device=x.device)
        for i, (r, q) in enumerate(positions):
            masks[i, :, r:r + self.window, q:q + self.window] = True
        with torch.no_grad():
            p0 = self.model(x).float().softmax(dim=1).gather(1, targets[:, None])[:, 0]
            occ_p = torch.empty(len(positions), n, device=x.device)
            occ_pred = torch.empty(len(positions), n, dtype=torch.long, device=x.device)
            starts = range(0, len(positions), chunk)
            for s in tqdm(starts, desc="occlusion", disable=not self.progress, leave=False):
                m = masks[s:s + chunk]  # (P, 1, H, W)
                batch = torch.where(m[:, None], base[None], x[None])  # (P, N, C, H, W)
                probs = self.model(batch.flatten(0, 1)).float().softmax(dim=1).view(m.shape[0], n, -1)
                occ_p[s:s + chunk] = probs.gather(2, targets[None, :, None].expand(m.shape[0], -1, 1))[..., 0]
                occ_pred[s:s + chunk] = probs.argmax(dim=2)
        drop = (p0[None] - occ_p).T  # (N, P)
        flip = (occ_pred != targets[None]).T
        mflat = masks[:, 0].flatten(1).float()  # (P, HW)
        cover = mflat.sum(0).clamp_min(1)
        pixel_drop = (drop @ mflat / cover).view(n, h, w)
        flip_map = (flip.float() @ mflat / cover).view(n, h, w)
        shape = (n, len(rows), len(cols))
        extras = {"flip": flip.reshape(shape).cpu(), "flip_map": flip_map.cpu(),
                  "importance": (flip_map > 0).cpu(),
                  "occluded_probs": occ_p.T.reshape(shape).cpu(), "rows": rows, "cols": cols}
        return pixel_drop, drop.reshape(shape), extras

    def _params(self) -> dict[str, Any]:
        return {"window": self.window, "stride": self.stride,
                "baseline": self.baseline if isinstance(self.baseline, (int, float)) else "tensor",
                "chunk": self._used_chunk}
