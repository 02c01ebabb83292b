"""Class activation mapping (Zhou et al., CVPR 2016) for models ending in GAP + one linear layer.

``CAM_c(i, j) = sum_k w[c, k] * A_k(i, j)`` with ``A`` the output of ``model.cam_layer_name()``
(the last convolutional feature map, the one fed to global average pooling) and ``w`` the
weights of ``model.classifier``. The bias is a constant shift and is left out, as in the paper
and in torchcam's ``CAM``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from torch import Tensor, nn

from fer_explain.explain.base import Explainer, resolve_layer, upsample

__all__ = ["CAM"]


class CAM(Explainer):
    """Classic CAM.

    Args:
        model: a CAM-able :class:`~fer_explain.models.FERModel` (``model.cam_able``), or any module
            when ``layer`` and ``fc`` are given.
        layer: feature layer name (default ``model.cam_layer_name()``).
        fc: the final linear layer (default ``model.classifier``).
        relu: clamp the layer-resolution map at zero (neither the paper nor torchcam's CAM does).
        interpolate: mode used to upsample the map to the input size.

    Raises:
        TypeError: the model is not CAM-able (its head is not GAP + one linear layer).
        ValueError: ``layer`` does not exist (the message lists valid names).
    """

    method = "cam"

    def __init__(self, model: nn.Module, layer: str | None = None, fc: nn.Linear | None = None, *,
                 relu: bool = False, interpolate: str = "bilinear") -> None:
        super().__init__(model)
        if layer is None:
            if not hasattr(model, "cam_layer_name"):
                raise TypeError(f"{type(model).__name__} has no cam_layer_name(); pass layer= and fc=")
            layer = str(cast(Callable[[], str], model.cam_layer_name)())  # TypeError when not CAM-able
        elif getattr(model, "cam_able", True) is False:
            raise TypeError(f"{getattr(model, 'model_name', type(model).__name__)} is not CAM-able "
                            f"(no GAP + single linear head); use GradCAM instead")
        self.layer = layer
        self._module = resolve_layer(model, layer)
        fc = fc if fc is not None else getattr(model, "classifier", None)
        if not isinstance(fc, nn.Linear):
            raise TypeError(f"CAM needs the final nn.Linear (model.classifier or fc=), "
                            f"got {type(fc).__name__}")
        self.fc = fc
        self.relu = bool(relu)
        self.interpolate = interpolate

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        act, _ = self._layer_activations(x, self._module)
        if act.dim() != 4 or act.shape[1] != self.fc.in_features:
            raise ValueError(f"CAM layer {self.layer!r} outputs {tuple(act.shape)}, expected (N, "
                             f"{self.fc.in_features}, h, w) to match the classifier's input")
        w = self.fc.weight.detach()[targets]  # (N, K)
        raw = (w[:, :, None, None] * act).sum(dim=1)
        if self.relu:
            raw = raw.clamp_min(0)
        return upsample(raw, tuple(x.shape[-2:]), self.interpolate), raw, {}

    def _params(self) -> dict[str, Any]:
        return {"relu": self.relu, "interpolate": self.interpolate}

    def _layer_name(self) -> str:
        return self.layer
