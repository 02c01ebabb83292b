"""DenseNet-BC visualisation model of seed 002 (face-region contribution study, IJAC 17(1), 2020).

What the paper states: 64 x 64 grey input; a 3x3 convolution with 16 output channels
before the first dense block; three dense blocks of 16 layers each, using 3x3 convolutions
with 1-pixel zero padding and batch norm before the convolutions; transition blocks of a
1x1 convolution followed by 2x2 average pooling; global average pooling (GAP) and one FC
layer, used for class activation mapping (CAM) and for t-SNE of the GAP features.

What it does not state, and is filled in here with the standard DenseNet-BC choices of
Huang et al. (2017) for small images (the "BC" in the name means Bottleneck + Compression):

* growth rate ``k = 12`` (``growth_rate``);
* bottleneck layers: BN-ReLU-1x1 conv (``4k`` channels) then BN-ReLU-3x3 conv (``k``
  channels) (``bottleneck``); 16 such layers per block (``layers_per_block``);
* compression 0.5 in the transitions (BN-ReLU-1x1 conv to half the channels, then 2x2
  average pooling) (``compression``);
* BN-ReLU after the last dense block, before GAP; no dropout.

At 64 x 64 input the three blocks run at 64x64, 32x32 and 16x16, so the last feature map
(the CAM layer) is 16x16. Channels: 16 -> 208 -> 104 -> 296 -> 148 -> 340 features.
Parameters at 7 classes, 1 input channel: 753,499 (the three blocks of 16 bottleneck
layers make this the depth-100 DenseNet-BC of the original paper, apart from the stem).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from fer_explain.models.base import FERModel, InputSpec, default_normalisation
from fer_explain.models.registry import register_model

__all__ = ["DenseBlock", "DenseLayer", "DenseNetBC", "Transition"]


class DenseLayer(nn.Module):
    """One dense layer: (BN-ReLU-1x1 conv to ``4k``) -> BN-ReLU-3x3 conv to ``k``; output is
    the input concatenated with the ``k`` new channels."""

    def __init__(self, in_channels: int, growth_rate: int, bottleneck: bool = True) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_channels
        if bottleneck:
            inter = 4 * growth_rate
            layers["norm1"] = nn.BatchNorm2d(channels)
            layers["relu1"] = nn.ReLU()
            layers["conv1"] = nn.Conv2d(channels, inter, 1, bias=False)
            channels = inter
        layers["norm2"] = nn.BatchNorm2d(channels)
        layers["relu2"] = nn.ReLU()
        layers["conv2"] = nn.Conv2d(channels, growth_rate, 3, padding=1, bias=False)
        self.layers = nn.Sequential(layers)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.layers(x)], dim=1)


class DenseBlock(nn.Sequential):
    """``num_layers`` :class:`DenseLayer` s; the channel count grows by ``growth_rate`` per layer."""

    def __init__(self, in_channels: int, num_layers: int, growth_rate: int, bottleneck: bool = True) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"layer{i + 1}", DenseLayer(in_channels + i * growth_rate, growth_rate, bottleneck))
        self.out_channels = in_channels + num_layers * growth_rate


class Transition(nn.Sequential):
    """BN-ReLU-1x1 conv (to ``out_channels``) then 2x2 average pooling."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(OrderedDict(
            norm=nn.BatchNorm2d(in_channels),
            relu=nn.ReLU(),
            conv=nn.Conv2d(in_channels, out_channels, 1, bias=False),
            pool=nn.AvgPool2d(2, stride=2),
        ))


@register_model("densenet_bc")
class DenseNetBC(FERModel):
    """DenseNet-BC with three dense blocks, GAP and one FC layer (seed 002 visualisation model).

    Submodules: ``body.stem`` (3x3 conv, 16 channels), ``body.block1``, ``body.trans1``,
    ``body.block2``, ``body.trans2``, ``body.block3``, ``body.final`` (BN-ReLU), ``pool``
    (GAP), ``classifier``.

    * CAM-able; CAM layer and Grad-CAM layer ``body.final`` (16x16 at 64x64).
    * :meth:`features` are the GAP outputs (340-d at the defaults), the features seed 002
      embeds with t-SNE.
    * No SE blocks.

    Args:
        num_classes: number of emotion classes.
        in_chans: input channels (1: grey).
        growth_rate: ``k`` (12; standard DenseNet-BC assumption, not given in the paper).
        layers_per_block: dense layers per block (16, from the paper).
        num_blocks: number of dense blocks (3, from the paper).
        stem_channels: output channels of the first 3x3 convolution (16, from the paper).
        compression: transition channel ratio ``theta`` (0.5; standard assumption).
        bottleneck: use 1x1 bottleneck convs (True; standard assumption).
        input_size: native input side reported by ``input_spec`` (64).
    """

    def __init__(self, num_classes: int = 7, in_chans: int = 1, *, growth_rate: int = 12, layers_per_block: int = 16,
                 num_blocks: int = 3, stem_channels: int = 16, compression: float = 0.5, bottleneck: bool = True,
                 input_size: int = 64) -> None:
        super().__init__()
        if not 0 < compression <= 1:
            raise ValueError(f"compression must be in (0, 1], got {compression}")
        if num_blocks < 1 or layers_per_block < 1 or growth_rate < 1:
            raise ValueError("num_blocks, layers_per_block and growth_rate must be >= 1")
        self._store_config(num_classes=num_classes, in_chans=in_chans, growth_rate=int(growth_rate),
                           layers_per_block=int(layers_per_block), num_blocks=int(num_blocks),
                           stem_channels=int(stem_channels), compression=float(compression),
                           bottleneck=bool(bottleneck), input_size=int(input_size))
        mean, std = default_normalisation(in_chans, rgb="half")
        self.input_spec = InputSpec(size=int(input_size), channels=in_chans, mean=mean, std=std)
        self.cam_able = True

        body: OrderedDict[str, nn.Module] = OrderedDict()
        body["stem"] = nn.Conv2d(in_chans, stem_channels, 3, padding=1, bias=False)
        channels = stem_channels
        for b in range(1, num_blocks + 1):
            block = DenseBlock(channels, layers_per_block, growth_rate, bottleneck)
            body[f"block{b}"] = block
            channels = block.out_channels
            if b < num_blocks:
                out = max(1, int(channels * compression))
                body[f"trans{b}"] = Transition(channels, out)
                channels = out
        body["final"] = nn.Sequential(OrderedDict(norm=nn.BatchNorm2d(channels), relu=nn.ReLU()))
        self.body = nn.Sequential(body)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        self._num_blocks = num_blocks
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def feature_maps(self, x: Tensor) -> Tensor:
        """Output of ``body.final``: the maps that GAP averages (CAM's feature maps)."""
        return self.body(x)

    def features(self, x: Tensor) -> Tensor:
        """GAP features ``(N, C)`` (340 at the defaults)."""
        return self.pool(self.body(x)).flatten(1)

    def gradcam_candidates(self) -> list[str]:
        """``body.final``, then the outputs of earlier dense blocks."""
        return ["body.final"] + [f"body.block{b}" for b in range(self._num_blocks - 1, 0, -1)]

    def _cam_layer_name(self) -> str:
        return "body.final"
