"""VGG-style classifier of seed 002 (face-region contribution study, IJAC 17(1), 2020).

The paper's Fig. 1 lists the filter counts ``64 64 128 128 256 256 256 256 256 256 512 512``
and the text says: 64 x 64 grey input, 3x3 convolutions with stride 1, each followed by
batch norm and ReLU, "the max-pooling layer is appended behind two or three convolutional
layers" (2x2, stride 2), then one FC layer with as many outputs as classes.

Grouping used here (the figure's pool positions are not in the text; this is the only
split into groups of two or three that keeps VGG's "widths change only after a pool"):

    block1: 64 64        -> pool   64 -> 32
    block2: 128 128      -> pool   32 -> 16
    block3: 256 256 256  -> pool   16 -> 8
    block4: 256 256 256  -> pool    8 -> 4
    block5: 512 512      -> pool    4 -> 2

Head (``head`` option):

* ``"flatten"`` (default, the paper's description: pooled maps -> one FC): the 512 x 2 x 2
  map is flattened (2048 features at width 1) into the classifier. An adaptive average
  pool to 2x2 sits in front of the flatten; it is the identity at 64 x 64 input and lets
  other sizes run. Not CAM-able.
* ``"gap"``: global average pooling of ``block5`` (before its max-pool) + one linear layer,
  which makes the model CAM-able (CAM layer ``body.block5``, 4x4 at 64 x 64).

Parameters at 7 classes, 1 input channel, width 1: 7,064,775 (flatten head) and 7,054,023
(GAP head). Convolutions keep their biases (as in torchvision's ``vgg*_bn``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

from torch import Tensor, nn

from fer_explain.models.base import FERModel, InputSpec, default_normalisation
from fer_explain.models.layers import conv_bn_relu, scaled_channels
from fer_explain.models.registry import register_model

__all__ = ["VGGFER", "VGG_FER_GROUPS"]

#: Filter widths per pooling group (seed 002, Fig. 1).
VGG_FER_GROUPS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (256, 256, 256), (512, 512))


@register_model("vgg_fer")
class VGGFER(FERModel):
    """VGG-style FER classifier (seed 002 classification model).

    Submodules: ``body.block1`` .. ``body.block5`` (each a ``Sequential`` of conv-BN-ReLU
    layers named ``conv1``, ``conv2``, ...), ``body.pool1`` .. ``body.pool5``, ``pool``
    (adaptive pooling of the head), ``classifier``.

    * Grad-CAM layer: ``body.block5`` (output of the last conv layer, 4x4 at 64x64); earlier
      blocks are used at inputs too small for that.
    * CAM-able only with ``head="gap"`` (CAM layer ``body.block5``).
    * No SE blocks.

    Args:
        num_classes: number of emotion classes.
        in_chans: input channels (1: grey as in the paper).
        width: channel multiplier (1.0 = paper).
        head: ``"flatten"`` (paper) or ``"gap"`` (CAM-able), see the module docstring.
        input_size: native input side reported by ``input_spec`` (64).
    """

    def __init__(self, num_classes: int = 7, in_chans: int = 1, *, width: float = 1.0,
                 head: Literal["flatten", "gap"] = "flatten", input_size: int = 64) -> None:
        super().__init__()
        if head not in ("flatten", "gap"):
            raise ValueError(f"head must be 'flatten' or 'gap', got {head!r}")
        self._store_config(num_classes=num_classes, in_chans=in_chans, width=float(width), head=head,
                           input_size=int(input_size))
        mean, std = default_normalisation(in_chans, rgb="half")
        self.input_spec = InputSpec(size=int(input_size), channels=in_chans, mean=mean, std=std)
        self.head_type = head
        self.cam_able = head == "gap"

        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_chans
        for g, group in enumerate(VGG_FER_GROUPS, start=1):
            block = nn.Sequential()
            for i, filters in enumerate(group, start=1):
                out = scaled_channels(filters, width)
                block.add_module(f"conv{i}", conv_bn_relu(channels, out))
                channels = out
            layers[f"block{g}"] = block
            if head == "gap" and g == len(VGG_FER_GROUPS):
                break  # GAP reads block5 directly; a final max-pool would only discard locations
            layers[f"pool{g}"] = nn.MaxPool2d(2, stride=2)
        self.body = nn.Sequential(layers)
        if head == "gap":
            self.pool: nn.Module = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(channels, num_classes)
        else:
            self.pool = nn.AdaptiveAvgPool2d(2)
            self.classifier = nn.Linear(channels * 4, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def features(self, x: Tensor) -> Tensor:
        """Classifier input: flattened 2x2 pooled maps (``head="flatten"``) or GAP features (``"gap"``)."""
        return self.pool(self.body(x)).flatten(1)

    def gradcam_candidates(self) -> list[str]:
        return [f"body.block{g}" for g in range(len(VGG_FER_GROUPS), 0, -1)]

    def _cam_layer_name(self) -> str:
        return f"body.block{len(VGG_FER_GROUPS)}"
