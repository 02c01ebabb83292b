"""Face-region contribution (seed 002, Tables 5-6 and Fig. 7) and left/right asymmetry (seed 001).

Two ways to ask "how much of the expression does a region carry":

* **one model per region** (seed 002's protocol, :func:`train_region_models`): every model is
  trained *and* tested on region-only inputs (the region's bounding box padded to a square, as in
  the paper, or cropped to a square -- Table 5's "non-padding" column), so a region's accuracy says
  how well the expression can be recognised from that region alone. :func:`compare_padding` runs
  both variants side by side (Table 5).
* **one whole-face model, masked inputs** (the cheap variant, :func:`evaluate_region_occlusion`):
  the model is evaluated on faces where only a region is kept (``mode="keep"``) or a region is
  removed (``mode="remove"``). No retraining, but masked faces are out of the training
  distribution, so accuracies are lower bounds.

Inputs are plain arrays: :class:`FaceArrays` holds ``images`` ``(N, C, H, W)`` float in ``[0, 1]``
(*before* any normalisation, so a removed pixel is black), ``landmarks`` ``(N, 68, 2)`` in those
images' pixel coordinates and integer ``labels``. :func:`face_arrays` builds one from a
:class:`~fer_explain.data.manifest.Manifest` (landmarks are mapped from the original image into the
decoded ``size x size`` face with :func:`dataset_landmarks`), a synthetic
:class:`~fer_explain.data.synthetic.SyntheticBatch`, or a ``(images, landmarks, labels)`` tuple.

Seed 002's protocol on FER+ (Section 3.1): the training set is FER's Training + PublicTest
splits, the test set is PrivateTest, samples without a > 50 % vote majority are dropped (the FER+
adapter's majority rule already does that) and contempt is ignored in the region experiments
(Section 4.2). :func:`seed002_protocol` does exactly that on a FER+ manifest.

Margins: at 48 x 48 a closed mouth can be thinner than a pixel, so its landmark hull may contain no
pixel centre at all and the region would be empty. Every function here therefore grows the region
hulls by ``margin="5%"`` of the face size by default (about 1.3 px on a FER2013 face); pass
``margin=0`` for the bare hulls.

The code lives in three modules, re-exported here: :mod:`~fer_explain.analysis.region_inputs`
(region-only inputs, :class:`FaceArrays`), :mod:`~fer_explain.analysis.region_training` (one model per
region) and :mod:`~fer_explain.analysis.region_masking` (one model, masked inputs); the figure is
:func:`fer_explain.viz.plot_region_contribution`.

Example::

    from fer_explain.analysis.regions import face_arrays, train_region_models
    from fer_explain.viz import plot_region_contribution
    train, test = face_arrays(train_manifest, size=48), face_arrays(test_manifest, size=48)
    table, confusions = train_region_models((train, test), variant="pad", model_name="deep_emotion",
                                            recipe=get_recipe("seed002", epochs=30))
    plot_region_contribution(table, chance=1 / 7)
"""

from __future__ import annotations

from fer_explain.analysis.region_inputs import (
    REGION_VARIANTS,
    SEED002_REGIONS,
    FaceArrays,
    RegionDataset,
    face_arrays,
    region_inputs,
)
from fer_explain.analysis.region_masking import evaluate_region_occlusion, left_right_asymmetry
from fer_explain.analysis.region_training import compare_padding, seed002_protocol, train_region_models
from fer_explain.faces.landmarks import dataset_landmarks
from fer_explain.faces.regions import DEFAULT_MARGIN
from fer_explain.viz.bars import plot_region_contribution

__all__ = [
    "DEFAULT_MARGIN",
    "REGION_VARIANTS",
    "SEED002_REGIONS",
    "FaceArrays",
    "RegionDataset",
    "compare_padding",
    "dataset_landmarks",
    "evaluate_region_occlusion",
    "face_arrays",
    "left_right_asymmetry",
    "plot_region_contribution",
    "region_inputs",
    "seed002_protocol",
    "train_region_models",
]
