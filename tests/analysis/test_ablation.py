"""Tests of fer_explain.analysis.ablation: the ResEmoteNet Table IV study at a tiny width."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_explain.analysis.ablation import PAPER_TABLE_IV, resemotenet_ablation
from fer_explain.data.synthetic import SyntheticFaceDataset
from fer_explain.models import count_parameters, create_model

torch.set_num_threads(1)


def test_resemotenet_ablation_tiny() -> None:
    train = SyntheticFaceDataset(n=200, size=48, seed=0)
    test = SyntheticFaceDataset(n=60, size=48, seed=1)
    table = resemotenet_ablation(train, test, width=1 / 16, recipe="quick", epochs=1, progress=False)
    print(table)
    assert list(table.index) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert list(table.columns[:5]) == ["description", "params", "accuracy", "loss", "best_epoch"]
    # parameter counts fall from C1 to C6, as in the model's table (and the paper's)
    params = table["params"].to_numpy()
    assert np.all(np.diff(params) < 0), params
    assert params[0] == count_parameters(create_model("resemotenet", num_classes=7, in_chans=1, width=1 / 16,
                                                      input_size=48))
    assert np.isfinite(table["accuracy"]).all() and table["accuracy"].between(0, 1).all()
    assert np.isfinite(table["loss"]).all() and (table["loss"] > 0).all()
    assert table.loc["C5", "paper_accuracy"] == PAPER_TABLE_IV["C5"][0]
    assert table.loc["C2", "description"] == "without SE (256)"


def test_resemotenet_ablation_rejects_unknown_configs() -> None:
    ds = SyntheticFaceDataset(n=4, size=48)
    with pytest.raises(KeyError, match="C7"):
        resemotenet_ablation(ds, ds, configs=("C1", "C7"), width=1 / 16, recipe="quick", epochs=1)
