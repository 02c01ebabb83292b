"""Shared settings and tiny models for the explainer tests: one CPU thread, fixed seed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
import torch

from fer_explain.models import create_model

torch.set_num_threads(1)

#: CPU-sized variants of each registered model (random init); unknown names use defaults.
SMALL: dict[str, dict[str, Any]] = {
    "se_resnet18": {"width": 0.125, "in_chans": 1, "input_size": 48},
    "resemotenet": {"width": 0.0625},
    "deep_emotion": {},
    "vgg_fer": {"width": 0.125},
    "densenet_bc": {"growth_rate": 4, "layers_per_block": 2},
}


def small_model(name: str, **overrides: Any) -> torch.nn.Module:
    """A tiny, eval-mode instance of a registered model."""
    model = create_model(name, **{**SMALL.get(name, {}), **overrides})
    return model.eval()


def model_input(model: torch.nn.Module, n: int = 3) -> torch.Tensor:
    spec = model.input_spec
    return torch.randn(n, spec.channels, spec.size, spec.size)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def tiny():
    """Factory fixture: ``tiny(name, **overrides) -> (model, make_input)``."""

    def make(name: str, **overrides: Any):
        model = small_model(name, **overrides)
        return model, lambda n=3: model_input(model, n)

    return make


@contextmanager
def _counted_batches(model: torch.nn.Module) -> Iterator[list[int]]:
    calls: list[int] = []
    handle = model.register_forward_pre_hook(lambda m, args: calls.append(int(args[0].shape[0])))
    try:
        yield calls
    finally:
        handle.remove()


@pytest.fixture
def counted_batches() -> Callable[[torch.nn.Module], AbstractContextManager[list[int]]]:
    """``with counted_batches(model) as calls:`` -- the batch size of every forward call of ``model`` inside
    the block (the hook is removed after it, also on an exception)."""
    return _counted_batches
