"""Fixture writers for the adapter tests: tiny datasets written at test time in each true layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

WriteImage = Callable[..., Path]


def _write_image(path: Path, size: tuple[int, int] = (8, 8), mode: str = "L", seed: int = 0) -> Path:
    """Write a small random image; the format follows the extension (png, jpg, tiff...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=None).convert(mode).save(path)
    return path


def _pixel_string(seed: int = 0, n: int = 48 * 48) -> str:
    """A FER2013 pixel string: ``n`` space-separated values in 0..255."""
    return " ".join(str(v) for v in np.random.default_rng(seed).integers(0, 256, n))


@pytest.fixture
def write_image() -> WriteImage:
    return _write_image


@pytest.fixture
def pixel_string() -> Callable[..., str]:
    return _pixel_string
