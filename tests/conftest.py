"""Test-wide settings: a non-interactive matplotlib backend and a deterministic thread count."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("FER_EXPLAIN_QUIET", "1")
