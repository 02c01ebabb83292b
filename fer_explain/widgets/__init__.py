"""ipywidgets explorers: thin views over :mod:`fer_explain.explain`, :mod:`fer_explain.analysis`,
:mod:`fer_explain.faces` and :mod:`fer_explain.viz` (they hold no logic of their own).

* :class:`ExplanationExplorer` -- one face (a manifest row or an uploaded photo), a checkpoint, a
  method, a target class: the overlay, the probabilities, the attribution mass per face region,
  and region toggles that remove regions and re-predict live.
* :class:`ConfusionExplorer` -- the confusion matrix as clickable cells; a cell shows its faces with
  their Grad-CAM maps.

Both keep their controls as public attributes (set ``.value`` or call ``button.click()`` to drive
them from code or tests), their last results as ``last_*`` attributes, and their top-level
container as ``.widget``; a notebook displays them as they are::

    from fer_explain.widgets import ConfusionExplorer, ExplanationExplorer
    ExplanationExplorer(manifest, {"deep_emotion": shipped_checkpoint("synthetic/deep_emotion")})
"""

from fer_explain.widgets.common import (
    METHODS,
    FaceSource,
    LoadedModel,
    UploadedFace,
    available_methods,
    load_model,
    make_explainer,
)
from fer_explain.widgets.confusion import ConfusionExplorer
from fer_explain.widgets.explanation import PREDICTED, ExplanationExplorer

__all__ = [
    "METHODS",
    "PREDICTED",
    "ConfusionExplorer",
    "ExplanationExplorer",
    "FaceSource",
    "LoadedModel",
    "UploadedFace",
    "available_methods",
    "load_model",
    "make_explainer",
]
