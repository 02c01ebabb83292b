"""The recipe's training loss: cross-entropy plus seed 004's FC L2 term."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fer_explain.train import fc_l2_penalty, get_recipe, training_loss


def test_fc_l2_adds_lambda_times_squared_weight_norm(mlp) -> None:
    model = mlp()
    x, y = torch.randn(6, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    logits = model.eval()(x)
    plain = training_loss(model, logits, y, get_recipe("quick"))
    lam = 0.37
    reg = training_loss(model, logits, y, get_recipe("quick", fc_l2=lam))
    expected = lam * model.classifier.weight.pow(2).sum()
    assert torch.allclose(reg - plain, expected, rtol=1e-6, atol=0)
    assert torch.allclose(plain, nn.functional.cross_entropy(logits, y))


def test_seed004_fc_l2_covers_deep_emotions_two_fc_layers() -> None:
    from fer_explain.models import create_model

    model = create_model("deep_emotion", num_classes=7).eval()
    x, y = torch.rand(2, 1, 48, 48), torch.tensor([0, 6])
    logits = model(x)
    r = get_recipe("seed004")
    with_term = training_loss(model, logits, y, r)
    without = training_loss(model, logits, y, get_recipe(r, fc_l2=0.0))
    norm2 = model.fc1.weight.pow(2).sum() + model.classifier.weight.pow(2).sum()
    assert torch.allclose(with_term - without, r.fc_l2 * norm2, rtol=1e-5, atol=0)
    assert torch.equal(fc_l2_penalty(model, ["fc1", "classifier"]), norm2)
    with pytest.raises(ValueError, match="no_such_fc.*top-level"):
        fc_l2_penalty(model, ["no_such_fc"])
