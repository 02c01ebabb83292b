"""Procedural FACS faces: the toolkit's built-in dataset, with exact landmarks and ground-truth evidence.

No file is needed: every face is drawn from primitives at the requested resolution from its
identity, its action units (with intensities) and a class-independent nuisance (pose, lighting, blur,
noise, occluders). Each face comes with

* its 68 iBUG landmarks, exact for the face as drawn (features are drawn *from* the landmark curves),
* an evidence mask: where it differs from its twin without the label-carrying AUs,
* its AU intensities, identity parameters and label.

Quick start::

    from fer_explain.data.synthetic import SyntheticFaceConfig, generate, SyntheticFaceDataset
    batch = generate(SyntheticFaceConfig(n=700, size=48))          # arrays
    ds = SyntheticFaceDataset(SyntheticFaceConfig(n=2100))          # torch Dataset, no files
    manifest = default_synthetic_manifest()                         # the cached default set on disk

Known-answer variants: ``evidence_regions=("mouth",)`` makes the mouth the only carrier of the label
(the other regions show decoy AUs drawn the same way for every class); ``class_proportions`` and
``label_noise`` reproduce imbalance and noisy labels.
"""

from fer_explain.data.synthetic.aus import (
    AU_CHANNELS,
    AU_NUMBERS,
    AU_REGION,
    PROTOTYPES,
    REGIONS,
    colliding_classes,
    prototype_vector,
)
from fer_explain.data.synthetic.config import (
    CLASS_PROPORTION_PRESETS,
    NUISANCE_PRESETS,
    Nuisance,
    SyntheticFaceConfig,
)
from fer_explain.data.synthetic.dataset import SyntheticFaceDataset
from fer_explain.data.synthetic.generate import (
    AU_COLUMNS,
    FaceSample,
    SyntheticBatch,
    dilate_mask,
    generate,
    render_face,
    render_faces,
)
from fer_explain.data.synthetic.params import FaceParams, sample_params
from fer_explain.data.synthetic.render import FEATURES, LANDMARK_FEATURE
from fer_explain.data.synthetic.version import RENDERER_VERSION
from fer_explain.data.synthetic.writer import default_synthetic_manifest, synthetic_cache_dir, write_synthetic

__all__ = [
    "AU_CHANNELS",
    "AU_COLUMNS",
    "AU_NUMBERS",
    "AU_REGION",
    "CLASS_PROPORTION_PRESETS",
    "FEATURES",
    "LANDMARK_FEATURE",
    "NUISANCE_PRESETS",
    "PROTOTYPES",
    "REGIONS",
    "RENDERER_VERSION",
    "FaceParams",
    "FaceSample",
    "Nuisance",
    "SyntheticBatch",
    "SyntheticFaceConfig",
    "SyntheticFaceDataset",
    "colliding_classes",
    "default_synthetic_manifest",
    "dilate_mask",
    "generate",
    "prototype_vector",
    "render_face",
    "render_faces",
    "sample_params",
    "synthetic_cache_dir",
    "write_synthetic",
]
