"""Figures are drawn with the non-interactive Agg backend and closed after each test."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pytest


@pytest.fixture(autouse=True)
def _agg_backend_and_close_figures():
    matplotlib.use("Agg")  # non-interactive; the package itself never picks a backend
    yield
    plt.close("all")
