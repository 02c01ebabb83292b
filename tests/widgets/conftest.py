"""A tiny Deep-Emotion checkpoint trained here (one epoch on 140 synthetic faces, a few CPU seconds),
so the widget tests need no shipped weights, and the synthetic test faces the explorers show."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def train_tiny_checkpoint(folder: Path, n_train: int = 140, seed: int = 0) -> Path:
    """Train deep_emotion for one epoch on ``n_train`` default synthetic training faces; return the
    checkpoint's name (``<folder>/deep_emotion``)."""
    from fer_explain.data.dataset import FaceDataset
    from fer_explain.data.synthetic import default_synthetic_manifest
    from fer_explain.models import create_model
    from fer_explain.train import fit, get_recipe

    manifest = default_synthetic_manifest().select(split="train")
    manifest = manifest.replace(manifest.df.iloc[:n_train])
    torch.manual_seed(seed)
    model = create_model("deep_emotion", num_classes=7)
    spec = model.input_spec
    ds = FaceDataset(manifest, size=spec.size, channels=spec.channels, normalize=(spec.mean, spec.std),
                     cache_dir=False, progress=False)
    path = folder / "deep_emotion"
    fit(model, ds, None, recipe=get_recipe("quick", epochs=1), checkpoint_path=path, progress=False,
        classes="basic7")
    return path


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return train_tiny_checkpoint(tmp_path_factory.mktemp("widget_ckpt"))


@pytest.fixture(scope="session")
def synthetic_test():
    """The test split of the default synthetic set (315 faces), first 60 rows (keeps the tests quick)."""
    from fer_explain.data.synthetic import default_synthetic_manifest

    m = default_synthetic_manifest().select(split="test")
    return m.replace(m.df.iloc[:60])
