"""Registers the ``browser`` marker (real-browser tests: JupyterLab + headless Chromium via Playwright)."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium (needs /usr/bin/chromium "
                                       "and the playwright package; skips cleanly without them)")
