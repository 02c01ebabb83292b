"""SE-ResNet-18 (seed 001, Huang et al., Scientific Reports 13:8425, 2023).

A torchvision-style ResNet-18 (``BasicBlock`` x [2, 2, 2, 2]) with a Squeeze-and-Excitation
gate (reduction 16) on every residual branch, after ``bn2`` and before the addition::

    out = relu(se(bn2(conv2(relu(bn1(conv1(x)))))) + shortcut(x))

With 3 x 224 x 224 input and 7 classes this has exactly 11,267,143 parameters with
bias-free SE layers (the default; the paper quotes "approximately 11.27 million") and
11,269,183 with biased ones (``se_bias=True``). Adaptive average pooling lets the same
network run on FER-sized inputs such as 1 x 48 x 48 or 3 x 100 x 100.

Two stems are selectable with ``stem``:

* ``"imagenet"`` (default, seed 001): 7x7 stride-2 convolution then a 3x3 stride-2 max-pool, so
  ``layer1`` sees the input at 1/4 of its side (56x56 at 224 px, but only 12x12 at 48 px).
* ``"fer"``: one 3x3 stride-2 convolution and no max-pool, the usual adaptation of ResNets to
  small inputs (as for CIFAR-sized images: He et al. 2016, section 4.2, use a 3x3 stem with no
  pooling; we keep one stride of 2 to bound the cost on a CPU). At 48 px ``layer1`` and its SE
  maps are 24x24, ``layer2`` 12x12, ``layer3`` 6x6, ``layer4`` 3x3. Everything after the stem is
  seed 001's network.
"""

from __future__ import annotations

from torch import Tensor, nn

from fer_explain.models.base import FERModel, InputSpec, default_normalisation
from fer_explain.models.layers import SqueezeExcite, scaled_channels
from fer_explain.models.registry import register_model

__all__ = ["SEBasicBlock", "SEResNet18"]


class SEBasicBlock(nn.Module):
    """ResNet ``BasicBlock`` with an SE gate on the residual branch (after ``bn2``).

    The shortcut is the identity, or a strided 1x1 conv + BN projection (``downsample``)
    when the shape changes. ReLUs are not in-place so Grad-CAM hooks stay valid.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, *, se_reduction: int = 16,
                 se_bias: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = SqueezeExcite(planes, reduction=se_reduction, bias=se_bias)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu(out + identity)


@register_model("se_resnet18")
class SEResNet18(FERModel):
    """SE-ResNet-18 for facial emotion recognition (seed 001).

    Layout (names usable with ``get_submodule``): ``conv1`` (7x7/2) -> ``bn1`` -> ``relu`` ->
    ``maxpool`` (3x3/2) -> ``layer1`` .. ``layer4`` (2 :class:`SEBasicBlock` each, widths
    ``w, 2w, 4w, 8w`` with ``w = round(64 * width)``, stride 2 from ``layer2`` on) ->
    ``avgpool`` (adaptive, 1x1) -> ``classifier``.

    * CAM-able: global average pooling + one linear layer; CAM layer ``layer4``.
    * Grad-CAM layer: the deepest of ``layer4, layer3, layer2, layer1`` whose map is at
      least 4x4: ``layer4`` (7x7) at 224, ``layer4`` (4x4) at 100, ``layer3`` (4x4) at 64,
      ``layer2`` (6x6) at 48 (``layer4`` would be 2x2 there).
    * SE blocks: ``layer{i}.{j}.se`` (8 of them); excitation weights via a forward hook on
      ``<block>.excitation`` (see :func:`fer_explain.models.base.record_se_weights`).

    Args:
        num_classes: number of emotion classes.
        in_chans: input channels (3 for RGB as in the paper, 1 for FER2013-style grey).
        width: channel multiplier; 1.0 gives the paper's network, e.g. 0.25 a CPU-sized one.
        se_bias: use biases in the SE fully connected layers.
        se_reduction: SE reduction ratio ``r``.
        input_size: native input side reported by ``input_spec`` (224 in the paper, which
            trains on 224 x 224 crops of 256 x 256 images). Other sizes work too.
        stem: ``"imagenet"`` (seed 001's 7x7/2 convolution + 3x3/2 max-pool) or ``"fer"``
            (a single 3x3/2 convolution, no max-pool; for 48 px faces).
    """

    STEMS = ("imagenet", "fer")

    def __init__(self, num_classes: int = 7, in_chans: int = 3, *, width: float = 1.0, se_bias: bool = False,
                 se_reduction: int = 16, input_size: int = 224, stem: str = "imagenet") -> None:
        super().__init__()
        if stem not in self.STEMS:
            raise ValueError(f"stem must be one of {self.STEMS}, got {stem!r}")
        config: dict[str, object] = {"num_classes": num_classes, "in_chans": in_chans, "width": float(width),
                                     "se_bias": bool(se_bias), "se_reduction": int(se_reduction),
                                     "input_size": int(input_size)}
        if stem != "imagenet":  # keep the configs of existing checkpoints unchanged
            config["stem"] = stem
        self._store_config(**config)
        self.stem = stem
        mean, std = default_normalisation(in_chans)
        self.input_spec = InputSpec(size=int(input_size), channels=in_chans, mean=mean, std=std)
        self.cam_able = True

        widths = [scaled_channels(c, width) for c in (64, 128, 256, 512)]
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        self.maxpool: nn.Module
        if stem == "fer":
            self.conv1 = nn.Conv2d(in_chans, widths[0], 3, stride=2, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_chans, widths[0], 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_planes = widths[0]
        stages = []
        for i, planes in enumerate(widths):
            stride = 1 if i == 0 else 2
            blocks = nn.Sequential(
                SEBasicBlock(in_planes, planes, stride, se_reduction=se_reduction, se_bias=se_bias),
                SEBasicBlock(planes, planes, 1, se_reduction=se_reduction, se_bias=se_bias),
            )
            stages.append(blocks)
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_planes, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's ResNet initialisation (Kaiming-normal convs, BN weight 1 / bias 0)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def feature_maps(self, x: Tensor) -> Tensor:
        """Output of ``layer4``: the last feature maps, before global average pooling."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def features(self, x: Tensor) -> Tensor:
        """Globally average-pooled ``layer4`` features ``(N, 8w)`` (512 at width 1)."""
        return self.avgpool(self.feature_maps(x)).flatten(1)

    def gradcam_candidates(self) -> list[str]:
        return ["layer4", "layer3", "layer2", "layer1"]

    def _cam_layer_name(self) -> str:
        return "layer4"
