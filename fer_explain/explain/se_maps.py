"""Feature maps per Squeeze-and-Excitation block (seed 001).

Seed 001 prints, for every SE block of an SE-ResNet-18, the block's feature maps for faces the
network classifies with a softmax score above 90 %, and for misclassified faces, to see which
facial parts carry the "major information". For each SE block this module returns

* ``weights``: the excitation weights ``s_c`` (``(N, C)``, in ``[0, 1]``);
* ``feature_maps``: the scaled maps ``s_c * U_c`` (the SE block's output, ``(N, C, h, w)``);
* ``top_channels`` / ``top_weights``: the ``k`` channels with the largest ``s_c`` per sample;
* ``mean_map``: the channel-weighted mean ``sum_c s_c U_c / sum_c s_c`` (``(N, h, w)``),
  i.e. the sum of the scaled maps divided by the total weight.

:func:`select_confident` and :func:`select_misclassified` pick the samples seed 001 shows.
:class:`SEMapExplainer` turns one block's ``mean_map`` into an :class:`Explanation`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from fer_explain.explain.base import Explainer, explaining, model_device, upsample

__all__ = ["SEBlockMaps", "SEMapExplainer", "se_block_maps", "select_confident", "select_misclassified"]


@dataclass
class SEBlockMaps:
    """Feature maps of one SE block for a batch (all tensors on the CPU).

    Attributes:
        name: dotted name of the SE module.
        weights: ``(N, C)`` excitation weights ``s_c``.
        feature_maps: ``(N, C, h, w)`` scaled maps (block output) or ``None`` when not kept.
        top_channels: ``(N, k)`` channel indices sorted by decreasing weight.
        top_weights: ``(N, k)`` their weights.
        top_maps: ``(N, k, h, w)`` the scaled maps of those channels.
        mean_map: ``(N, h, w)`` channel-weighted mean map.
    """

    name: str
    weights: Tensor
    feature_maps: Tensor | None
    top_channels: Tensor
    top_weights: Tensor
    top_maps: Tensor
    mean_map: Tensor


def _se_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    if hasattr(model, "se_blocks"):
        blocks = list(cast(Callable[[], list[tuple[str, nn.Module]]], model.se_blocks)())
    else:
        blocks = [(n, m) for n, m in model.named_modules() if hasattr(m, "excitation") and n]
    if not blocks:
        raise ValueError(f"{getattr(model, 'model_name', type(model).__name__)} has no SE blocks")
    return blocks


def _capture(model: nn.Module, x: Tensor, blocks: Sequence[tuple[str, nn.Module]],
             handles: list[Any]) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
    weights: dict[str, Tensor] = {}
    outputs: dict[str, Tensor] = {}
    for name, block in blocks:
        def w_hook(_m: nn.Module, _i: Any, out: Tensor, _n: str = name) -> None:
            weights[_n] = out.detach()

        def o_hook(_m: nn.Module, _i: Any, out: Tensor, _n: str = name) -> None:
            outputs[_n] = out.detach()

        handles.append(cast(nn.Module, block.excitation).register_forward_hook(w_hook))
        handles.append(block.register_forward_hook(o_hook))
    with torch.no_grad():
        logits = model(x)
    return logits, weights, outputs


def _block_maps(name: str, s: Tensor, out: Tensor, top_k: int, keep: bool) -> SEBlockMaps:
    k = min(top_k, s.shape[1])
    top_w, top_c = s.topk(k, dim=1)
    top_maps = out.gather(1, top_c[:, :, None, None].expand(-1, -1, *out.shape[-2:]))
    mean_map = out.sum(dim=1) / s.sum(dim=1).clamp_min(1e-12)[:, None, None]
    return SEBlockMaps(name=name, weights=s.cpu(), feature_maps=out.cpu() if keep else None,
                       top_channels=top_c.cpu(), top_weights=top_w.cpu(), top_maps=top_maps.cpu(),
                       mean_map=mean_map.cpu())


def se_block_maps(model: nn.Module, x: Tensor, top_k: int = 8, blocks: Sequence[str] | None = None,
                  keep_feature_maps: bool = True) -> tuple[list[SEBlockMaps], Tensor]:
    """Feature maps of every (or the named) SE blocks for the batch ``x``.

    Runs one forward pass in eval mode (flags restored and hooks removed afterwards).

    Args:
        model: a model with ``se_blocks()`` (or modules with an ``excitation`` submodule).
        x: ``(N, C, H, W)`` input.
        top_k: number of strongest channels to return per sample.
        blocks: names of the SE blocks to keep (default: all, in forward order).
        keep_feature_maps: keep every scaled channel map (memory: ``N * C * h * w`` per block).

    Returns:
        ``(maps, probs)``: one :class:`SEBlockMaps` per block and the ``(N, K)`` softmax.
    """
    all_blocks = _se_modules(model)
    if blocks is not None:
        names = [n for n, _ in all_blocks]
        unknown = [b for b in blocks if b not in names]
        if unknown:
            raise ValueError(f"unknown SE blocks {unknown}; valid: {', '.join(names)}")
        all_blocks = [(n, m) for n, m in all_blocks if n in blocks]
    x = x.detach().to(model_device(model))
    with explaining(model) as handles:
        logits, weights, outputs = _capture(model, x, all_blocks, handles)
    result = [_block_maps(n, weights[n], outputs[n], top_k, keep_feature_maps) for n, _ in all_blocks]
    return result, logits.float().softmax(dim=1).cpu()


def select_confident(probs: Tensor, threshold: float = 0.9, labels: Tensor | None = None) -> Tensor:
    """Indices of samples whose top softmax score exceeds ``threshold`` (seed 001: ``> 0.9``).

    With ``labels`` only correctly classified samples are kept.
    """
    top, pred = probs.max(dim=1)
    keep = top > threshold
    if labels is not None:
        keep &= pred == torch.as_tensor(labels, device=pred.device)
    return keep.nonzero().flatten()


def select_misclassified(probs: Tensor, labels: Tensor) -> Tensor:
    """Indices of samples whose predicted class differs from ``labels``."""
    return (probs.argmax(dim=1) != torch.as_tensor(labels, device=probs.device)).nonzero().flatten()


class SEMapExplainer(Explainer):
    """The channel-weighted mean map of one SE block as an :class:`Explanation`.

    The map is class-agnostic (the SE weights do not depend on the target); ``targets`` still
    records the class asked for (default the prediction). ``raw`` is the block-resolution map,
    ``maps`` its upsampling to the input size; ``extras`` holds ``weights`` and ``top_channels``.

    Args:
        model: a model with SE blocks.
        block: SE block name (default: the last one).
        top_k: channels reported in ``extras["top_channels"]``.
        interpolate: upsampling mode.
    """

    method = "se_map"

    def __init__(self, model: nn.Module, block: str | None = None, *, top_k: int = 8,
                 interpolate: str = "bilinear") -> None:
        super().__init__(model)
        blocks = dict(_se_modules(model))
        if block is None:
            block = list(blocks)[-1]
        if block not in blocks:
            raise ValueError(f"unknown SE block {block!r}; valid: {', '.join(blocks)}")
        self.block = block
        self._module = blocks[block]
        self.top_k = int(top_k)
        self.interpolate = interpolate

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        assert self._handles is not None
        _, weights, outputs = _capture(self.model, x, [(self.block, self._module)], self._handles)
        bm = _block_maps(self.block, weights[self.block], outputs[self.block], self.top_k, keep=False)
        raw = bm.mean_map
        maps = upsample(raw, tuple(x.shape[-2:]), self.interpolate)
        return maps, raw, {"weights": bm.weights, "top_channels": bm.top_channels}

    def _params(self) -> dict[str, Any]:
        return {"block": self.block, "top_k": self.top_k, "interpolate": self.interpolate}

    def _layer_name(self) -> str:
        return self.block
