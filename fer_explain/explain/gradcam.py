"""Grad-CAM (Selvaraju et al., ICCV 2017) and Grad-CAM++ (Chattopadhay et al., WACV 2018).

Both work on a layer's output ``A`` (``(N, K, h, w)``, by default the model's pinned
``gradcam_layer_name(input_size)``) and the gradient ``g = d y_c / d A`` of the target *logit*.

* Grad-CAM: ``relu(sum_k mean_ij(g_k) * A_k)``, the formula of captum's ``LayerGradCam`` (equal to it
  within float rounding: tests/explain/test_gradcam_speed.py).
* Grad-CAM++: with the exponential-score trick the second and third derivatives of
  ``exp(y_c)`` reduce to powers of ``g``, giving
  ``alpha_kij = g^2 / (2 g^2 + sum_ab A_kab * g^3 + eps)`` (0 where ``g == 0``) and channel
  weights ``w_k = sum_ij alpha_kij * relu(g_kij)`` -- the same formula as pytorch-grad-cam's
  ``GradCAMPlusPlus``.

The layer map is upsampled to the input size with ``interpolate`` (bilinear by default, as in
the paper; captum's own default is nearest). Maps are not normalised: use
:meth:`Explanation.normalized`.

Speed: :meth:`GradCAM.attribute` needs ONE forward pass, not the base class's probability pass plus
a gradient pass: a hook on the layer makes its output the start of the autograd graph (a detached
copy that requires grad), so the logits of that one pass give the probabilities and the default
target, and the backward runs only through the layers after the Grad-CAM layer (nothing before it is
recorded). Hook hygiene and mode restoration are those of :func:`~fer_explain.explain.base.explaining`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from fer_explain.explain.base import (
    Explainer,
    resolve_layer,
    upsample,
    validate_targets,
)

__all__ = ["GradCAM", "GradCAMPlusPlus"]


def _default_layer(model: nn.Module, layer: str | None, input_size: int | None) -> str:
    if layer is not None:
        return layer
    if not hasattr(model, "gradcam_layer_name"):
        raise TypeError(f"{type(model).__name__} has no gradcam_layer_name(); pass layer=")
    return str(cast(Callable[[int | None], str], model.gradcam_layer_name)(input_size))


class GradCAM(Explainer):
    """Grad-CAM on one layer: captum ``LayerGradCam``'s map, computed in one forward pass (module docstring).

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

    def _explain(self, x: Tensor, target: int | Sequence[int] | Tensor | None,
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor | None, dict[str, Any]]:
        """One forward + backward pass (:meth:`_one_pass`) gives the probabilities, targets and the layer map."""
        act, grad, probs, targets = self._one_pass(x, target)
        raw = self._layer_map(act, grad)
        return probs, targets, upsample(raw, tuple(x.shape[-2:]), self.interpolate), raw, {}

    def _one_pass(self, x: Tensor, target: int | Sequence[int] | Tensor | None,
                  ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(A, dy_c/dA, probs, targets)`` from one forward pass; the graph starts at the layer's output."""
        store: list[Tensor] = []

        def hook(_m: nn.Module, _i: Any, out: Any) -> Tensor:
            if not isinstance(out, Tensor):
                raise TypeError(f"layer output must be a tensor, got {type(out).__name__}")
            leaf = out.detach().requires_grad_(True)
            store.append(leaf)
            return leaf.clone()  # later in-place operations must not touch the leaf

        handle = self._hook(self._module, hook)
        try:
            with torch.enable_grad():
                logits = self.model(x)
                if not store:
                    raise ValueError(f"layer {self.layer!r} is not called by {type(self.model).__name__}'s forward")
                probs = logits.detach().float().softmax(dim=1)
                targets = validate_targets(target, x.shape[0], probs.shape[1], probs.argmax(dim=1))
                (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), store[-1])
        finally:
            handle.remove()
        return store[-1].detach(), grad.detach(), probs, targets

    def _layer_map(self, act: Tensor, grad: Tensor) -> Tensor:
        """The layer-resolution map ``(N, h, w)``: captum ``LayerGradCam``'s formula."""
        if act.dim() != 4:
            raise ValueError(f"layer {self.layer!r} outputs {tuple(act.shape)}, expected (N, K, h, w)")
        raw = torch.sum(grad.mean(dim=(2, 3), keepdim=True) * act, dim=1)
        return raw.clamp_min(0) if self.relu else raw

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        act, grad = self._layer_activations(x, self._module, targets)  # the base class's two-pass path
        assert grad is not None
        raw = self._layer_map(act, grad)
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

    def _layer_map(self, act: Tensor, grad: Tensor) -> Tensor:
        if act.dim() != 4:
            raise ValueError(f"layer {self.layer!r} outputs {tuple(act.shape)}, expected (N, K, h, w)")
        g2 = grad.pow(2)
        g3 = g2 * grad
        sum_act = act.sum(dim=(2, 3), keepdim=True)
        alpha = g2 / (2 * g2 + sum_act * g3 + self.eps)
        alpha = torch.where(grad != 0, alpha, torch.zeros_like(alpha))
        weights = (alpha * grad.clamp_min(0)).sum(dim=(2, 3))
        raw = (weights[:, :, None, None] * act).sum(dim=1)
        return raw.clamp_min(0) if self.relu else raw

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "eps": self.eps}
