"""The vectorised face renderer: parameters -> pixels, exact 68-point landmarks and evidence masks.

How a face is drawn
-------------------
Every face lives in a *canonical frame* of 100 x 100 units (face centre near (50, 47)). Its features
are defined by a handful of curves whose parameters come from the identity and the action units; the
68 iBUG landmarks are points *on those same curves* (eye corners are the ends of the lid curves, lip
landmarks are points of the lip outline, jaw points lie on the head contour, ...).

Pixels are rendered at the target resolution by inverse mapping: each output pixel centre is mapped
through the inverse of the face's similarity transform (rotation, scale, translation) into the
canonical frame, where every feature is an implicit shape with an (approximate) signed distance
``d``. Coverage is ``clip(0.5 - d * pixels_per_unit, 0, 1)`` (a one-pixel anti-aliasing ramp; thin
lines use the exact 1-D box-filter coverage), and features are alpha-composited back to front. The
landmarks are mapped forward with the same transform, so they are exact for the face as drawn.

All per-pixel arithmetic uses only +, -, *, /, sqrt, min/max, clip and rint, which are correctly
rounded element by element: a face renders to the same bytes alone or inside any batch. Every
feature is evaluated on a small per-face pixel window around it (gathered as block copies, all
windows of a layer of one size), and exactly zero coverage leaves a pixel untouched, so the window
size, and so the batch, does not change the result.

Speed comes from rendering at the target resolution, vectorising over a batch of faces, these
per-feature windows, and drawing the class-independent parts of a face once for face and twin (see
:func:`render_batch`).

Evidence twin
-------------
Faces whose label-carrying AUs are non-zero get a *twin* row in the same batch: same identity, pose,
lighting, blur and occluder, with the label-carrying AUs turned off. The evidence mask is
``max_channel |face - twin| * 255 > evidence_threshold`` measured after lighting, blur and occluders
and before noise and quantisation: the noise field is identical for face and twin, so it cancels
exactly and is left out of the comparison (this also avoids clipping at 0/255 creating spurious
differences). The threshold (default 6 grey levels) removes anti-aliasing dust: sub-pixel shifts of
an edge that change a pixel by a few grey levels.

Modules
-------
One module per job, in drawing order where they draw:

* :mod:`.primitives`: signed distance -> anti-aliased coverage;
* :mod:`.canvas`: the images, each face's similarity transform, per-face pixel windows;
* :mod:`.identity`: identity traits from the identity uniforms (:class:`FaceIdentity`);
* :mod:`.geometry`: feature geometry after the action units (:class:`FaceGeometry`), shape profiles;
* :mod:`.landmarks`: the 68 landmarks on the drawn curves;
* :mod:`.background`, :mod:`.head`, :mod:`.cheeks`, :mod:`.nose`, :mod:`.mouth`, :mod:`.eyes`,
  :mod:`.brows`, :mod:`.accessories` (glasses, occluders): the features;
* :mod:`.lighting`: lighting, blur, noise and quantisation;
* :mod:`.pipeline`: :func:`render_batch`, the drawing order and the evidence twins.
"""

from fer_explain.data.synthetic.render.canvas import CANONICAL_SIZE
from fer_explain.data.synthetic.render.geometry import ActionUnits, FaceGeometry, face_geometry
from fer_explain.data.synthetic.render.identity import (
    HAIR_NAMES,
    HAIR_PALETTE,
    HAIR_STYLES,
    IRIS_PALETTE,
    SKIN_DARK,
    SKIN_LIGHT,
    FaceIdentity,
    face_identity,
)
from fer_explain.data.synthetic.render.landmarks import FEATURES, LANDMARK_FEATURE, canonical_landmarks
from fer_explain.data.synthetic.render.pipeline import AU_LAYERS, RenderOutput, render_batch
from fer_explain.data.synthetic.version import RENDERER_VERSION

__all__ = [
    "AU_LAYERS",
    "CANONICAL_SIZE",
    "FEATURES",
    "HAIR_NAMES",
    "HAIR_PALETTE",
    "HAIR_STYLES",
    "IRIS_PALETTE",
    "LANDMARK_FEATURE",
    "RENDERER_VERSION",
    "SKIN_DARK",
    "SKIN_LIGHT",
    "ActionUnits",
    "FaceGeometry",
    "FaceIdentity",
    "RenderOutput",
    "canonical_landmarks",
    "face_geometry",
    "face_identity",
    "render_batch",
]
