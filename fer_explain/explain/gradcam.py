"""Grad-CAM (Selvaraju et al., ICCV 2017) via captum, and Grad-CAM++ (Chattopadhay et al., WACV 2018).

Both work on a layer's output ``A`` (``(N, K, h, w)``, by default the model's pinned
``gradcam_layer_name(input_size)``) and the gradient ``g = d y_c / d A`` of the target *logit*.

* Grad-CAM: ``relu(sum_k mean_ij(g_k) * A_k)`` (captum ``LayerGradCam``).
* Grad-CAM++: with the exponential-score trick the second and third derivatives of
  ``exp(y_c)`` reduce to powers of ``g``, giving
  ``alpha_kij = g^2 / (2 g^2 + sum_ab A_kab * g^3 + eps)`` (0 where ``g == 0``) and channel
  weights ``w_k = sum_ij alpha_kij * relu(g_kij)`` -- the same formula as pytorch-grad-cam's
  ``GradCAMPlusPlus``.

The layer map is upsampled to the input size with ``interpolate`` (bilinear by default, as in
the paper; captum's own default is nearest). Maps are not normalised: use
:meth:`Explanation.normalized`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
from captum.attr import LayerGradCam
from torch import Tensor, nn

from fer_explain.explain.base import Explainer, resolve_layer, upsample

__all__ = ["GradCAM", "GradCAMPlusPlus"]


def _default_layer(model: nn.Module, layer: str | None, input_size: int | None) -> str:
    if layer is not None:
        return layer
    if not hasattr(model, "gradcam_layer_name"):
        raise TypeError(f"{type(model).__name__} has no gradcam_layer_name(); pass layer=")
    return str(cast(Callable[[int | None], str], model.gradcam_layer_name)(input_size))


class GradCAM(Explainer):
    """Grad-CAM on one layer, computed by captum's ``LayerGradCam``.

    Args:
        model: the network.
        layer: dotted layer name; default ``model.gradcam_layer_name(input_size)``.
        input_size: input side used to pick the default layer (default: the model's native size).
        relu: keep only positive evidence (paper: ``True``; captum default: ``False``).
        interpolate: ``"bilinear"`` (paper) or ``"nearest"`` (captum default), ``"bicubic"``.
    """

    method = "gradcam"

    def __init__(self, model: nn.Module, layer: str | None = None, *, input_size: int | None = None,
                 relu: bool = True, interpolate: str = "bilinear") -> None:
        super().__init__(model)
        self.layer = _default_layer(model, layer, input_size)
        self._module = resolve_layer(model, self.layer)
        self.relu = bool(relu)
        if interpolate not in ("bilinear", "nearest", "bicubic", "area"):
            raise ValueError(f"interpolate must be bilinear, nearest, bicubic or area, got {interpolate!r}")
        self.interpolate = interpolate

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        gc = LayerGradCam(self.model, self._module)
        with torch.enable_grad():
            raw = gc.attribute(x.clone().requires_grad_(True), target=targets, relu_attributions=self.relu)
        raw = raw.detach()[:, 0]
        return upsample(raw, tuple(x.shape[-2:]), self.interpolate), raw, {}

    def _params(self) -> dict[str, Any]:
        return {"relu": self.relu, "interpolate": self.interpolate}

    def _layer_name(self) -> str:
        return self.layer


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++ with the exponential-score closed form (matches pytorch-grad-cam).

    Same arguments as :class:`GradCAM`; ``eps`` stabilises the ``alpha`` denominator (1e-6 as in
    pytorch-grad-cam).
    """

    method = "gradcam++"

    def __init__(self, model: nn.Module, layer: str | None = None, *, input_size: int | None = None,
                 relu: bool = True, interpolate: str = "bilinear", eps: float = 1e-6) -> None:
        super().__init__(model, layer, input_size=input_size, relu=relu, interpolate=interpolate)
        self.eps = float(eps)

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        act, grad = self._layer_activations(x, self._module, targets)
        assert grad is not None
        if act.dim() != 4:
            raise ValueError(f"layer {self.layer!r} outputs {tuple(act.shape)}, expected (N, K, h, w)")
        g2 = grad.pow(2)
        g3 = g2 * grad
        sum_act = act.sum(dim=(2, 3), keepdim=True)
        alpha = g2 / (2 * g2 + sum_act * g3 + self.eps)
        alpha = torch.where(grad != 0, alpha, torch.zeros_like(alpha))
        weights = (alpha * grad.clamp_min(0)).sum(dim=(2, 3))
        raw = (weights[:, :, None, None] * act).sum(dim=1)
        if self.relu:
            raw = raw.clamp_min(0)
        return upsample(raw, tuple(x.shape[-2:]), self.interpolate), raw, {}

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "eps": self.eps}
