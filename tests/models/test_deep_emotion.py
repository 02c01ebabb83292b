"""Deep-Emotion: identity spatial transformer, dropout honouring train/eval, statelessness."""

from __future__ import annotations

import pytest
import torch

from fer_explain.models import create_model, init_gaussian_
from fer_explain.models.deep_emotion import DeepEmotion

IDENTITY = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@pytest.fixture
def model() -> DeepEmotion:
    m = create_model("deep_emotion")
    assert isinstance(m, DeepEmotion)
    return m


def test_theta_is_identity_at_init(model: DeepEmotion) -> None:
    x = torch.randn(3, 1, 48, 48)
    theta = model.stn_theta(x)
    assert theta.shape == (3, 2, 3)
    assert torch.allclose(theta, IDENTITY.expand(3, 2, 3), atol=1e-6)


def test_warp_is_identity_at_init(model: DeepEmotion) -> None:
    x = torch.rand(2, 1, 48, 48)
    warped = model.warp(x)
    assert warped.shape == x.shape
    assert torch.allclose(warped, x, atol=1e-5)


def test_warp_with_explicit_theta_shifts_image(model: DeepEmotion) -> None:
    x = torch.zeros(1, 1, 48, 48)
    x[..., 24, 30] = 1.0
    theta = IDENTITY.clone()[None]
    theta[0, 0, 2] = 2.0 / 48 * 6  # sample 6 pixels to the right
    warped = model.warp(x, theta)
    assert warped[0, 0, 24].argmax().item() == 24


def test_eval_mode_is_deterministic(model: DeepEmotion) -> None:
    model.eval()
    x = torch.randn(4, 1, 48, 48)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_train_mode_dropout_is_active(model: DeepEmotion) -> None:
    model.train()
    x = torch.randn(4, 1, 48, 48)
    with torch.no_grad():
        a, b = model.features(x), model.features(x)
    assert not torch.equal(a, b)
    no_dropout = create_model("deep_emotion", dropout=0.0).train()
    no_dropout.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(no_dropout.features(x), no_dropout.features(x))


def test_forward_stores_no_state(model: DeepEmotion) -> None:
    model.eval()
    attrs = set(vars(model))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model(torch.randn(2, 1, 48, 48))
        model.stn_theta(torch.randn(2, 1, 48, 48))
    assert set(vars(model)) == attrs
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_rejects_other_sizes(model: DeepEmotion) -> None:
    with pytest.raises(ValueError, match="48"):
        model(torch.randn(1, 1, 64, 64))


def test_gaussian_init_keeps_identity_transform(model: DeepEmotion) -> None:
    init_gaussian_(model, std=0.05)
    assert 0.03 < model.body.conv2.weight.std().item() < 0.07
    assert torch.count_nonzero(model.fc1.bias) == 0
    x = torch.randn(2, 1, 48, 48)
    assert torch.allclose(model.stn_theta(x), IDENTITY.expand(2, 2, 3), atol=1e-6)


def test_stn_is_trainable(model: DeepEmotion) -> None:
    model.train()
    x = torch.randn(4, 1, 48, 48)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert model.loc_fc.fc2.weight.grad is not None
    assert model.loc_fc.fc2.weight.grad.abs().sum() > 0
