"""The common model interface used by training, checkpoints and the explainers.

Every architecture in :mod:`fer_explain.models` subclasses :class:`FERModel` and so
answers the same questions:

* :attr:`FERModel.input_spec` -- expected input size, channels and normalisation;
* :meth:`FERModel.gradcam_layer` / :meth:`FERModel.gradcam_layer_name` -- a pinned layer
  whose output map is at least ``MIN_CAM_MAP`` x ``MIN_CAM_MAP`` at a given input size;
* :attr:`FERModel.cam_able` / :meth:`FERModel.cam_layer_name` -- whether classic CAM
  (global average pooling followed by one linear layer) applies, and on which layer;
* :attr:`FERModel.classifier` (the final ``nn.Linear``), :meth:`FERModel.features`
  (the classifier's input, ``(N, D)``) and :meth:`FERModel.forward` (logits);
* :meth:`FERModel.se_blocks` -- the named Squeeze-and-Excitation modules;
* :attr:`FERModel.config` -- the keyword arguments that re-create the model with
  :func:`fer_explain.models.create_model`.

Invariant relied on by the explainers and tested for every model:
``model(x) == model.classifier(model.features(x))``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from fer_explain.models.layers import SqueezeExcite

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MIN_CAM_MAP",
    "FERModel",
    "InputSpec",
    "count_parameters",
    "default_normalisation",
    "init_gaussian_",
    "record_se_weights",
]

#: Smallest spatial side (in cells) a Grad-CAM layer's output map may have.
MIN_CAM_MAP = 4

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """What a model expects as input.

    Attributes:
        size: native square input side in pixels (images are resized to ``size x size``).
        channels: number of input channels (1 = grey, 3 = RGB or grey repeated to 3).
        mean: per-channel mean subtracted after scaling pixels to ``[0, 1]``.
        std: per-channel standard deviation divided by after subtracting ``mean``.
    """

    size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError(f"size must be positive, got {self.size}")
        if self.channels <= 0:
            raise ValueError(f"channels must be positive, got {self.channels}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(
                f"mean/std must have one entry per channel ({self.channels}), "
                f"got mean={self.mean}, std={self.std}"
            )
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std entries must be positive, got {self.std}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(channels, size, size)``."""
        return (self.channels, self.size, self.size)


def default_normalisation(channels: int, rgb: str = "imagenet") -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Default ``(mean, std)`` for a channel count.

    Three channels use the ImageNet statistics when ``rgb == "imagenet"`` (what the
    ResEmoteNet authors use, also for grey faces repeated to 3 channels); anything else
    uses mean 0.5 / std 0.5 per channel (maps ``[0, 1]`` to ``[-1, 1]``).
    """
    if channels == 3 and rgb == "imagenet":
        return IMAGENET_MEAN, IMAGENET_STD
    return (0.5,) * channels, (0.5,) * channels


class FERModel(nn.Module):
    """Base class of every facial-emotion-recognition model in the zoo.

    Subclasses must

    * be registered with :func:`fer_explain.models.registry.register_model`, which sets
      :attr:`model_name`;
    * set ``self.input_spec``, ``self.cam_able`` and a final ``nn.Linear`` named
      ``self.classifier``;
    * call :meth:`_store_config` with every constructor argument needed to rebuild them;
    * implement :meth:`features` and :meth:`gradcam_candidates` (and
      :meth:`_cam_layer_name` when CAM-able).

    ``forward`` is ``classifier(features(x))`` and should not be overridden.
    """

    #: registry name, set by ``register_model``.
    model_name: ClassVar[str] = ""

    input_spec: InputSpec
    #: ``True`` when the network ends in global average pooling + a single linear layer.
    cam_able: bool
    classifier: nn.Linear

    def __init__(self) -> None:
        super().__init__()
        self._config: dict[str, Any] = {}
        self._map_size_cache: dict[tuple[str, int], tuple[int, int]] = {}

    # ------------------------------------------------------------------ config
    def _store_config(self, **kwargs: Any) -> None:
        """Record the constructor arguments returned by :attr:`config`."""
        self._config = dict(kwargs)

    @property
    def config(self) -> dict[str, Any]:
        """Keyword arguments re-creating this model: ``create_model(**model.config)``.

        Contains ``name`` (the registry name), ``num_classes``, ``in_chans`` and every
        family-specific option, all as plain JSON-serialisable values.
        """
        return {"name": self.model_name, **self._config}

    @property
    def num_classes(self) -> int:
        """Number of output logits."""
        return self.classifier.out_features

    @property
    def feature_dim(self) -> int:
        """Dimension ``D`` of :meth:`features`."""
        return self.classifier.in_features

    # ---------------------------------------------------------------- forward
    def features(self, x: Tensor) -> Tensor:
        """Penultimate features ``(N, D)``: the input of :attr:`classifier`.

        For the CAM-able models these are the global-average-pooled feature maps (the
        "bottleneck features" used for t-SNE in seed 002).
        """
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, num_classes)``."""
        return self.classifier(self.features(x))

    # -------------------------------------------------------------- Grad-CAM
    def gradcam_candidates(self) -> list[str]:
        """Dotted names of possible Grad-CAM layers, preferred (deepest) first."""
        raise NotImplementedError

    def feature_map_size(self, layer_name: str, input_size: int | None = None) -> tuple[int, int]:
        """Spatial size ``(H, W)`` of the output of ``layer_name`` for a square input.

        Computed with a shape-only forward pass through a copy of the model built from
        :attr:`config` on PyTorch's ``meta`` device: no real compute, and ``self`` (its
        parameters, buffers, mode and any registered hooks) is untouched. Results are cached
        per ``(layer, size)``.
        """
        size = self.input_spec.size if input_size is None else int(input_size)
        key = (layer_name, size)
        if key not in self._map_size_cache:
            self._map_size_cache.update(self._probe_map_sizes(self.gradcam_candidates() + [layer_name], size))
        return self._map_size_cache[key]

    def _probe_map_sizes(self, names: Sequence[str], size: int) -> dict[tuple[str, int], tuple[int, int]]:
        # A fresh copy built from ``config`` on the meta device: no compute, no memory, and
        # none of the hooks an explainer may have registered on ``self`` fire.
        config = dict(self.config)
        config.pop("name")
        with torch.device("meta"):
            probe = type(self)(**config)
        shapes: dict[tuple[str, int], tuple[int, int]] = {}
        for name in dict.fromkeys(names):

            def hook(_m: nn.Module, _inp: Any, out: Any, _name: str = name) -> None:
                if isinstance(out, Tensor) and out.dim() == 4:
                    shapes[(_name, size)] = (int(out.shape[-2]), int(out.shape[-1]))

            probe.get_submodule(name).register_forward_hook(hook)
        x = torch.empty(2, self.input_spec.channels, size, size, device="meta")
        try:
            with torch.no_grad():
                probe(x)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"{self.model_name}: cannot run on {size}x{size} input: {exc}") from exc
        missing = [n for n in names if (n, size) not in shapes]
        if missing:
            raise ValueError(f"{self.model_name}: layers {missing} produce no 4-D feature map")
        return shapes

    def gradcam_layer_name(self, input_size: int | None = None) -> str:
        """Dotted name (for ``model.get_submodule``) of the layer used for Grad-CAM.

        The deepest layer in :meth:`gradcam_candidates` whose output map is at least
        ``MIN_CAM_MAP x MIN_CAM_MAP`` at ``input_size`` (default: the native size).
        Raises ``ValueError`` if no candidate is large enough.
        """
        size = self.input_spec.size if input_size is None else int(input_size)
        tried = []
        for name in self.gradcam_candidates():
            h, w = self.feature_map_size(name, size)
            if min(h, w) >= MIN_CAM_MAP:
                return name
            tried.append(f"{name}: {h}x{w}")
        raise ValueError(
            f"{self.model_name}: no Grad-CAM layer gives a map of at least {MIN_CAM_MAP}x{MIN_CAM_MAP} "
            f"at input size {size} ({', '.join(tried)})"
        )

    def gradcam_layer(self, input_size: int | None = None) -> nn.Module:
        """The module named by :meth:`gradcam_layer_name`."""
        return self.get_submodule(self.gradcam_layer_name(input_size))

    # ------------------------------------------------------------------- CAM
    def _cam_layer_name(self) -> str:
        raise NotImplementedError

    def cam_layer_name(self) -> str:
        """Name of the last convolutional feature layer, whose output feeds global average pooling.

        Raises:
            TypeError: if the model is not CAM-able (its head is not GAP + one linear layer);
                use Grad-CAM (:meth:`gradcam_layer_name`) instead.
        """
        if not self.cam_able:
            raise TypeError(
                f"{self.model_name} is not CAM-able: classic CAM needs global average pooling followed by "
                f"a single linear layer. Use Grad-CAM with gradcam_layer_name() "
                f"(-> {self.gradcam_layer_name()!r}) instead."
            )
        return self._cam_layer_name()

    def cam_layer(self) -> nn.Module:
        """The module named by :meth:`cam_layer_name`."""
        return self.get_submodule(self.cam_layer_name())

    # -------------------------------------------------------------------- SE
    def se_blocks(self) -> list[tuple[str, SqueezeExcite]]:
        """Named Squeeze-and-Excitation modules in forward order (empty when there are none).

        Each is a stateless :class:`~fer_explain.models.layers.SqueezeExcite`; capture its
        excitation weights ``s_c`` (shape ``(N, C)``, in ``[0, 1]``) with a forward hook on
        its ``excitation`` submodule, or use :func:`record_se_weights`.
        """
        return [(n, m) for n, m in self.named_modules() if isinstance(m, SqueezeExcite)]

    # ------------------------------------------------------------------ init
    def _after_init_(self) -> None:
        """Re-apply architecture-specific initialisation after a generic re-initialisation.

        Called by :func:`init_gaussian_`. The default does nothing; e.g. Deep-Emotion
        resets its spatial transformer to the identity transform here.
        """


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (works on ``meta``-device models too)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def init_gaussian_(model: nn.Module, std: float = 0.05, mean: float = 0.0) -> nn.Module:
    """Re-initialise every conv and linear weight from ``N(mean, std^2)`` and zero their biases.

    This is the Deep-Emotion training recipe (seed 004: zero-mean Gaussian, std 0.05).
    Normalisation layers are reset to weight 1 / bias 0. Afterwards
    :meth:`FERModel._after_init_` restores architecture-specific initialisation (such as an
    identity spatial transformer). Returns ``model`` for chaining.
    """
    if std <= 0 or not math.isfinite(std):
        raise ValueError(f"std must be a positive finite number, got {std}")
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.normal_(module.weight, mean=mean, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if getattr(module, "weight", None) is not None:
                nn.init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
    for module in model.modules():
        if isinstance(module, FERModel):
            module._after_init_()
    return model


@contextlib.contextmanager
def record_se_weights(model: FERModel) -> Iterator[dict[str, Tensor]]:
    """Capture the SE excitation weights of every forward pass run inside the block.

    Yields a dict filled on each forward with ``{se_block_name: s}``, ``s`` a detached
    ``(N, C)`` tensor in ``[0, 1]`` (the last forward pass wins). Hooks are removed on exit.

    Example::

        with record_se_weights(model) as weights:
            model(x)
        weights["layer1.0.se"].shape  # (N, 64)
    """
    captured: dict[str, Tensor] = {}
    handles = []
    for name, block in model.se_blocks():

        def hook(_m: nn.Module, _inp: Any, out: Tensor, _name: str = name) -> None:
            captured[_name] = out.detach()

        handles.append(block.excitation.register_forward_hook(hook))
    try:
        yield captured
    finally:
        for h in handles:
            h.remove()
