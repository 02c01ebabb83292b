"""The explanation explorer: one face, one model, one method; live region masking.

::

    from fer_explain.widgets import ExplanationExplorer
    ex = ExplanationExplorer(manifest, {"deep_emotion": "checkpoints/synthetic/deep_emotion"})
    ex                      # in a notebook: the controls, the overlay, the probabilities, the region table
    ex.method.value = "Occlusion"; ex.window.value = 12
    ex.last_explanation.params      # {'window': 12, 'stride': 4, ...}
    ex.region_toggles["mouth"].value = True
    ex.last_probs                   # the model's softmax on the face with the mouth removed

Every control is a public ipywidget; changing one calls :meth:`ExplanationExplorer.compute`, which

1. takes the face: a manifest row (``sample`` slider) through ``FaceDataset`` at the model's input
   size, or an uploaded photo (``upload``) whose largest face dlib finds
   (:func:`fer_explain.faces.detect_landmarks`) and which is cropped to its box and resized;
2. removes the toggled regions (:func:`fer_explain.faces.remove_region` on the ``[0, 1]`` pixels,
   so a removed region is black with the default ``baseline="zero"``);
3. runs the chosen explainer of :mod:`fer_explain.explain` on the normalised face;
4. shows the face, the overlay (:func:`fer_explain.viz.overlay`, seed 002's blend), the
   probabilities, and, when the face has landmarks, the share of the positive attribution in
   each region (:func:`fer_explain.explain.metrics.region_mass`).
"""

from __future__ import annotations

import contextlib
import html
import os
from collections.abc import Iterator, Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from torch import Tensor

from fer_explain.data.dataset import FaceDataset
from fer_explain.data.manifest import Manifest
from fer_explain.explain import IG_STEPS, REGION_DEFAULTS, Explanation, metrics, occlusion_window
from fer_explain.faces.regions import Margin, list_regions, region_masks, remove_region
from fer_explain.viz import overlay
from fer_explain.widgets.common import (
    METHODS,
    FaceSource,
    LoadedModel,
    ModelSource,
    NotebookDisplay,
    UploadedFace,
    available_methods,
    load_model,
    make_explainer,
    rgb_png,
)

__all__ = ["PREDICTED", "ExplanationExplorer"]

PREDICTED = -1
"""Value of the ``target`` dropdown's "predicted" entry (explain the predicted class)."""

DEFAULT_REGIONS: tuple[str, ...] = ("eyes", "nose", "mouth")


def _shipped() -> dict[str, ModelSource]:
    from fer_explain.train import checkpoints_dir, list_shipped, shipped_checkpoint

    names = list_shipped()
    if not names:
        raise FileNotFoundError(
            f"no shipped checkpoints under {checkpoints_dir()} (set FER_EXPLAIN_CHECKPOINTS or pass "
            "checkpoints={name: path})"
        )
    return {name: shipped_checkpoint(name) for name in names}


class ExplanationExplorer(NotebookDisplay):
    """Explore one face's explanation across checkpoints, methods, target classes and masked regions.

    Args:
        data: a :class:`~fer_explain.data.manifest.Manifest` or ``FaceDataset`` to pick faces from;
            ``None`` = the test split of the default synthetic set.
        checkpoints: name -> checkpoint path, model, or ``(model, meta)``; ``None`` = every shipped
            checkpoint (:func:`fer_explain.train.list_shipped`).
        split: keep only this split of ``data``.
        regions: the regions of the region-mass table and of the masking toggles.
        region_margin: how far region hulls grow (pixels, or ``"5%"`` of the face size), for the
            table and the masking alike.
        baseline: what a removed region becomes (see :func:`fer_explain.faces.regions.baseline_like`).
        crop_margin: face-box margin when cropping faces (manifest rows with a box, uploads).
        upload_upsample: dlib's upsampling when detecting the face in an uploaded photo.
        ig_steps: integrated-gradients steps.
        image_scale: how many times the faces are enlarged on screen.

    Attributes:
        sample, input_source, upload, checkpoint, method, target, window, stride, region_toggles:
            the controls (``region_toggles`` maps region name -> ``ToggleButton``).
        last_explanation: the :class:`~fer_explain.explain.Explanation` of the last update.
        last_probs: ``(K,)`` the model's softmax on the (masked) face of the last update.
        last_input: ``(C, H, W)`` the ``[0, 1]`` face the model saw (after masking).
        last_landmarks: ``(68, 2)`` landmarks of that face, or ``None``.
        last_region_table: DataFrame indexed by region, column ``mass``; ``None`` without landmarks.
        last_error: the exception of the last update, or ``None`` when it succeeded.
        uploaded: the last :class:`~fer_explain.widgets.common.UploadedFace`, or ``None``.
        widget: the top-level container.
    """

    def __init__(
        self,
        data: Manifest | FaceDataset | None = None,
        checkpoints: Mapping[str, ModelSource] | None = None,
        *,
        split: str | None = None,
        regions: tuple[str, ...] | list[str] = DEFAULT_REGIONS,
        region_margin: Margin = REGION_DEFAULTS["margin"],
        baseline: str | float = "zero",
        crop_margin: float = 0.1,
        upload_upsample: int = 1,
        ig_steps: int = IG_STEPS,
        image_scale: int = 4,
    ) -> None:
        valid = list_regions()
        bad = [r for r in regions if r not in valid]
        if bad:
            raise ValueError(f"unknown region(s) {bad}; valid: {valid}")
        self.faces = FaceSource(data, split=split, crop_margin=crop_margin)
        self._sources: dict[str, ModelSource] = dict(checkpoints) if checkpoints is not None else _shipped()
        if not self._sources:
            raise ValueError("checkpoints is empty: pass at least one {name: path or model}")
        for key, value in self._sources.items():
            if isinstance(value, (str, os.PathLike)):
                from fer_explain.train import checkpoint_paths

                weights, meta = checkpoint_paths(value)
                if not (weights.is_file() and meta.is_file()):
                    raise FileNotFoundError(f"checkpoint {key!r}: {weights} / {meta} not found")
        self._models: dict[str, LoadedModel] = {}
        self.regions = tuple(regions)
        self.region_margin = region_margin
        self.baseline = baseline
        self.upload_upsample = int(upload_upsample)
        self.ig_steps = int(ig_steps)
        self.image_scale = int(image_scale)
        self._holding = False

        self.last_explanation: Explanation | None = None
        self.last_probs: Tensor | None = None
        self.last_input: Tensor | None = None
        self.last_landmarks: np.ndarray | None = None
        self.last_region_table: pd.DataFrame | None = None
        self.last_error: Exception | None = None
        self.uploaded: UploadedFace | None = None

        # controls
        style = {"description_width": "initial"}
        self.input_source = widgets.ToggleButtons(options=["dataset", "upload"], value="dataset",
                                                  description="face", style=style)
        self.sample = widgets.IntSlider(value=0, min=0, max=len(self.faces) - 1, description="sample",
                                        continuous_update=False, style=style)
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload photo")
        names = list(self._sources)
        self.checkpoint = widgets.Dropdown(options=names, value=names[0], description="checkpoint", style=style)
        first = self.model()
        self.method = widgets.Dropdown(options=available_methods(first), value="Grad-CAM", description="method",
                                       style=style)
        self.target = widgets.Dropdown(options=self._target_options(first), value=PREDICTED,
                                       description="target", style=style)
        window, stride = occlusion_window(first.size)  # the registry's defaults at this model's input
        self.window = widgets.IntSlider(value=window, min=2, max=32, description="occlusion window",
                                        continuous_update=False, style=style)
        self.stride = widgets.IntSlider(value=stride, min=1, max=window, description="stride",
                                        continuous_update=False, style=style)
        self.region_toggles: dict[str, widgets.ToggleButton] = {
            r: widgets.ToggleButton(value=False, description=r, tooltip=f"remove the {r} region")
            for r in self.regions
        }

        # outputs
        self.sample_label = widgets.HTML()
        self.input_image = widgets.Image(format="png")
        self.overlay_image = widgets.Image(format="png")
        self.caption = widgets.HTML()
        self.probs_box = widgets.VBox()
        self.prob_bars: dict[str, widgets.FloatProgress] = {}
        self._prob_texts: dict[str, widgets.Label] = {}
        self._build_prob_bars(first.classes)
        self.region_html = widgets.HTML()
        self.status = widgets.HTML()
        for w, cls in ((self.input_image, "fer-input-image"), (self.overlay_image, "fer-overlay-image"),
                       (self.caption, "fer-caption"), (self.probs_box, "fer-probs"),
                       (self.region_html, "fer-region-table"), (self.status, "fer-status")):
            w.add_class(cls)

        for control in (self.input_source, self.sample, self.method, self.target, self.stride,
                        *self.region_toggles.values()):
            control.observe(self._on_change, names="value")
        self.window.observe(self._on_window, names="value")
        self.checkpoint.observe(self._on_checkpoint, names="value")
        self.upload.observe(self._on_upload, names="value")

        column = widgets.Layout(align_items="center", margin="0 12px 0 0")
        self.widget = widgets.VBox([
            widgets.HBox([self.input_source, self.sample, self.upload]),
            self.sample_label,
            widgets.HBox([self.checkpoint, self.method, self.target]),
            widgets.HBox([self.window, self.stride]),
            widgets.HBox([widgets.Label("remove regions:"), *self.region_toggles.values()]),
            widgets.HBox([
                widgets.VBox([widgets.HTML("<b>model input</b>"), self.input_image], layout=column),
                widgets.VBox([widgets.HTML("<b>explanation</b>"), self.overlay_image, self.caption], layout=column),
                widgets.VBox([widgets.HTML("<b>probabilities</b>"), self.probs_box], layout=column),
                widgets.VBox([widgets.HTML("<b>attribution mass per region</b>"), self.region_html], layout=column),
            ]),
            self.status,
        ])
        self.widget.add_class("fer-explanation-explorer")
        self._update()

    # ------------------------------------------------------------------ models and inputs
    def model(self, name: str | None = None) -> LoadedModel:
        """The :class:`~fer_explain.widgets.common.LoadedModel` of a checkpoint (default: the selected one)."""
        key = self.checkpoint.value if name is None else name
        if key not in self._sources:
            raise KeyError(f"unknown checkpoint {key!r}; valid: {list(self._sources)}")
        if key not in self._models:
            self._models[key] = load_model(self._sources[key], name=key)
        return self._models[key]

    def load_image_bytes(self, content: bytes, name: str = "upload") -> UploadedFace:
        """Use a photo (the bytes of a PNG/JPEG file) as the face: detect it, switch to it and update."""
        self.uploaded = UploadedFace.from_bytes(content, name=name, upsample=self.upload_upsample)
        with self._hold():
            self.input_source.value = "upload"
        self._update()
        return self.uploaded

    def current_input(self) -> tuple[Tensor, np.ndarray | None]:
        """The selected face at the model's input: ``(C, H, W)`` pixels in ``[0, 1]`` and its
        landmarks ``(68, 2)`` (``None`` when the row has none), before any region is removed."""
        loaded = self.model()
        if self.input_source.value == "upload":
            if self.uploaded is None:
                raise ValueError("no photo uploaded yet: use the upload button (or load_image_bytes)")
            return self.uploaded.face(loaded.input, self.faces.crop_margin)
        row = int(self.sample.value)
        return self.faces.images([row], loaded.input)[0], self.faces.landmarks(row, loaded.input)

    def masked_input(self) -> tuple[Tensor, np.ndarray | None]:
        """:meth:`current_input` with every toggled region removed (``remove_region`` on ``[0, 1]`` pixels)."""
        x01, lm = self.current_input()
        toggled = [r for r, t in self.region_toggles.items() if t.value]
        if not toggled:
            return x01, lm
        if lm is None:
            raise ValueError(f"cannot remove {toggled}: this face has no landmarks")
        x = x01[None]
        for region in toggled:
            x, _ = remove_region(x, lm[None], region, baseline=self.baseline, margin=self.region_margin)
        return x[0], lm

    # ------------------------------------------------------------------ the update
    def compute(self) -> Explanation:
        """Explain the current face with the current settings and refresh every output.

        Raises whatever the package raises (an unknown region, a model that is not CAM-able...);
        the observers catch it and show it in :attr:`status` instead.
        """
        loaded = self.model()
        x01, lm = self.masked_input()
        key = METHODS.get(self.method.value, self.method.value)
        params: dict[str, Any] = {}
        if key == "occlusion":
            params = {"window": self.window.value, "stride": self.stride.value}
        elif key == "integrated_gradients":
            params = {"n_steps": self.ig_steps}
        explainer = make_explainer(key, loaded, **params)
        target = None if self.target.value == PREDICTED else int(self.target.value)
        exp = explainer.attribute(loaded.normalize(x01[None]).to(loaded.device), target=target)
        table = None
        if lm is not None:
            size = tuple(exp.maps.shape[-2:])
            masks = {r: region_masks(lm[None], r, size, margin=self.region_margin) for r in self.regions}
            table = metrics.region_mass(exp, masks).T.rename(columns={0: "mass"})
            table.index.name = "region"
        self.last_explanation, self.last_probs, self.last_input = exp, exp.probs[0], x01
        self.last_landmarks, self.last_region_table = lm, table
        self._show(loaded, exp, x01, lm, table)
        return exp

    def _show(self, loaded: LoadedModel, exp: Explanation, x01: Tensor, lm: np.ndarray | None,
              table: pd.DataFrame | None) -> None:
        image = x01.permute(1, 2, 0).numpy()
        self.input_image.value = rgb_png(image, self.image_scale)
        self.overlay_image.value = rgb_png(overlay(image, exp.maps[0].numpy()), self.image_scale)
        pred = int(exp.predictions[0])
        tgt = int(exp.targets[0])
        self.caption.value = (f"{html.escape(self.method.value)} of <b>{html.escape(loaded.classes[tgt])}</b><br>"
                              f"predicted {html.escape(loaded.classes[pred])} ({float(exp.probs[0, pred]):.2f})")
        for k, name in enumerate(loaded.classes):
            p = float(exp.probs[0, k])
            self.prob_bars[name].value = p
            self.prob_bars[name].bar_style = "success" if k == pred else "info"
            self._prob_texts[name].value = f"{p:.3f}"
        if table is None:
            self.region_html.value = "<i>no landmarks for this face</i>"
        else:
            self.region_html.value = table.rename_axis(None).to_html(float_format=lambda v: f"{v:.3f}", na_rep="n/a")
        if self.input_source.value == "upload" and self.uploaded is not None:
            res = self.uploaded.landmarks
            how = ("face detected by dlib" if res.source == "detected"
                   else "no face detected: landmarks predicted on the whole photo")
            self.sample_label.value = f"{html.escape(self.uploaded.name)}: {how}, box (x, y, w, h) = {res.box}"
        else:
            self.sample_label.value = html.escape(self.faces.describe(int(self.sample.value)))

    def _update(self) -> None:
        try:
            self.compute()
        except Exception as exc:  # noqa: BLE001 - shown in the widget; the controls stay usable
            self.last_error = exc
            self.status.value = f"<span style='color:#b00'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</span>"
        else:
            self.last_error = None
            self.status.value = ""

    # ------------------------------------------------------------------ observers
    @contextlib.contextmanager
    def _hold(self) -> Iterator[None]:
        """Change several controls without an update per change."""
        holding, self._holding = self._holding, True
        try:
            yield
        finally:
            self._holding = holding

    def _on_change(self, change: Mapping[str, Any]) -> None:
        if not self._holding:
            self._update()

    def _on_window(self, change: Mapping[str, Any]) -> None:
        # a stride above the window would leave pixels never occluded (Occlusion refuses it)
        with self._hold():
            self.stride.max = int(change["new"])
        if not self._holding:
            self._update()

    def _on_checkpoint(self, change: Mapping[str, Any]) -> None:
        try:
            loaded = self.model()
        except Exception as exc:  # noqa: BLE001 - shown in the widget (an observer must not raise)
            self.last_error = exc
            self.status.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return
        with self._hold():
            methods = available_methods(loaded)
            current = self.method.value
            self.method.options = methods
            self.method.value = current if current in methods else methods[0]
            target_name = None if self.target.value == PREDICTED else self.target.label
            self.target.options = self._target_options(loaded)
            self.target.value = (loaded.classes.index(target_name) if target_name in loaded.classes
                                 else PREDICTED)
            self._build_prob_bars(loaded.classes)
        if not self._holding:
            self._update()

    def _on_upload(self, change: Mapping[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        entry = files[-1]
        try:
            self.load_image_bytes(bytes(entry["content"]), name=str(entry.get("name", "upload")))
        except Exception as exc:  # noqa: BLE001 - shown in the widget (an observer must not raise)
            self.last_error = exc
            self.status.value = f"<span style='color:#b00'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</span>"

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _target_options(loaded: LoadedModel) -> list[tuple[str, int]]:
        return [("predicted", PREDICTED), *((name, k) for k, name in enumerate(loaded.classes))]

    def _build_prob_bars(self, classes: tuple[str, ...]) -> None:
        self.prob_bars = {c: widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description=c,
                                                   style={"description_width": "80px"})
                          for c in classes}
        self._prob_texts = {c: widgets.Label("") for c in classes}
        self.probs_box.children = [widgets.HBox([self.prob_bars[c], self._prob_texts[c]]) for c in classes]

    def probabilities(self) -> pd.Series:
        """:attr:`last_probs` as a Series indexed by class name."""
        if self.last_probs is None:
            raise ValueError("nothing computed yet")
        return pd.Series(self.last_probs.numpy(), index=list(self.model().classes), name="probability")

    def __repr__(self) -> str:
        return (f"ExplanationExplorer({len(self.faces)} faces, checkpoints={list(self._sources)}, "
                f"method={self.method.value!r})")

