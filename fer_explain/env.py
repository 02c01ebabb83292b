"""Environment switches: the ``FER_EXPLAIN_*`` variables that turn a notebook or script from its small
synthetic default into a full-scale run (real data, a GPU) and tell it where to save figures.

* :func:`env_path`, :func:`env_flag`: a folder/file or a boolean named by a variable;
* :func:`env_device`, :func:`resolve_device`: the torch device (``cpu``, ``cuda``, ``cuda:1`` or
  ``auto``) from ``$FER_EXPLAIN_DEVICE`` or from a notebook parameter;
* :func:`save_figure`: save a figure into ``$FER_EXPLAIN_FIGURES_DIR`` when that is set (the notebook
  runner :func:`fer_explain.run_notebooks.run_series` sets it), else do nothing.

The dataset folders (``FER_EXPLAIN_<NAME>_DIR``) are :data:`fer_explain.data.sources.DATASET_ENV`.
This module imports nothing else from the package, so every layer may use it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DEVICE_ENV", "FIGURES_ENV", "env_device", "env_flag", "env_path", "resolve_device", "save_figure"]

FIGURES_ENV = "FER_EXPLAIN_FIGURES_DIR"
"""Environment variable naming the folder :func:`save_figure` writes into."""

DEVICE_ENV = "FER_EXPLAIN_DEVICE"
"""Environment variable naming the torch device (:func:`env_device`)."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def env_path(name: str) -> Path | None:
    """The folder or file named by the environment variable ``name``, or None when it is unset/empty.

    Raises:
        FileNotFoundError: the variable is set but the path does not exist (the message names both).
    """
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{name}={value}: no such file or folder")
    return path


def env_flag(name: str, default: bool = False) -> bool:
    """A boolean environment variable (``1/true/yes/on`` or ``0/false/no/off``, any case)."""
    value = os.environ.get(name)
    if value is None:
        return default
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"{name}={value!r}: expected one of {sorted(_TRUE | _FALSE - {''})}")


def resolve_device(device: str | None) -> str:
    """A device name as torch takes it: ``"auto"`` becomes ``"cuda"`` when CUDA is available, else
    ``"cpu"``; None or ``""`` is ``"cpu"``; any other name is checked (a malformed one raises
    ``RuntimeError``) and returned unchanged."""
    import torch

    value = (device or "").strip() or "cpu"
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    torch.device(value)  # raises a clear RuntimeError for a malformed name
    return value


def env_device(name: str = DEVICE_ENV) -> str:
    """The torch device named by the environment variable ``name`` (default ``"cpu"``; see
    :func:`resolve_device`)."""
    return resolve_device(os.environ.get(name))


def save_figure(fig: Figure, name: str, folder: str | os.PathLike[str] | None = None, dpi: int = 120) -> Path | None:
    """Save ``fig`` as ``<folder>/<name>.png``; ``folder`` defaults to ``$FER_EXPLAIN_FIGURES_DIR``.

    Returns the path written, or None (nothing written) when neither is given, so a notebook can
    call it unconditionally. ``name`` may contain letters, digits, ``-``, ``_`` and ``.``.
    """
    target = folder if folder is not None else (os.environ.get(FIGURES_ENV) or None)
    if target is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ValueError(f"figure name {name!r} may only contain letters, digits, '-', '_' and '.'")
    path = Path(target) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
