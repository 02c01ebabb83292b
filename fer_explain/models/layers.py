"""Building blocks shared by several model families.

Only generic layers live here; anything specific to one architecture stays in that
architecture's module.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["SqueezeExcite", "conv_bn_relu", "scaled_channels"]


def scaled_channels(channels: int, width: float) -> int:
    """Scale a channel count by a width multiplier, rounding and keeping at least one channel."""
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    return max(1, round(channels * width))


def conv_bn_relu(in_channels: int, out_channels: int, *, kernel_size: int = 3, padding: int = 1,
                 bias: bool = True) -> nn.Sequential:
    """``Conv2d -> BatchNorm2d -> ReLU`` (stride 1), as a ``Sequential`` with children ``conv``, ``bn``, ``relu``.

    The ReLU is not in-place, so forward/backward hooks placed on this block (Grad-CAM)
    see an unmodified tensor.
    """
    block = nn.Sequential()
    block.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=bias))
    block.add_module("bn", nn.BatchNorm2d(out_channels))
    block.add_module("relu", nn.ReLU())
    return block


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation channel gate (Hu et al., 2018).

    ``z = GAP(x)``; ``s = sigmoid(W2 relu(W1 z))``; output ``x * s`` broadcast over H, W.

    The block is stateless. The excitation weights ``s_c`` are the output of the
    :attr:`excitation` submodule, shape ``(N, C)`` with values in ``[0, 1]``, so they can
    be captured with a forward hook on ``block.excitation`` (see
    :func:`fer_explain.models.base.record_se_weights`), which gives you the
    weights of exactly the forward pass you ran, with nothing left stored on the model.

    Args:
        channels: number of input (and output) channels ``C``.
        reduction: reduction ratio ``r``; the hidden layer has ``max(1, C // r)`` units.
        bias: whether the two fully connected layers have biases. The reference
            ResEmoteNet code and the parameter count quoted for SE-ResNet-18 both use
            bias-free layers.
    """

    def __init__(self, channels: int, reduction: int = 16, bias: bool = False) -> None:
        super().__init__()
        if reduction < 1:
            raise ValueError(f"reduction must be >= 1, got {reduction}")
        hidden = max(1, channels // reduction)
        self.channels = channels
        self.reduction = reduction
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.excitation = nn.Sequential()
        self.excitation.add_module("flatten", nn.Flatten(1))
        self.excitation.add_module("fc1", nn.Linear(channels, hidden, bias=bias))
        self.excitation.add_module("relu", nn.ReLU())
        self.excitation.add_module("fc2", nn.Linear(hidden, channels, bias=bias))
        self.excitation.add_module("gate", nn.Sigmoid())

    def weights(self, x: Tensor) -> Tensor:
        """Return the excitation weights ``s`` of shape ``(N, C)`` for input ``x`` (N, C, H, W)."""
        return self.excitation(self.squeeze(x))

    def forward(self, x: Tensor) -> Tensor:
        s = self.weights(x)
        return x * s[:, :, None, None]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}"

