"""The confusion explorer: a clickable confusion matrix; a cell shows its faces with Grad-CAM.

::

    from fer_explain.widgets import ConfusionExplorer
    cx = ConfusionExplorer("checkpoints/synthetic/deep_emotion", manifest)
    cx                               # in a notebook: the matrix as buttons, the samples below
    cx.cell_buttons[(0, 2)].click()  # true anger, predicted fear
    cx.last_cell_indices             # every face of that cell (positions in cx.faces.manifest)

The predictions come from :func:`fer_explain.train.evaluate` (so a model whose label space differs
from the data's is projected onto the data's classes, as everywhere else), the confusion matrix is
its ``confusion`` (rows: true class, columns: predicted), each cell's faces are explained with
:class:`fer_explain.explain.GradCAM` for the predicted class and drawn with
:func:`fer_explain.viz.explanation_grid`.

A matplotlib heatmap is not clickable, so the matrix is a grid of ``ipywidgets.Button``: the label
is the count, the colour the cell's share of its row (the row-normalised confusion matrix).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

from fer_explain.confusion import normalize_rows
from fer_explain.data.dataset import FaceDataset
from fer_explain.data.manifest import Manifest
from fer_explain.explain import Explanation, GradCAM
from fer_explain.viz import explanation_grid
from fer_explain.widgets.common import FaceSource, ModelSource, NotebookDisplay, figure_png, load_model

__all__ = ["ConfusionExplorer"]


class ConfusionExplorer(NotebookDisplay):
    """Click a confusion-matrix cell to see (up to ``k`` of) its faces and their Grad-CAM maps.

    Args:
        model: a checkpoint path, a fer_explain model, or ``(model, meta)``.
        data: a :class:`~fer_explain.data.manifest.Manifest` or ``FaceDataset``; ``None`` = the
            test split of the default synthetic set.
        split: keep only this split of ``data``.
        k: how many faces of a cell are shown at first (the ``k`` slider changes it).
        crop_margin: face-box margin, as in ``FaceDataset``.
        batch_size: evaluation batch size.
        name: how the model is named in the title.
        cmap: matplotlib colour map of the cells.

    Attributes:
        cell_buttons: ``(true, predicted) -> Button``.
        k: the "show up to" slider.
        result: the :class:`~fer_explain.train.EvalResult` of the predictions.
        confusion: ``(C, C)`` counts (``result.confusion``); ``classes`` their names.
        labels, preds: ``(N,)`` true and predicted class per face (positions in ``faces.manifest``).
        last_cell: the last clicked ``(true, predicted)``, or ``None``.
        last_cell_indices: every face of that cell; ``last_shown`` the first ``k`` of them.
        last_explanation: Grad-CAM :class:`~fer_explain.explain.Explanation` of ``last_shown``.
        last_error: the exception of the last click, or ``None``.
        widget: the top-level container.
    """

    def __init__(
        self,
        model: ModelSource,
        data: Manifest | FaceDataset | None = None,
        *,
        split: str | None = None,
        k: int = 6,
        crop_margin: float = 0.1,
        batch_size: int = 256,
        name: str | None = None,
        cmap: str = "Blues",
    ) -> None:
        self.loaded = load_model(model, name=name)
        self.faces = FaceSource(data, split=split, crop_margin=crop_margin)
        self.batch_size = int(batch_size)
        self.cmap = cmap
        self.k = widgets.IntSlider(value=int(k), min=1, max=max(24, int(k)), description="show up to",
                                   continuous_update=False)
        self.last_cell: tuple[int, int] | None = None
        self.last_cell_indices = np.zeros(0, dtype=np.int64)
        self.last_shown = np.zeros(0, dtype=np.int64)
        self.last_explanation: Explanation | None = None
        self.last_error: Exception | None = None

        self.compute()
        self.title = widgets.HTML(
            f"<b>{html.escape(self.loaded.name)}</b> on {len(self.faces)} faces "
            f"({html.escape(self.faces.manifest.name or 'manifest')}): accuracy {self.result.accuracy:.1%}. "
            "Rows: true class; columns: predicted. Click a cell to see its faces."
        )
        self.cell_buttons: dict[tuple[int, int], widgets.Button] = {}
        self.grid = self._build_grid()
        self.samples_html = widgets.HTML("<i>click a cell</i>")
        self.samples_image = widgets.Image(format="png")
        self.status = widgets.HTML()
        self.samples_html.add_class("fer-samples-caption")
        self.samples_image.add_class("fer-samples-image")
        self.k.observe(self._on_k, names="value")
        self.widget = widgets.VBox([self.title, self.grid, self.k, self.samples_html, self.samples_image, self.status],
                                   layout=widgets.Layout(align_items="flex-start"))  # images at their own size
        self.widget.add_class("fer-confusion-explorer")

    # ------------------------------------------------------------------ predictions
    def compute(self) -> np.ndarray:
        """Predict every face (:func:`fer_explain.train.evaluate`) and return the confusion matrix."""
        from fer_explain.train import evaluate

        lm = self.loaded
        ds = self.faces.dataset(lm.input, normalized=True)
        self.result = evaluate(lm.model, ds, batch_size=self.batch_size, device=lm.device,
                               label_space=lm.classes, target_space=self.faces.classes)
        self.classes: tuple[str, ...] = tuple(self.result.classes or self.faces.classes)
        self.confusion = np.asarray(self.result.confusion)
        self.labels = np.asarray(self.result.labels, dtype=np.int64)
        self.preds = np.asarray(self.result.preds, dtype=np.int64)
        return self.confusion

    def cell_indices(self, true: int, pred: int) -> np.ndarray:
        """Positions (in ``faces.manifest``) of the faces of class ``true`` predicted as ``pred``."""
        c = len(self.classes)
        if not (0 <= true < c and 0 <= pred < c):
            raise IndexError(f"cell ({true}, {pred}) is outside the {c}x{c} matrix")
        return np.flatnonzero((self.labels == true) & (self.preds == pred))

    # ------------------------------------------------------------------ a cell
    def select_cell(self, true: int, pred: int) -> Explanation | None:
        """Show the first ``k`` faces of a cell with Grad-CAM for the predicted class (what a click does)."""
        idx = self.cell_indices(true, pred)
        shown = idx[: int(self.k.value)]
        self.last_cell, self.last_cell_indices, self.last_shown = (true, pred), idx, shown
        t_name, p_name = self.classes[true], self.classes[pred]
        head = (f"true <b>{html.escape(t_name)}</b>, predicted <b>{html.escape(p_name)}</b>: "
                f"{len(idx)} face{'s' if len(idx) != 1 else ''}")
        if len(shown) == 0:
            self.last_explanation = None
            self.samples_html.value = head
            self.samples_image.value = b""
            return None
        lm = self.loaded
        x01 = self.faces.images(shown, lm.input)
        target = lm.classes.index(p_name) if p_name in lm.classes else None
        exp = GradCAM(lm.model).attribute(lm.normalize(x01).to(lm.device), target=target,
                                          labels=self.labels[shown])
        fig = explanation_grid(x01.numpy(), {"Grad-CAM": exp.maps}, [t_name] * len(shown), [p_name] * len(shown),
                               self.result.probs[shown], self.classes)
        self.samples_image.value = figure_png(fig)
        rows = ", ".join(html.escape(str(self.faces.manifest.df["image"].iat[int(i)])) for i in shown)
        self.samples_html.value = f"{head}, showing {len(shown)}: {rows}"
        self.last_explanation = exp
        return exp

    def _on_click(self, true: int, pred: int) -> None:
        try:
            self.select_cell(true, pred)
        except Exception as exc:  # noqa: BLE001 - shown in the widget; the grid stays usable
            self.last_error = exc
            self.status.value = f"<span style='color:#b00'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</span>"
        else:
            self.last_error = None
            self.status.value = ""

    def _on_k(self, change: Any) -> None:
        if self.last_cell is not None:
            self._on_click(*self.last_cell)

    # ------------------------------------------------------------------ the grid
    def _cell_colours(self) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
        share = normalize_rows(self.confusion.astype(np.float64))
        cmap = colormaps[self.cmap]
        # a class without samples has a NaN row (undefined recall): a neutral grey, not a colour of the scale
        back = [[to_hex(cmap(0.05 + 0.95 * float(s))) if np.isfinite(s) else "#eeeeee" for s in row] for row in share]
        text = [["white" if s > 0.5 else "black" for s in row] for row in share]
        return share, back, text

    def _build_grid(self) -> widgets.GridBox:
        c = len(self.classes)
        share, back, text = self._cell_colours()
        cells: list[widgets.Widget] = [widgets.HTML("<i>true \\ pred</i>")]
        cells += [widgets.HTML(f"<b>{html.escape(n)}</b>") for n in self.classes]
        for i in range(c):
            cells.append(widgets.HTML(f"<b>{html.escape(self.classes[i])}</b>"))
            for j in range(c):
                n = int(self.confusion[i, j])
                b = widgets.Button(
                    description=str(n),
                    tooltip=f"true {self.classes[i]}, predicted {self.classes[j]}: {n} ({share[i, j]:.0%} of the row)",
                    layout=widgets.Layout(width="80px", height="32px"),
                )
                b.style.button_color = back[i][j]
                b.style.text_color = text[i][j]
                b.add_class("fer-confusion-cell")
                b.add_class(f"fer-cell-{i}-{j}")
                b.on_click(lambda _b, i=i, j=j: self._on_click(i, j))
                self.cell_buttons[(i, j)] = b
                cells.append(b)
        return widgets.GridBox(cells, layout=widgets.Layout(grid_template_columns=f"110px repeat({c}, 84px)",
                                                            grid_gap="2px"))

    def nonzero_cells(self, off_diagonal: bool = False) -> Sequence[tuple[int, int]]:
        """The cells with at least one face (only the confusions with ``off_diagonal=True``), by count, largest first."""
        cells = [(i, j) for i, j in zip(*np.nonzero(self.confusion)) if not (off_diagonal and i == j)]
        return sorted(((int(i), int(j)) for i, j in cells), key=lambda ij: -int(self.confusion[ij]))

    def __repr__(self) -> str:
        return (f"ConfusionExplorer({self.loaded.name!r}, {len(self.faces)} faces, "
                f"accuracy {self.result.accuracy:.3f})")
