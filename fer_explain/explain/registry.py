"""The one explainer registry: every explainer by name, with the project's one set of defaults.

Widgets, ``write_report``, the notebooks and the CLI all build explainers here, so "occlusion" means
the same thing everywhere::

    >>> from fer_explain.explain import list_explainers, make_explainer
    >>> list_explainers()
    ['cam', 'gradcam', 'gradcam++', 'integrated_gradients', 'occlusion', 'occlusion_coarse', 'saliency', 'se_map']
    >>> make_explainer("occlusion", model, input_size=48, black=black)   # window 8, stride 4, black baseline

Defaults (documented once, here):

==========================  ====================================================================
name                        defaults
==========================  ====================================================================
``gradcam``, ``gradcam++``  the model's pinned layer (:meth:`FERModel.gradcam_layer_name` at the
                            input size: the deepest map of at least 4 x 4)
``cam``                     the model's CAM layer (GAP + linear models only)
``se_map``                  the model's deepest SE block, top 8 channels
``occlusion``               window = input side // 6 (8 at 48 px), stride = window // 2, baseline
                            black in image space (seed 004's zeroed pixels)
``occlusion_coarse``        coarse-to-fine approximation of that occlusion map: fine window and
                            stride as ``occlusion``'s, the lattice sweep (39 of the 121 fine windows
                            at 48 px, the rest interpolated in logit space), no drill-down,
                            baseline black in image space (``sweep="grid"``: the same window at twice
                            the stride, top fraction
                            :data:`~fer_explain.explain.occlusion_coarse.DEFAULT_TOP_FRACTION`)
``integrated_gradients``    32 steps, baseline black in image space
``saliency``                absolute gradient summed over channels
==========================  ====================================================================

Region masking is not a per-model explainer (it needs each face's landmarks); its defaults are the
symmetric region set with a 5 % margin, :data:`REGION_DEFAULTS` (from :mod:`fer_explain.faces.regions`).

``black`` is the value of a black pixel after the checkpoint's normalisation, ``(C, 1, 1)``; callers
holding a checkpoint pass ``CheckpointInput.black()`` (see :mod:`fer_explain.train.inputs`), a bare
model falls back to its ``input_spec`` (:func:`~fer_explain.explain.occlusion.black_baseline`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from torch import Tensor, nn

from fer_explain.explain.base import Explainer
from fer_explain.explain.cam import CAM
from fer_explain.explain.gradcam import GradCAM, GradCAMPlusPlus
from fer_explain.explain.gradients import IntegratedGradients, Saliency
from fer_explain.explain.occlusion import Occlusion, black_baseline
from fer_explain.explain.occlusion_coarse import CoarseToFineOcclusion
from fer_explain.explain.se_maps import SEMapExplainer
from fer_explain.faces.regions import DEFAULT_MARGIN, DEFAULT_REGION_SET

__all__ = [
    "EXPLAINERS",
    "IG_STEPS",
    "REGION_DEFAULTS",
    "ExplainerInfo",
    "explainer_applies",
    "list_explainers",
    "make_explainer",
    "occlusion_window",
]

#: Integrated-gradients steps used everywhere by default.
IG_STEPS = 32

REGION_DEFAULTS: Mapping[str, Any] = MappingProxyType({"region_set": DEFAULT_REGION_SET, "margin": DEFAULT_MARGIN})
"""Region masking's defaults: the symmetric region set with a 5 % margin."""


def occlusion_window(input_size: int) -> tuple[int, int]:
    """``(window, stride)`` of the default occlusion: window = side // 6 (at least 2), stride = window // 2."""
    window = max(2, int(input_size) // 6)
    return window, max(1, window // 2)


@dataclass(frozen=True)
class ExplainerInfo:
    """A registry entry: its display label, what it needs and how to build it."""

    name: str
    label: str
    build: Callable[..., Explainer]
    needs_cam: bool = False
    needs_se: bool = False


def _occlusion(model: nn.Module, *, input_size: int, black: Tensor | float, **params: Any) -> Explainer:
    params.setdefault("window", occlusion_window(input_size)[0])
    params.setdefault("stride", max(1, int(params["window"]) // 2))
    params.setdefault("baseline", black)
    return Occlusion(model, **params)


def _occlusion_coarse(model: nn.Module, *, input_size: int, black: Tensor | float, **params: Any) -> Explainer:
    params.setdefault("window", occlusion_window(input_size)[0])
    params.setdefault("stride", max(1, int(params["window"]) // 2))
    params.setdefault("baseline", black)
    return CoarseToFineOcclusion(model, **params)  # sweep, coarse window and stride, top fraction: its defaults


def _ig(model: nn.Module, *, input_size: int, black: Tensor | float, **params: Any) -> Explainer:
    params.setdefault("n_steps", IG_STEPS)
    params.setdefault("baseline", black)
    return IntegratedGradients(model, **params)


EXPLAINERS: Mapping[str, ExplainerInfo] = MappingProxyType({
    "gradcam": ExplainerInfo("gradcam", "Grad-CAM",
                             lambda m, *, input_size, black, **kw: GradCAM(m, input_size=input_size, **kw)),
    "gradcam++": ExplainerInfo("gradcam++", "Grad-CAM++",
                               lambda m, *, input_size, black, **kw: GradCAMPlusPlus(m, input_size=input_size, **kw)),
    "cam": ExplainerInfo("cam", "CAM", lambda m, *, input_size, black, **kw: CAM(m, **kw), needs_cam=True),
    "se_map": ExplainerInfo("se_map", "SE map", lambda m, *, input_size, black, **kw: SEMapExplainer(m, **kw),
                            needs_se=True),
    "occlusion": ExplainerInfo("occlusion", "Occlusion", _occlusion),
    "occlusion_coarse": ExplainerInfo("occlusion_coarse", "Occlusion (coarse to fine)", _occlusion_coarse),
    "integrated_gradients": ExplainerInfo("integrated_gradients", "Integrated gradients", _ig),
    "saliency": ExplainerInfo("saliency", "Saliency", lambda m, *, input_size, black, **kw: Saliency(m, **kw)),
})
"""Every explainer by name (the ``Explanation.method`` it produces)."""


def list_explainers() -> list[str]:
    """The names :func:`make_explainer` accepts, sorted."""
    return sorted(EXPLAINERS)


def _lookup(name: str) -> ExplainerInfo:
    key = {info.label: n for n, info in EXPLAINERS.items()}.get(name, name)
    if key not in EXPLAINERS:
        raise ValueError(f"unknown explanation method {name!r}; valid: {list_explainers()}")
    return EXPLAINERS[key]


def explainer_applies(name: str, model: nn.Module) -> bool:
    """Whether the named explainer can run on ``model`` (CAM needs a GAP + linear head, SE maps SE blocks)."""
    info = _lookup(name)
    if info.needs_cam and not bool(getattr(model, "cam_able", False)):
        return False
    if info.needs_se:
        se_blocks = getattr(model, "se_blocks", None)
        return bool(se_blocks is not None and dict(se_blocks()))
    return True


def make_explainer(name: str, model: nn.Module, *, input_size: int | None = None,
                   black: Tensor | float | None = None, **params: Any) -> Explainer:
    """The explainer ``name`` (or its display label, e.g. ``"Grad-CAM"``) with the registry's defaults.

    Args:
        name: one of :func:`list_explainers` or an entry's ``label``.
        model: the network.
        input_size: the side the model is fed (default: ``model.input_spec.size``).
        black: a black pixel after normalisation (default: from ``model.input_spec``).
        params: overrides of the explainer's own arguments (``window=``, ``n_steps=``, ``layer=``...).

    Raises:
        ValueError: unknown name, or a method the model cannot do (CAM without a GAP head, SE maps
            without SE blocks).
    """
    info = _lookup(name)
    if not explainer_applies(info.name, model):
        need = "a global-average-pooling + linear head" if info.needs_cam else "SE blocks"
        raise ValueError(f"{info.name!r} needs {need}; {type(model).__name__} has none")
    spec = getattr(model, "input_spec", None)
    if input_size is None:
        if spec is None:
            raise ValueError(f"{type(model).__name__} has no input_spec; pass input_size")
        input_size = int(spec.size)
    if black is None:
        black = black_baseline(model)
    return info.build(model, input_size=int(input_size), black=black, **params)
