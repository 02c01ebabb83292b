"""ResEmoteNet (seed 003, Roy et al., 2024), following the authors' reference implementation.

Architecture at width 1 (64 x 64 RGB input; grey faces are repeated to 3 channels)::

    cnn:   conv1 3x3 64  -BN-ReLU, max-pool 2, dropout 0.2      64 -> 32
           conv2 3x3 128 -BN-ReLU, max-pool 2, dropout 0.2      32 -> 16
           conv3 3x3 256 -BN-ReLU, max-pool 2                   16 -> 8
    se:    Squeeze-Excitation(256, r=16, bias-free)
    res:   res1 256->512, res2 512->1024, res3 1024->2048, each stride 2     8 -> 4 -> 2 -> 1
           (conv3x3-BN-ReLU-conv3x3-BN + 1x1-conv-BN projection shortcut, then ReLU)
    head:  adaptive average pool, FC 2048->1024->512->256 (ReLU + dropout 0.5 each),
           classifier 256->classes

Exactly 80,238,599 parameters at 7 classes, 3 input channels, width 1. All convolutions
and linear layers have biases, as in the reference code.

Ablation (Table IV of the paper, on RAF-DB). The table names the residual blocks by
their *input* width (RB 256, 512, 1024 = ``res1``, ``res2``, ``res3``) and removes
components from the front:

======  ============  =========  ========  ======================  ============================
config  CNN           SE         RB        removed                 options here
======  ============  =========  ========  ======================  ============================
C1      64, 128, 256  256        256-1024  (full model)            defaults
C2      64, 128, 256  --         256-1024  SE (256)                ``use_se=False``
C3      128, 256      256        256-1024  CNN (64)                ``cnn_stages=2``
C4      256           256        256-1024  CNN (64, 128)           ``cnn_stages=1``
C5      64, 128, 256  256        512, 1024 RB (256)                ``res_blocks=2``
C6      64, 128, 256  256        1024      RB (256, 512)           ``res_blocks=1``
======  ============  =========  ========  ======================  ============================

``ablation="C1"`` .. ``"C6"`` sets these options in one go. The paper does not say how the
remaining layers are rewired, so the choices here are: a removed CNN stage also removes its
max-pool (and dropout) and the first kept conv reads the input channels; a removed residual
block is dropped from the front and the first kept block reads the SE output (256
channels) while keeping its own output width, so the head is unchanged (2048 features).
``res_blocks=0`` (not in the paper) feeds the 256 SE channels straight to the head.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from fer_explain.models.base import FERModel, InputSpec, default_normalisation
from fer_explain.models.layers import SqueezeExcite, conv_bn_relu, scaled_channels
from fer_explain.models.registry import register_model

__all__ = ["ABLATION_CONFIGS", "ResEmoteNet", "ResEmoteResidualBlock"]

#: Table IV configurations -> constructor options.
ABLATION_CONFIGS: dict[str, dict[str, int | bool]] = {
    "C1": {"use_se": True, "cnn_stages": 3, "res_blocks": 3},
    "C2": {"use_se": False, "cnn_stages": 3, "res_blocks": 3},
    "C3": {"use_se": True, "cnn_stages": 2, "res_blocks": 3},
    "C4": {"use_se": True, "cnn_stages": 1, "res_blocks": 3},
    "C5": {"use_se": True, "cnn_stages": 3, "res_blocks": 2},
    "C6": {"use_se": True, "cnn_stages": 3, "res_blocks": 1},
}

_CNN_WIDTHS = (64, 128, 256)
_CNN_DROPOUT = (0.2, 0.2, 0.0)  # dropout after the first two conv stages only
_RES_WIDTHS = (512, 1024, 2048)  # output widths of res1, res2, res3
_HEAD_WIDTHS = (1024, 512, 256)


class ResEmoteResidualBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` with biased 3x3 convs.

    The shortcut is a 1x1 conv (with bias) + BN projection whenever the stride or the
    width changes, the identity otherwise.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride), nn.BatchNorm2d(out_ch))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


@register_model("resemotenet")
class ResEmoteNet(FERModel):
    """ResEmoteNet: CNN + Squeeze-Excitation + residual blocks (seed 003).

    Submodule names: ``cnn.conv1``/``cnn.conv2``/``cnn.conv3`` (conv-BN-ReLU stages, only
    the kept ones exist), ``cnn.pool{i}``, ``cnn.drop{i}``, ``se`` (a
    :class:`~fer_explain.models.layers.SqueezeExcite`, or ``nn.Identity`` when
    ``use_se=False``), ``res.res1``..``res.res3``, ``pool``, ``head`` (the three hidden FC
    layers), ``classifier``.

    * Not CAM-able (a 3-layer MLP sits between pooling and the classifier):
      :meth:`cam_layer_name` raises ``TypeError``.
    * Grad-CAM layer: ``cnn.conv3`` (16x16 at 64x64), as the authors' Grad-CAM script does;
      the last residual map is 1x1 at 64x64 and useless for Grad-CAM. At inputs too small
      for a 4x4 ``conv3`` map the earlier conv stages are used (:meth:`gradcam_candidates`).
    * SE blocks: ``[("se", ...)]``; hook ``model.se.excitation`` for ``s_c`` ``(N, 256)``.
    * :meth:`features` returns the 256-d input of the classifier (after the hidden FC
      layers; dropout is inactive in eval mode).

    Args:
        num_classes: number of emotion classes.
        in_chans: input channels (3: grey repeated to RGB, as the authors do).
        width: channel multiplier for every conv and FC layer (1.0 = paper).
        use_se: include the SE block (Table IV C2 removes it).
        cnn_stages: how many of the 3 conv stages to keep, counted from the end (C3: 2, C4: 1).
        res_blocks: how many of the 3 residual blocks to keep, counted from the end
            (C5: 2, C6: 1; 0 removes all).
        se_reduction: SE reduction ratio.
        head_dropout: dropout after each hidden FC layer (0.5 in the reference code).
        cnn_dropout: dropout after the first two conv stages (0.2 in the reference code).
        input_size: native input side reported by ``input_spec`` (64).
        ablation: optional Table IV config name (``"C1"`` .. ``"C6"``) overriding
            ``use_se``/``cnn_stages``/``res_blocks``; not stored in :attr:`config` (the
            resolved options are).
    """

    def __init__(self, num_classes: int = 7, in_chans: int = 3, *, width: float = 1.0, use_se: bool = True,
                 cnn_stages: int = 3, res_blocks: int = 3, se_reduction: int = 16, head_dropout: float = 0.5,
                 cnn_dropout: float = 0.2, input_size: int = 64, ablation: str | None = None) -> None:
        super().__init__()
        if ablation is not None:
            try:
                preset = ABLATION_CONFIGS[ablation.upper()]
            except KeyError:
                raise KeyError(f"unknown ablation {ablation!r}; valid: {', '.join(ABLATION_CONFIGS)}") from None
            use_se, cnn_stages, res_blocks = bool(preset["use_se"]), int(preset["cnn_stages"]), int(
                preset["res_blocks"])
        if not 1 <= cnn_stages <= 3:
            raise ValueError(f"cnn_stages must be 1..3, got {cnn_stages}")
        if not 0 <= res_blocks <= 3:
            raise ValueError(f"res_blocks must be 0..3, got {res_blocks}")
        self._store_config(num_classes=num_classes, in_chans=in_chans, width=float(width), use_se=bool(use_se),
                           cnn_stages=int(cnn_stages), res_blocks=int(res_blocks), se_reduction=int(se_reduction),
                           head_dropout=float(head_dropout), cnn_dropout=float(cnn_dropout),
                           input_size=int(input_size))
        mean, std = default_normalisation(in_chans)
        self.input_spec = InputSpec(size=int(input_size), channels=in_chans, mean=mean, std=std)
        self.cam_able = False

        cnn: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_chans
        for idx in range(3 - cnn_stages, 3):
            out = scaled_channels(_CNN_WIDTHS[idx], width)
            cnn[f"conv{idx + 1}"] = conv_bn_relu(channels, out)
            cnn[f"pool{idx + 1}"] = nn.MaxPool2d(2)
            if _CNN_DROPOUT[idx] > 0:
                cnn[f"drop{idx + 1}"] = nn.Dropout(cnn_dropout)
            channels = out
        self.cnn = nn.Sequential(cnn)
        self.se: nn.Module = SqueezeExcite(channels, se_reduction, bias=False) if use_se else nn.Identity()

        res: OrderedDict[str, nn.Module] = OrderedDict()
        for idx in range(3 - res_blocks, 3):
            out = scaled_channels(_RES_WIDTHS[idx], width)
            res[f"res{idx + 1}"] = ResEmoteResidualBlock(channels, out, stride=2)
            channels = out
        self.res = nn.Sequential(res)
        self.pool = nn.AdaptiveAvgPool2d(1)

        head: OrderedDict[str, nn.Module] = OrderedDict()
        for i, hidden in enumerate(_HEAD_WIDTHS, start=1):
            hidden = scaled_channels(hidden, width)
            head[f"fc{i}"] = nn.Linear(channels, hidden)
            head[f"relu{i}"] = nn.ReLU()
            head[f"drop{i}"] = nn.Dropout(head_dropout)
            channels = hidden
        self.head = nn.Sequential(head)
        self.classifier = nn.Linear(channels, num_classes)

    def feature_maps(self, x: Tensor) -> Tensor:
        """Output of the last residual block (before adaptive average pooling)."""
        return self.res(self.se(self.cnn(x)))

    def features(self, x: Tensor) -> Tensor:
        """Input of the classifier: output of the hidden FC stack, ``(N, 256 * width)``."""
        return self.head(self.pool(self.feature_maps(x)).flatten(1))

    def gradcam_candidates(self) -> list[str]:
        """``cnn.conv3`` (the authors' Grad-CAM layer), then the earlier kept conv stages."""
        return [name for name in ("cnn.conv3", "cnn.conv2", "cnn.conv1") if name.split(".")[1] in self.cnn._modules]
