"""Deep-Emotion (seed 004, Minaee et al., Sensors 21:3046, 2021): a small CNN with a spatial transformer.

Input: 1 x 48 x 48 grey faces (the FC sizes fix the input size). Shapes at 48 x 48::

    spatial transformer (localisation net on the raw input)
        loc.conv1 8@7x7 -> max-pool 2 -> ReLU            48 -> 42 -> 21
        loc.conv2 10@5x5 -> max-pool 2 -> ReLU           21 -> 17 -> 8      (10*8*8 = 640)
        loc_fc: FC 640->32 -> ReLU -> FC 32->6 = theta (2x3 affine), last layer
                initialised to the identity transform
        warp = grid_sample(x, affine_grid(theta))
    feature extractor on the warped input
        conv1 10@3x3 -> ReLU -> conv2 10@3x3 -> max-pool 2 -> ReLU      48 -> 46 -> 44 -> 22
        conv3 10@3x3 -> ReLU -> conv4 10@3x3 -> BN -> max-pool 2 -> ReLU 22 -> 20 -> 18 -> 9
        dropout -> flatten (10*9*9 = 810) -> FC 810->50 -> ReLU -> classifier 50->classes

The paper describes the feature extractor as "four convolutional layers, with every two
followed by a max-pooling layer and a ReLU"; the ReLU after the first conv of each pair
follows the widely used reference implementation (``inner_relu=True``, parameter-free).

Parameters: 66,877 at 7 classes with batch norm (66,857 without), of which 23,120 are
in the spatial transformer.

Resampling uses ``F.affine_grid`` / ``F.grid_sample`` with an explicit
``align_corners=False`` (PyTorch's default since 1.3, stated here so the behaviour does not
depend on the version and an identity theta reproduces the input exactly) and bilinear
interpolation with zero padding outside the image.

Dropout is an ``nn.Dropout`` module, so it honours ``model.train()`` / ``model.eval()``
(a common implementation calls ``F.dropout`` without ``training=``, which keeps dropout
active at test time). The model stores no state between calls: use :meth:`DeepEmotion.stn_theta`
and :meth:`DeepEmotion.warp` to look at the attention transform.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fer_explain.models.base import FERModel, InputSpec, default_normalisation
from fer_explain.models.registry import register_model

__all__ = ["NATIVE_SIZE", "DeepEmotion"]

#: The only input size the fully connected layers accept.
NATIVE_SIZE = 48
_IDENTITY_THETA = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@register_model("deep_emotion")
class DeepEmotion(FERModel):
    """Deep-Emotion attentional CNN (seed 004).

    Submodules: ``loc`` (localisation convs), ``loc_fc`` (theta regressor; ``loc_fc.fc2`` is
    initialised to the identity), ``body`` (``conv1, relu0, conv2, pool1, relu1, conv3,
    relu2, conv4, bn, pool2, relu3``), ``dropout``, ``fc1``, ``classifier``.

    * Not CAM-able (an FC 810->50 hidden layer precedes the classifier).
    * Grad-CAM layer: ``body.relu3``, the last feature map feeding the FC layers, 9x9 at
      48x48 (``body.conv4``, 18x18, is the next candidate). The map lives in the *warped*
      frame: overlay it on :meth:`warp` (x), or note that at the identity theta both frames
      coincide.
    * No SE blocks.

    Args:
        num_classes: number of emotion classes.
        in_chans: input channels (1 in the paper).
        batch_norm: batch norm after ``conv4`` (present in the reference code).
        dropout: dropout probability before the FC layers.
        inner_relu: ReLU after ``conv1`` and ``conv3`` (see the module docstring).
    """

    def __init__(self, num_classes: int = 7, in_chans: int = 1, *, batch_norm: bool = True, dropout: float = 0.5,
                 inner_relu: bool = True) -> None:
        super().__init__()
        self._store_config(num_classes=num_classes, in_chans=in_chans, batch_norm=bool(batch_norm),
                           dropout=float(dropout), inner_relu=bool(inner_relu))
        mean, std = default_normalisation(in_chans, rgb="half")
        self.input_spec = InputSpec(size=NATIVE_SIZE, channels=in_chans, mean=mean, std=std)
        self.cam_able = False

        self.loc = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(in_chans, 8, 7), pool1=nn.MaxPool2d(2), relu1=nn.ReLU(),
            conv2=nn.Conv2d(8, 10, 5), pool2=nn.MaxPool2d(2), relu2=nn.ReLU(),
        ))
        self.loc_fc = nn.Sequential(OrderedDict(
            fc1=nn.Linear(10 * 8 * 8, 32), relu=nn.ReLU(), fc2=nn.Linear(32, 6),
        ))
        self.body = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(in_chans, 10, 3), relu0=nn.ReLU() if inner_relu else nn.Identity(),
            conv2=nn.Conv2d(10, 10, 3), pool1=nn.MaxPool2d(2), relu1=nn.ReLU(),
            conv3=nn.Conv2d(10, 10, 3), relu2=nn.ReLU() if inner_relu else nn.Identity(),
            conv4=nn.Conv2d(10, 10, 3), bn=nn.BatchNorm2d(10) if batch_norm else nn.Identity(),
            pool2=nn.MaxPool2d(2), relu3=nn.ReLU(),
        ))
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(10 * 9 * 9, 50)
        self.fc1_relu = nn.ReLU()
        self.classifier = nn.Linear(50, num_classes)
        self.reset_stn_()

    # ----------------------------------------------------------- transformer
    @torch.no_grad()
    def reset_stn_(self) -> None:
        """Initialise the spatial transformer to the identity transform (zero weights, identity bias)."""
        last = self.loc_fc.get_submodule("fc2")
        assert isinstance(last, nn.Linear)
        last.weight.zero_()
        last.bias.copy_(torch.tensor(_IDENTITY_THETA, dtype=last.bias.dtype, device=last.bias.device))

    def _after_init_(self) -> None:
        self.reset_stn_()

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[-2:] != (NATIVE_SIZE, NATIVE_SIZE):
            raise ValueError(
                f"deep_emotion needs (N, C, {NATIVE_SIZE}, {NATIVE_SIZE}) input, got {tuple(x.shape)}"
            )

    def stn_theta(self, x: Tensor) -> Tensor:
        """Affine parameters ``(N, 2, 3)`` predicted by the localisation network for ``x``."""
        self._check_input(x)
        return self.loc_fc(self.loc(x).flatten(1)).view(-1, 2, 3)

    def warp(self, x: Tensor, theta: Tensor | None = None) -> Tensor:
        """Input resampled by the spatial transformer (``theta`` defaults to :meth:`stn_theta` (x))."""
        if theta is None:
            theta = self.stn_theta(x)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    # --------------------------------------------------------------- forward
    def features(self, x: Tensor) -> Tensor:
        """Input of the classifier: ``relu(fc1(dropout(flatten(body(warp(x))))))``, ``(N, 50)``."""
        out = self.body(self.warp(x))
        return self.fc1_relu(self.fc1(self.dropout(out.flatten(1))))

    def gradcam_candidates(self) -> list[str]:
        return ["body.relu3", "body.conv4"]

    def feature_map_size(self, layer_name: str, input_size: int | None = None) -> tuple[int, int]:
        if input_size is not None and int(input_size) != NATIVE_SIZE:
            raise ValueError(f"deep_emotion only accepts {NATIVE_SIZE}x{NATIVE_SIZE} input, got {input_size}")
        return super().feature_map_size(layer_name, input_size)
