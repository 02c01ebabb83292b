"""plot_confusion: labels, tick names and annotations (not pixels)."""

from __future__ import annotations

import numpy as np
import pytest

from fer_explain.analysis.evaluation import confusion
from fer_explain.viz.confusion import plot_confusion

CLASSES = ["anger", "disgust", "fear"]
CM = confusion([0, 0, 0, 1, 1, 2], [0, 0, 2, 0, 2, 2], 3)


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_plot_confusion_normalized() -> None:
    fig = plot_confusion(CM, CLASSES)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert ax.get_title() == "normalized confusion matrix"
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    # annotations row by row: 2/3, 0, 1/3 | 1/2, 0, 1/2 | 0, 0, 1
    assert _texts(ax) == ["0.67", "0.00", "0.33", "0.50", "0.00", "0.50", "0.00", "0.00", "1.00"]
    assert len(fig.axes) == 2  # heatmap + colour bar


def test_plot_confusion_raw_counts_into_given_axes() -> None:
    import matplotlib.pyplot as plt

    fig0, ax0 = plt.subplots()
    fig = plot_confusion(CM, CLASSES, normalize=False, title="FER2013", ax=ax0, colorbar=False)
    assert fig is fig0 and len(fig.axes) == 1
    assert ax0.get_title() == "FER2013"
    assert _texts(ax0) == [str(v) for v in CM.ravel()]
    assert sum(int(t) for t in _texts(ax0)) == 6


def test_plot_confusion_checks_shapes() -> None:
    with pytest.raises(ValueError, match="3 x 3 but 2 class names"):
        plot_confusion(CM, CLASSES[:2])
    with pytest.raises(ValueError, match="square"):
        plot_confusion(np.zeros((2, 3)), CLASSES[:2])
