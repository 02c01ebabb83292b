"""plot_training_curves: two axes, legend entries, tolerance of missing columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_explain.viz.curves import plot_training_curves


def _legend(ax) -> list[str]:
    leg = ax.get_legend()
    return [] if leg is None else [t.get_text() for t in leg.get_texts()]


def test_curves_full_history() -> None:
    h = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [2.0, 1.5, 1.0], "val_loss": [2.1, 1.7, 1.6],
                      "train_acc": [0.3, 0.5, 0.6], "val_acc": [0.25, 0.45, 0.4]})
    fig = plot_training_curves(h, title="run 1")
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "loss" and acc_ax.get_title() == "accuracy"
    assert loss_ax.get_xlabel() == "epoch" and acc_ax.get_ylabel() == "accuracy"
    assert _legend(acc_ax) == ["train", "val", "best val (epoch 2)"]
    assert fig._suptitle.get_text() == "run 1"
    np.testing.assert_array_equal(acc_ax.lines[1].get_ydata(), [0.25, 0.45, 0.4])


def test_curves_without_validation_or_epoch() -> None:
    fig = plot_training_curves([{"train_loss": 1.0, "train_acc": 0.4}, {"train_loss": 0.8, "train_acc": 0.5}])
    loss_ax, acc_ax = fig.axes
    assert _legend(loss_ax) == ["train"] and _legend(acc_ax) == ["train"]
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [1, 2])
    # a val column with gaps: only epochs with values are drawn
    fig2 = plot_training_curves(pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1, 1, 1],
                                              "val_acc": [np.nan, 0.5, np.nan]}))
    np.testing.assert_array_equal(fig2.axes[1].lines[0].get_xdata(), [2])
    with pytest.raises(ValueError, match="none of the columns"):
        plot_training_curves(pd.DataFrame({"epoch": [1], "lr": [0.1]}))
