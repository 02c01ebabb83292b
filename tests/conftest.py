"""Test-wide settings: a non-interactive matplotlib backend, and the one way tests find real FER2013 folders."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def fer2013_dir() -> Path:
    """The real FER2013 image folders (``train/`` and ``test/``): ``FER_EXPLAIN_FER2013_DIR``, else
    ``/tmp/fer2013``; the test skips cleanly when neither holds them."""
    env = os.environ.get("FER_EXPLAIN_FER2013_DIR")
    if env:
        path = Path(env)
        if not (path / "train").is_dir() or not (path / "test").is_dir():
            pytest.skip(f"FER_EXPLAIN_FER2013_DIR={env} has no train/ and test/ folders")
        return path
    default = Path("/tmp/fer2013")
    if (default / "train").is_dir() and (default / "test").is_dir():
        return default
    pytest.skip("real FER2013 image folders not found (set FER_EXPLAIN_FER2013_DIR or extract to /tmp/fer2013)")
