"""The renderer's version: the one constant that both the config (cache keys) and the renderer need.

It lives in its own dependency-free module so that :mod:`~fer_explain.data.synthetic.config` can put
it into cache keys without importing the renderer (which imports the per-face parameters, which import
the config: a cycle).
"""

from __future__ import annotations

RENDERER_VERSION = "1"
"""Bumped whenever a change alters the pixels produced for a given config (invalidates caches)."""
