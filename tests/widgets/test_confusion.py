"""ConfusionExplorer driven from pytest: the grid's counts and a clicked cell's faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_explain.analysis.evaluation import confusion
from fer_explain.data.dataset import FaceDataset
from fer_explain.train import load_checkpoint
from fer_explain.widgets import ConfusionExplorer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def direct(synthetic_test, tiny_checkpoint) -> tuple[np.ndarray, np.ndarray]:
    """True labels and the model's own predictions, from a plain forward pass."""
    model, meta = load_checkpoint(tiny_checkpoint)
    ds = FaceDataset(synthetic_test, size=48, channels=1, normalize=(meta["input"]["mean"], meta["input"]["std"]),
                     cache_dir=False, progress=False)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    with torch.no_grad():
        preds = model(x).argmax(1).numpy()
    return synthetic_test.label_indices(), preds


@pytest.fixture
def explorer(synthetic_test, tiny_checkpoint) -> ConfusionExplorer:
    return ConfusionExplorer(tiny_checkpoint, synthetic_test, k=4)


def test_grid_shows_the_confusion_counts(explorer, direct) -> None:
    labels, preds = direct
    cm = confusion(labels, preds, 7)
    np.testing.assert_array_equal(explorer.confusion, cm)
    assert len(explorer.cell_buttons) == 49
    for (i, j), button in explorer.cell_buttons.items():
        assert button.description == str(cm[i, j])
    # colour by row share: the fullest cell of a row is coloured differently from an empty one of that row
    rows = [i for i in range(7) if cm[i].sum() > 0 and (cm[i] == 0).any()]
    assert rows, "the fixture model must leave an empty cell in some populated row"
    i = rows[0]
    full, empty = int(np.argmax(cm[i])), int(np.argmin(cm[i]))
    assert cm[i, empty] == 0 < cm[i, full]
    assert explorer.cell_buttons[(i, full)].style.button_color != explorer.cell_buttons[(i, empty)].style.button_color


def test_clicking_a_cell_shows_exactly_its_samples(explorer, direct) -> None:
    labels, preds = direct
    cells = explorer.nonzero_cells(off_diagonal=True) or explorer.nonzero_cells()
    i, j = cells[0]
    explorer.cell_buttons[(i, j)].click()
    assert explorer.last_error is None, explorer.last_error
    expected = np.flatnonzero((labels == i) & (preds == j))
    assert len(expected) == explorer.confusion[i, j] > 0
    np.testing.assert_array_equal(explorer.last_cell_indices, expected)
    np.testing.assert_array_equal(explorer.last_shown, expected[:4])
    exp = explorer.last_explanation
    assert len(exp) == min(4, len(expected))
    assert exp.labels.tolist() == [i] * len(exp) and exp.targets.tolist() == [j] * len(exp)
    assert exp.method == "gradcam"
    assert bytes(explorer.samples_image.value).startswith(PNG_MAGIC)
    assert f"{len(expected)} face" in explorer.samples_html.value
    for row in expected[:4]:
        assert explorer.faces.manifest.df["image"].iat[int(row)] in explorer.samples_html.value


def test_k_slider_shows_more_of_the_same_cell(explorer) -> None:
    i, j = explorer.nonzero_cells()[0]
    explorer.cell_buttons[(i, j)].click()
    n = int(explorer.confusion[i, j])
    explorer.k.value = 6
    assert explorer.last_cell == (i, j)
    assert len(explorer.last_shown) == min(6, n) and len(explorer.last_explanation) == min(6, n)


def test_an_empty_cell_shows_no_faces(explorer) -> None:
    empty = [(i, j) for (i, j) in explorer.cell_buttons if explorer.confusion[i, j] == 0]
    assert empty, "60 faces of a fixed tiny model cannot fill all 49 cells"
    explorer.cell_buttons[empty[0]].click()
    assert explorer.last_error is None
    assert len(explorer.last_cell_indices) == 0 and explorer.last_explanation is None
    assert bytes(explorer.samples_image.value) == b"" and "0 faces" in explorer.samples_html.value


def test_out_of_range_cell_is_refused(explorer) -> None:
    with pytest.raises(IndexError, match="outside the 7x7"):
        explorer.cell_indices(7, 0)
