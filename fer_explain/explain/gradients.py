"""Input-gradient methods via captum: Integrated Gradients and saliency.

Both give one value per input channel and pixel; ``maps`` reduces the channel axis with
``channel_reduction``:

* ``"sum"`` -- signed sum over channels (default for Integrated Gradients: keeps completeness,
  the map sums to ``f(x) - f(baseline)`` up to the approximation error);
* ``"abs_sum"`` -- sum of absolute values (default for saliency, i.e. captum ``Saliency`` with
  ``abs=True`` summed over channels);
* ``"max_abs"`` -- maximum absolute value over channels (Simonyan et al. 2014).

For one-channel inputs ``"abs_sum"`` and ``"max_abs"`` coincide. Gradients are of the target
*logit* (captum's convention with ``forward_func = model``).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from captum.attr import IntegratedGradients as CaptumIG
from captum.attr import Saliency as CaptumSaliency
from torch import Tensor, nn

from fer_explain.explain.base import Explainer

__all__ = ["IntegratedGradients", "Saliency", "reduce_channels"]

Reduction = Literal["sum", "abs_sum", "max_abs"]


def reduce_channels(attr: Tensor, reduction: Reduction) -> Tensor:
    """``(N, C, H, W)`` -> ``(N, H, W)`` by ``reduction`` (see the module docstring)."""
    if reduction == "sum":
        return attr.sum(dim=1)
    if reduction == "abs_sum":
        return attr.abs().sum(dim=1)
    if reduction == "max_abs":
        return attr.abs().amax(dim=1)
    raise ValueError(f"channel_reduction must be 'sum', 'abs_sum' or 'max_abs', got {reduction!r}")


class IntegratedGradients(Explainer):
    """captum ``IntegratedGradients`` (Sundararajan et al. 2017).

    Args:
        model: the network.
        n_steps: Riemann steps along the path.
        baseline: reference input (input space; ``0.0`` = the normalisation mean).
        internal_batch_size: samples per forward/backward during the path integral
            (default ``len(x) * n_steps`` at once; lower it to bound memory).
        method: captum's integration rule (``"gausslegendre"``, ``"riemann_trapezoid"``, ...).
        channel_reduction: see :func:`reduce_channels` (default ``"sum"``).

    ``extras["delta"]``: captum's convergence delta per sample.
    """

    method = "integrated_gradients"

    def __init__(self, model: nn.Module, n_steps: int = 32, baseline: float | Tensor = 0.0, *,
                 internal_batch_size: int | None = None, method: str = "gausslegendre",
                 channel_reduction: Reduction = "sum") -> None:
        super().__init__(model)
        self.n_steps = int(n_steps)
        self.baseline = baseline
        self.internal_batch_size = internal_batch_size
        self.integration = method
        reduce_channels(torch.zeros(1, 1, 1, 1), channel_reduction)
        self.channel_reduction = channel_reduction

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, None, dict[str, Any]]:
        ig = CaptumIG(self.model)
        base = torch.as_tensor(self.baseline, dtype=x.dtype, device=x.device).expand_as(x).contiguous()
        with torch.enable_grad():
            attr, delta = ig.attribute(x.clone().requires_grad_(True), baselines=base, target=targets,
                                       n_steps=self.n_steps, method=self.integration,
                                       internal_batch_size=self.internal_batch_size,
                                       return_convergence_delta=True)
        return reduce_channels(attr.detach(), self.channel_reduction), None, {"delta": delta.detach().cpu()}

    def _params(self) -> dict[str, Any]:
        return {"n_steps": self.n_steps, "internal_batch_size": self.internal_batch_size,
                "method": self.integration, "channel_reduction": self.channel_reduction,
                "baseline": self.baseline if isinstance(self.baseline, (int, float)) else "tensor"}


class Saliency(Explainer):
    """captum ``Saliency``: the gradient of the target logit with respect to the input.

    Args:
        model: the network.
        channel_reduction: see :func:`reduce_channels` (default ``"abs_sum"``); with ``"sum"``
            the signed gradient is summed.
    """

    method = "saliency"

    def __init__(self, model: nn.Module, *, channel_reduction: Reduction = "abs_sum") -> None:
        super().__init__(model)
        reduce_channels(torch.zeros(1, 1, 1, 1), channel_reduction)
        self.channel_reduction = channel_reduction

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, None, dict[str, Any]]:
        sal = CaptumSaliency(self.model)
        with torch.enable_grad():
            attr = sal.attribute(x.clone().requires_grad_(True), target=targets,
                                 abs=self.channel_reduction != "sum")
        return reduce_channels(attr.detach(), self.channel_reduction), None, {}

    def _params(self) -> dict[str, Any]:
        return {"channel_reduction": self.channel_reduction}
