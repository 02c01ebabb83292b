"""Shared tiny datasets and models for the training tests (CPU, seconds)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset


class TinyMLP(nn.Module):
    """A two-layer MLP with dropout (so RNG state matters) and a ``classifier`` head."""

    def __init__(self, dim: int = 8, hidden: int = 16, num_classes: int = 3, dropout: float = 0.2):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x.flatten(1)))


def toy_dataset(n: int = 120, dim: int = 8, classes: int = 3, seed: int = 0, flip: bool = False,
                noise: float = 0.6) -> TensorDataset:
    """Gaussian blobs: class ``c`` centred at ``2 * e_c``; ``flip`` shifts every label by one (unlearnable)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    y = y[torch.randperm(n, generator=g)]
    centres = torch.zeros(classes, dim)
    centres[torch.arange(classes), torch.arange(classes)] = 2.0
    x = centres[y] + noise * torch.randn(n, dim, generator=g)
    if flip:
        y = (y + 1) % classes
    return TensorDataset(x, y)


def make_mlp(seed: int = 0, **kwargs: object) -> TinyMLP:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyMLP(**kwargs)  # type: ignore[arg-type]


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"tensor {k} differs"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def toy() -> Callable[..., TensorDataset]:
    return toy_dataset


@pytest.fixture
def mlp() -> Callable[..., TinyMLP]:
    return make_mlp


@pytest.fixture
def same_weights() -> Callable[[nn.Module, nn.Module], None]:
    return assert_same_weights


def write_tiny_manifest(folder: Path) -> str:
    """28 random 40x40 grey faces with a class-dependent bright band (basic7): 21 train rows, 7 val rows."""
    from PIL import Image

    from fer_explain.data.manifest import make_manifest
    from fer_explain.labels import BASIC7

    rng = np.random.default_rng(0)
    rows = []
    for i in range(28):
        label = BASIC7.classes[i % 7]
        img = (rng.random((40, 40)) * 255).astype(np.uint8)
        img[:, : 5 * (i % 7) + 5] = 255  # a class-dependent bright band
        name = f"img{i:02d}.png"
        Image.fromarray(img).save(folder / name)
        rows.append({"dataset": "tiny", "image": name, "label": label, "split": "train" if i < 21 else "val"})
    manifest = make_manifest(rows, folder, "basic7", name="tiny")
    return str(manifest.save(folder / "tiny"))


@pytest.fixture
def tiny_manifest(tmp_path: Path) -> str:
    """Path of a tiny image manifest written under ``tmp_path`` (see :func:`write_tiny_manifest`)."""
    return write_tiny_manifest(tmp_path)
