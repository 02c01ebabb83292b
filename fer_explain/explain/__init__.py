"""Explainers and explanation metrics.

Every explainer is called the same way and returns one :class:`Explanation`::

    from fer_explain.explain import GradCAM, metrics
    exp = GradCAM(model).attribute(x)              # target=None -> predicted class
    metrics.pointing_game(exp, evidence_masks)     # (N,) 1/0/NaN

==========================  ==========================================================
explainer                   method
==========================  ==========================================================
:class:`CAM`                class activation mapping (GAP + linear models)
:class:`GradCAM`            Grad-CAM in one forward + backward (equal to captum ``LayerGradCam``)
:class:`GradCAMPlusPlus`    Grad-CAM++ (matches pytorch-grad-cam)
:class:`SEMapExplainer`     channel-weighted SE-block map (seed 001); :func:`se_block_maps`
:class:`Occlusion`          captum ``Occlusion`` with automatic batching
:class:`SlidingOcclusion`   seed-004 occlusion: probability drop + prediction flips
:class:`CoarseToFineOcclusion`  approximate sliding occlusion: exact fine windows only where a coarse sweep peaks
:class:`RegionAblation`     face-region masking (captum ``FeatureAblation``); :func:`region_importance`
:class:`IntegratedGradients`, :class:`Saliency`   captum input-gradient methods
:func:`stn_attention`       Deep-Emotion's spatial-transformer grid and warped input
==========================  ==========================================================

All explainers run the model in eval mode with frozen parameters and restore every flag and
remove every hook afterwards (see :mod:`fer_explain.explain.base`).
"""

from fer_explain.explain import metrics
from fer_explain.explain.base import Explainer, Explanation, explaining, resolve_layer
from fer_explain.explain.cam import CAM
from fer_explain.explain.gradcam import GradCAM, GradCAMPlusPlus
from fer_explain.explain.gradients import IntegratedGradients, Saliency
from fer_explain.explain.occlusion import Occlusion, SlidingOcclusion, black_baseline
from fer_explain.explain.occlusion_coarse import CoarseToFineOcclusion
from fer_explain.explain.regions import (
    RegionAblation,
    RegionImportance,
    region_importance,
    region_importance_table,
)
from fer_explain.explain.registry import (
    EXPLAINERS,
    IG_STEPS,
    REGION_DEFAULTS,
    explainer_applies,
    list_explainers,
    make_explainer,
    occlusion_window,
)
from fer_explain.explain.se_maps import (
    SEBlockMaps,
    SEMapExplainer,
    se_block_maps,
    select_confident,
    select_misclassified,
)
from fer_explain.explain.stn import STNAttention, stn_attention

__all__ = [
    "CAM",
    "EXPLAINERS",
    "IG_STEPS",
    "REGION_DEFAULTS",
    "CoarseToFineOcclusion",
    "Explainer",
    "Explanation",
    "GradCAM",
    "GradCAMPlusPlus",
    "IntegratedGradients",
    "Occlusion",
    "RegionAblation",
    "RegionImportance",
    "SEBlockMaps",
    "SEMapExplainer",
    "STNAttention",
    "Saliency",
    "SlidingOcclusion",
    "black_baseline",
    "explainer_applies",
    "explaining",
    "list_explainers",
    "make_explainer",
    "metrics",
    "occlusion_window",
    "region_importance",
    "region_importance_table",
    "resolve_layer",
    "se_block_maps",
    "select_confident",
    "select_misclassified",
    "stn_attention",
]
