"""The papers' augmentation pipelines: shapes, ranges, eval forms, determinism and errors."""

from __future__ import annotations

import pickle

import pytest
import torch

from fer_explain.data.transforms import get_transform, list_transforms

torch.set_num_threads(1)

NAMES = ["none", "seed001", "seed002", "seed003", "seed004"]


def test_list_transforms() -> None:
    assert list_transforms() == NAMES


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("train", [True, False])
def test_shape_and_range(name: str, channels: int, train: bool) -> None:
    torch.manual_seed(0)
    x = torch.rand(channels, 48, 48)
    y = get_transform(name, 48, train=train)(x)
    assert y.shape == (channels, 48, 48) and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


@pytest.mark.parametrize("name", ["none", "seed003", "seed004"])
def test_eval_is_identity_where_the_paper_has_no_eval_step(name: str) -> None:
    x = torch.rand(1, 48, 48)
    assert torch.equal(get_transform(name, 48, train=False)(x), x)


@pytest.mark.parametrize("name", ["seed001", "seed002", "seed003", "seed004"])
def test_deterministic_under_manual_seed(name: str) -> None:
    t = get_transform(name, 48, train=True)
    x = torch.rand(3, 48, 48)
    torch.manual_seed(7)
    a = [t(x) for _ in range(5)]
    torch.manual_seed(7)
    b = [t(x) for _ in range(5)]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert any(not torch.equal(p, a[0]) for p in a[1:])  # it is random across draws


def test_seed001_geometry() -> None:
    x = torch.zeros(1, 224, 224)
    x[:, 100:124, 100:124] = 1.0
    ev = get_transform("seed001", 224, train=False)  # resize 256 (x 256/224) + centre crop 224
    y = ev(x)
    assert y.shape == (1, 224, 224)
    # the bright square keeps its centre and grows by 256/224
    assert float(y[0, 112, 112]) == pytest.approx(1.0) and float(y[0, 112, 85]) == 0.0
    crops = get_transform("seed001", 48, train=True, five_crop=True)(torch.rand(3, 48, 48))
    assert crops.shape == (5, 3, 48, 48)


def test_seed003_flips_half_the_time() -> None:
    x = torch.arange(16.0).reshape(1, 4, 4) / 16
    t = get_transform("seed003", 4, train=True)
    torch.manual_seed(0)
    outs = [t(x) for _ in range(200)]
    flipped = sum(torch.equal(o, x.flip(-1)) for o in outs)
    assert sum(torch.equal(o, x) for o in outs) + flipped == 200
    assert 70 < flipped < 130


def test_pipelines_pickle_for_worker_processes() -> None:
    for name in NAMES:
        t = pickle.loads(pickle.dumps(get_transform(name, 48, train=True)))
        assert t(torch.rand(1, 48, 48)).shape == (1, 48, 48)
    t = pickle.loads(pickle.dumps(get_transform("seed001", 48, train=True, five_crop=True)))
    assert t(torch.rand(1, 48, 48)).shape == (5, 1, 48, 48)


def test_errors_list_valid_values() -> None:
    with pytest.raises(KeyError, match="seed004"):
        get_transform("seed999", 48, train=True)
    with pytest.raises(TypeError, match="five_crop"):
        get_transform("seed001", 48, train=True, fivecrop=True)
    with pytest.raises(ValueError, match="size"):
        get_transform("seed002", 0, train=True)
