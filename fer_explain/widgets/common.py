"""What both explorers share: a loaded model with its input, the faces of a manifest in a
model's evaluation view, the explanation methods by display name, and PNG encoding for Image widgets.

Nothing here computes an explanation, a metric or a figure of its own, nor decides a checkpoint's input:
models come from :func:`fer_explain.train.load_checkpoint`, their input (size, channels, mean/std and
evaluation view) from :class:`fer_explain.train.inputs.CheckpointInput` (the one place that decides it),
faces from :class:`fer_explain.data.FaceDataset`, landmarks from
:func:`fer_explain.faces.dataset_landmarks` (dataset faces) or :func:`fer_explain.faces.detect_landmarks`
(uploaded photos), explainers and their defaults from :func:`fer_explain.explain.make_explainer`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from fer_explain.data.dataset import FaceDataset
from fer_explain.data.manifest import Manifest
from fer_explain.explain import EXPLAINERS, Explainer, explainer_applies
from fer_explain.explain import make_explainer as _registry_explainer
from fer_explain.explain.base import model_device
from fer_explain.faces.crop import crop_detection
from fer_explain.faces.landmarks import LandmarkResult, dataset_landmarks, detect_landmarks
from fer_explain.labels import get_label_space
from fer_explain.train.inputs import CheckpointInput

__all__ = [
    "METHODS",
    "FaceSource",
    "LoadedModel",
    "UploadedFace",
    "available_methods",
    "figure_png",
    "load_model",
    "make_explainer",
    "rgb_png",
]

ModelSource = str | os.PathLike[str] | nn.Module | tuple[nn.Module, Mapping[str, Any]]
"""A checkpoint path (``<name>``, ``<name>.safetensors`` or ``<name>.json``), a fer_explain model, or a
``(model, meta)`` pair as returned by :func:`fer_explain.train.load_checkpoint`."""


# --------------------------------------------------------------------------- models
@dataclass
class LoadedModel:
    """A model in eval mode with what it takes to feed it: the class order and its input.

    Attributes:
        name: how the explorers show it (the checkpoint's key or path).
        model: the network (eval mode).
        classes: its output classes, in order.
        input: size, channels, mean/std and evaluation view (:class:`CheckpointInput`).
        meta: the checkpoint's metadata, when it came from a checkpoint.
    """

    name: str
    model: nn.Module
    classes: tuple[str, ...]
    input: CheckpointInput
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.input.size

    @property
    def channels(self) -> int:
        return self.input.channels

    @property
    def cam_able(self) -> bool:
        """Whether classic CAM applies (GAP followed by one linear layer)."""
        return bool(getattr(self.model, "cam_able", False))

    @property
    def device(self) -> torch.device:
        return model_device(self.model)

    def normalize(self, x01: Tensor) -> Tensor:
        """``(N, C, H, W)`` pixels in ``[0, 1]`` (already in the view) -> the model's normalised input."""
        return self.input.standardize(x01)

    def explainer(self, method: str, **params: Any) -> Explainer:
        """The registry's explainer for a display name or method key, at this model's input."""
        return _registry_explainer(method, self.model, input_size=self.input.size, black=self.input.black(),
                                   **params)

    @torch.no_grad()
    def predict(self, x01: Tensor) -> Tensor:
        """Softmax probabilities ``(N, K)`` of the model on ``[0, 1]`` pixels (on the CPU)."""
        was_training = self.model.training
        self.model.eval()
        try:
            logits = self.model(self.normalize(x01).to(self.device))
        finally:
            self.model.train(was_training)
        return logits.float().softmax(dim=1).cpu()


def _classes_from(model: nn.Module, meta: Mapping[str, Any], classes: Any, name: str) -> tuple[str, ...]:
    if classes is not None:
        return get_label_space(classes).classes
    if meta.get("classes"):
        return tuple(str(c) for c in meta["classes"])
    space = getattr(model, "label_space", None)
    if space is not None:
        return get_label_space(space).classes
    n_out = getattr(getattr(model, "classifier", None), "out_features", None)
    if n_out in (7, 8):
        return get_label_space("basic7" if n_out == 7 else "basic8").classes
    raise ValueError(f"model {name!r}: cannot tell its output classes (no checkpoint metadata, no label_space, "
                     f"{n_out} outputs); pass classes=")


def load_model(source: ModelSource, name: str | None = None, classes: Any = None) -> LoadedModel:
    """A :class:`LoadedModel` from a checkpoint path, a fer_explain model or a ``(model, meta)`` pair.

    The input is :meth:`CheckpointInput.from_checkpoint` (a bare model: its ``input_spec``, the face as it is).
    """
    meta: dict[str, Any] = {}
    if isinstance(source, (str, os.PathLike)):
        from fer_explain.train import load_checkpoint

        model, meta = load_checkpoint(source)
        name = name or str(source)
    elif isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], nn.Module):
        model, meta = source[0], dict(source[1] or {})
    elif isinstance(source, nn.Module):
        model = source
    else:
        raise TypeError(f"a model source must be a checkpoint path, an nn.Module or (model, meta), "
                        f"got {type(source).__name__}")
    name = name or type(model).__name__
    inp = CheckpointInput.from_checkpoint({**meta, "path": name} if meta else None, model) if meta \
        else CheckpointInput.from_model(model)
    model.eval()
    return LoadedModel(name=name, model=model, classes=_classes_from(model, meta, classes, name), input=inp,
                       meta=dict(meta))


# --------------------------------------------------------------------------- methods
METHODS: Mapping[str, str] = {EXPLAINERS[k].label: k for k in
                              ("gradcam", "gradcam++", "cam", "occlusion", "integrated_gradients", "saliency")}
"""Display name -> the registry name (``Explanation.method``) of the explainers the explorers offer."""


def available_methods(loaded: LoadedModel) -> list[str]:
    """The display names of :data:`METHODS` that apply to a model (CAM only for CAM-able models)."""
    return [label for label, key in METHODS.items() if explainer_applies(key, loaded.model)]


def make_explainer(method: str, loaded: LoadedModel, **params: Any) -> Explainer:
    """The registry's explainer (:func:`fer_explain.explain.make_explainer`) for a display name of
    :data:`METHODS` (or its key) at ``loaded``'s input; ``params`` override the registry's defaults."""
    return loaded.explainer(METHODS.get(method, method), **params)


# --------------------------------------------------------------------------- faces
class FaceSource:
    """The faces of a manifest as ``[0, 1]`` tensors at any model's input size, with their landmarks.

    One :class:`~fer_explain.data.FaceDataset` (no normalisation) is kept per ``(size, channels)``,
    and the landmarks mapped into its faces (:func:`~fer_explain.analysis.regions.dataset_landmarks`)
    per size.

    Args:
        data: a :class:`~fer_explain.data.manifest.Manifest` or a ``FaceDataset`` (its manifest and
            ``crop_margin`` are used; the size follows the model); ``None`` = the test split of the
            default synthetic set.
        split: keep only these rows' split (``None`` keeps every row).
        crop_margin: face-box margin, as in ``FaceDataset`` (a dataset's own value wins).
    """

    def __init__(self, data: Manifest | FaceDataset | None = None, split: str | None = None,
                 crop_margin: float = 0.1) -> None:
        if data is None:
            from fer_explain.data.synthetic import default_synthetic_manifest

            data = default_synthetic_manifest()
            split = "test" if split is None else split
        if isinstance(data, FaceDataset):
            crop_margin = data.crop_margin
            data = data.manifest
        if not isinstance(data, Manifest):
            raise TypeError(f"data must be a Manifest, a FaceDataset or None, got {type(data).__name__}")
        if split is not None:
            data = data.select(split=split)
        if len(data) == 0:
            raise ValueError(f"manifest {data.name or '(unnamed)'!r} has no rows for split={split!r}")
        self.manifest = data
        self.crop_margin = float(crop_margin)
        self._datasets: dict[tuple[int, int], FaceDataset] = {}
        self._landmarks: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.manifest)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.manifest.classes)

    @property
    def labels(self) -> np.ndarray:
        """``(N,)`` label indices in the manifest's label space."""
        return self.manifest.label_indices()

    def dataset(self, inp: CheckpointInput, normalized: bool = False) -> FaceDataset:
        """A ``FaceDataset`` of the faces in ``inp``'s view (``[0, 1]`` unless ``normalized``; cached when not)."""
        if normalized:
            return inp.dataset(self.manifest, crop_margin=self.crop_margin)
        key = (inp.size, inp.channels)
        if key not in self._datasets:
            self._datasets[key] = FaceDataset(self.manifest, size=inp.size, channels=inp.channels,
                                              crop_margin=self.crop_margin, progress=False)
        return self._datasets[key]

    def images(self, rows: Any, inp: CheckpointInput) -> Tensor:
        """``(N, C, H, W)`` float pixels in ``[0, 1]`` of the given rows, in ``inp``'s evaluation view."""
        ds = self.dataset(inp)
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        faces = torch.stack([torch.from_numpy(ds.pixels(int(i))).float().div(255.0) for i in rows])
        return inp.in_view(faces)

    def landmarks(self, row: int, inp: CheckpointInput) -> np.ndarray | None:
        """``(68, 2)`` landmarks of a row in ``inp``'s face (view included), or ``None`` when it has none."""
        if inp.size not in self._landmarks:
            self._landmarks[inp.size] = dataset_landmarks(self.manifest, inp.size, crop_margin=self.crop_margin)
        lm = self._landmarks[inp.size][int(row)]
        return inp.map_points(lm) if np.isfinite(lm).all() else None

    def describe(self, row: int) -> str:
        """``"<image> (<split>, true <label>)"`` for a row."""
        df = self.manifest.df
        return f"{df['image'].iat[int(row)]} ({df['split'].iat[int(row)]}, true {df['label'].iat[int(row)]})"


class NotebookDisplay:
    """Shows an explorer's ``widget`` (its root ipywidget) when the explorer is displayed in a notebook."""

    widget: Any

    def display(self) -> None:
        """Show the explorer in a notebook."""
        from IPython.display import display

        display(self.widget)

    def _ipython_display_(self) -> None:
        self.display()


@dataclass(frozen=True)
class UploadedFace:
    """A photo, the face dlib found in it, and that face cropped to a model's input.

    Attributes:
        image: the photo, uint8 ``(H, W, 3)``.
        landmarks: the :class:`~fer_explain.faces.LandmarkResult` of :func:`detect_landmarks`
            (``source`` is ``"detected"`` or ``"fallback"`` when no face was found).
        name: the file name.
    """

    image: np.ndarray
    landmarks: LandmarkResult
    name: str = "upload"

    @classmethod
    def from_bytes(cls, content: bytes, name: str = "upload", upsample: int = 1) -> UploadedFace:
        """Decode an image file's bytes (PNG, JPEG, ...) and detect its largest face."""
        try:
            pil = Image.open(io.BytesIO(bytes(content)))
            image = np.asarray(pil.convert("RGB"))
        except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for undecodable data
            raise ValueError(f"{name}: cannot decode the uploaded file as an image ({exc})") from None
        return cls(image=image, landmarks=detect_landmarks(image, upsample=upsample, name=name), name=name)

    def face(self, inp: CheckpointInput, crop_margin: float = 0.1) -> tuple[Tensor, np.ndarray]:
        """The face box (grown by ``crop_margin`` per side, as ``FaceDataset`` does) resized to ``inp.size``
        and seen through ``inp``'s evaluation view: ``(C, size, size)`` pixels in ``[0, 1]`` and the
        landmarks ``(68, 2)`` in that face's pixels (:func:`fer_explain.faces.crop_detection`, ``square=False``)."""
        crop = crop_detection(self.image, self.landmarks, size=inp.size, channels=inp.channels, margin=crop_margin,
                              square=False)
        arr = crop.image[None] if crop.image.ndim == 2 else crop.image.transpose(2, 0, 1)
        face = torch.from_numpy(np.array(arr, dtype=np.float32)).div(255.0)
        return inp.in_view(face[None])[0], inp.map_points(crop.landmarks)


# --------------------------------------------------------------------------- display
def rgb_png(image: Any, scale: int = 4) -> bytes:
    """PNG bytes of an ``(H, W)``/``(H, W, 3)`` float ``[0, 1]`` or uint8 image, enlarged ``scale`` x (nearest)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    pil = Image.fromarray(np.ascontiguousarray(arr))
    if scale != 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="png")
    return buf.getvalue()


def figure_png(fig: Any, dpi: int = 80) -> bytes:
    """PNG bytes of a matplotlib Figure, which is then closed (so pyplot does not keep it)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()
