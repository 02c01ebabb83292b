"""The model zoo: every architecture behind one interface (:class:`FERModel`) and one registry.

=================  ========  ==========================================  ==========  =========
name               seed      model                                       input       CAM-able
=================  ========  ==========================================  ==========  =========
``se_resnet18``    001       SE-ResNet-18 (11,267,143 params, 3ch/7cls)  3x224x224   yes
``resemotenet``    003       ResEmoteNet (80,238,599 params)             3x64x64     no
``deep_emotion``   004       Deep-Emotion CNN + spatial transformer      1x48x48     no
``vgg_fer``        002       VGG-style classifier                        1x64x64     ``head="gap"``
``densenet_bc``    002       DenseNet-BC visualisation model             1x64x64     yes
=================  ========  ==========================================  ==========  =========

Usage::

    from fer_explain.models import create_model, list_models
    model = create_model("se_resnet18", num_classes=7, in_chans=1, width=0.25, input_size=48)
    layer = model.gradcam_layer()            # >= 4x4 map at the native input size
    clone = create_model(**model.config)     # what checkpoints store
"""

from fer_explain.models import deep_emotion, densenet_bc, resemotenet, se_resnet, vgg_fer  # noqa: F401  (register)
from fer_explain.models.base import (
    MIN_CAM_MAP,
    FERModel,
    InputSpec,
    count_parameters,
    init_gaussian_,
    record_se_weights,
)
from fer_explain.models.deep_emotion import DeepEmotion
from fer_explain.models.densenet_bc import DenseNetBC
from fer_explain.models.layers import SqueezeExcite
from fer_explain.models.registry import create_model, get_model_class, list_models, register_model
from fer_explain.models.resemotenet import ResEmoteNet
from fer_explain.models.se_resnet import SEResNet18
from fer_explain.models.vgg_fer import VGGFER

__all__ = [
    "MIN_CAM_MAP",
    "VGGFER",
    "DeepEmotion",
    "DenseNetBC",
    "FERModel",
    "InputSpec",
    "ResEmoteNet",
    "SEResNet18",
    "SqueezeExcite",
    "count_parameters",
    "create_model",
    "get_model_class",
    "init_gaussian_",
    "list_models",
    "record_se_weights",
    "register_model",
]
