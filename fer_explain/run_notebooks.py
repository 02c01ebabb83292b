"""Run the notebook series headless: every notebook in its own kernel, executed copies and figures saved.

::

    from fer_explain.run_notebooks import run_series
    run_series("results/")                                    # notebooks/00_* ... in order
    run_series("results/", notebooks=["00", "05_explainers"], parameters={"N_EXPLAIN": 32})

For each notebook ``NN_name.ipynb`` the runner

1. reads it and, when ``parameters`` are given, inserts a cell (tagged ``injected-parameters``, as
   papermill does) right after the cell tagged ``parameters`` that assigns them;
2. executes it with :mod:`nbclient` in a fresh kernel whose working directory is the notebook's
   folder, with ``FER_EXPLAIN_FIGURES_DIR=<out_dir>/figures/<NN_name>`` in the kernel's environment
   (figures saved with :func:`fer_explain.env.save_figure` land there) and, unless the caller sets it,
   ``FER_EXPLAIN_OUT_DIR=<out_dir>/trained/<NN_name>`` (what a notebook trains is kept there);
3. writes the executed copy to ``<out_dir>/<NN_name>.ipynb`` -- also when a cell fails, so the
   error and everything before it can be read -- and then moves on to the next notebook.

A failed notebook is reported in one plain line (no colour codes) naming it, the cell and the cell's
error, e.g. ``02_retrain.ipynb: cell 9 raised UnknownNameError: split(s) ...`` (:func:`failure_line`).
At the end it prints where the results are and raises :class:`NotebookRunError` naming every
notebook that failed, one line each (after all have run).
"""

from __future__ import annotations

import ast
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fer_explain.data.errors import UserError
from fer_explain.env import FIGURES_ENV
from fer_explain.results_page import write_index

__all__ = ["OUT_DIR_ENV", "NotebookRunError", "failure_line", "find_notebooks", "inject_parameters", "notebooks_dir",
           "run_series"]

NOTEBOOK_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")
OUT_DIR_ENV = "FER_EXPLAIN_OUT_DIR"
"""Environment variable naming where a notebook keeps what it trains (02, 03)."""
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


class NotebookRunError(UserError, RuntimeError):
    """One or more notebooks raised an error; the message names each and its executed copy."""


def notebooks_dir() -> Path:
    """The repository's ``notebooks/`` folder (``$FER_EXPLAIN_NOTEBOOKS`` overrides it)."""
    env = os.environ.get("FER_EXPLAIN_NOTEBOOKS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "notebooks"


def find_notebooks(notebooks: Sequence[str | os.PathLike[str]] | None = None, folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """The notebooks to run, in order.

    ``notebooks=None`` gives every ``NN_*.ipynb`` of ``folder`` (default :func:`notebooks_dir`),
    sorted by name. Otherwise each entry is a path to an ``.ipynb`` file, a file name in
    ``folder`` (``"05_explainers.ipynb"`` or ``"05_explainers"``) or a two-digit prefix (``"05"``).
    """
    base = Path(folder) if folder is not None else notebooks_dir()
    available = sorted(p for p in base.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name)) if base.is_dir() else []
    if notebooks is None:
        if not available:
            raise FileNotFoundError(f"no NN_*.ipynb notebooks in {base}")
        return available
    out: list[Path] = []
    for entry in notebooks:
        p = Path(entry)
        if p.suffix == ".ipynb" and p.is_file():
            out.append(p)
            continue
        name = str(entry)
        matches = [a for a in available if a.name == name or a.stem == name or a.name.startswith(f"{name}_")]
        if len(matches) != 1:
            valid = [a.stem for a in available]
            what = "matches several" if matches else "matches no notebook"
            raise FileNotFoundError(f"notebook {name!r} {what} in {base}; valid: {valid}")
        out.append(matches[0])
    return out


def _literal(name: str, value: Any) -> str:
    if not name.isidentifier():
        raise ValueError(f"parameter name {name!r} is not a Python identifier")
    text = repr(value)
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"parameter {name}={value!r} is not a literal (str, number, bool, None, list, dict)") from None
    return f"{name} = {text}"


def inject_parameters(nb: Any, parameters: Mapping[str, Any]) -> Any:
    """Insert a code cell assigning ``parameters`` after the cell tagged ``parameters`` (at the top
    when there is none); the cell is tagged ``injected-parameters``. Returns ``nb`` (changed in place)."""
    import nbformat

    if not parameters:
        return nb
    source = "# Parameters\n" + "\n".join(_literal(k, v) for k, v in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    index = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    nb.cells.insert(0 if index is None else index + 1, cell)
    return nb


def _plain(text: str) -> str:
    """``text`` on one line, without ANSI colour codes."""
    return " ".join(_ANSI.sub("", text).split())


def failure_line(name: str, exc: BaseException, cell: int | None = None) -> str:
    """One plain line naming the failed notebook ``name``, the cell that was running (its 0-based index in the
    executed notebook, when known) and the cell's error (``ename: evalue``), or what stopped it (the first line
    of a timeout's or a dead kernel's message)."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        error = f"{ename}: {evalue}" if evalue else str(ename)
    else:
        lines = [ln for ln in _ANSI.sub("", str(exc)).strip().splitlines() if ln.strip(" -")]
        error = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    where = f" cell {cell}" if cell is not None else ""
    return _plain(f"{name}:{where} raised {error}")


def _clear_outputs(nb: Any) -> None:
    """Drop every code cell's stored outputs, so the executed copy never shows a committed output for a cell
    that did not run (after a failure)."""
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None


def run_series(
    out_dir: str | os.PathLike[str],
    notebooks: Sequence[str | os.PathLike[str]] | None = None,
    timeout: int = 600,
    parameters: Mapping[str, Any] | None = None,
    *,
    kernel_name: str = "python3",
    folder: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    verbose: bool = True,
) -> list[Path]:
    """Execute notebooks headless, each in its own kernel, and save the executed copies into ``out_dir``.

    Args:
        out_dir: results folder (created): ``<NN_name>.ipynb`` per notebook,
            ``figures/<NN_name>/*.png`` for the figures a notebook saves and ``trained/<NN_name>/`` for
            what it trains (unless ``FER_EXPLAIN_OUT_DIR`` is set).
        notebooks: which notebooks (see :func:`find_notebooks`); None runs the whole series in order.
        timeout: seconds one cell may run before it counts as failed.
        parameters: variables assigned in a cell injected after each notebook's ``parameters``
            cell (literals only), e.g. ``{"EPOCHS": 30, "DEVICE": "cuda"}``.
        kernel_name: the Jupyter kernel to use.
        folder: where notebook names are looked up (default: the repository's ``notebooks/``).
        env: more environment variables for the kernels (on top of this process's environment), e.g.
            ``{"FER_EXPLAIN_FER2013_DIR": "/data/fer2013"}`` (what ``fer-explain notebooks --fer2013`` sets).
        verbose: print one line per notebook and where the results are.

    Returns:
        the paths of the executed notebooks, in run order.

    Raises:
        NotebookRunError: after running all notebooks, when any of them failed (the executed copies,
            with the error, are written all the same).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    paths = find_notebooks(notebooks, folder)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failures: list[str] = []
    timings: dict[str, float] = {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        _clear_outputs(nb)
        inject_parameters(nb, parameters or {})
        figures = out / "figures" / path.stem
        kernel_env = {OUT_DIR_ENV: str((out / "trained" / path.stem).resolve()), **os.environ, **dict(env or {}),
                      FIGURES_ENV: str(figures.resolve())}
        running: list[int] = []  # the index of the code cell being executed (for the failure line)
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                                resources={"metadata": {"path": str(path.parent.resolve())}},
                                on_cell_execute=lambda cell, cell_index, seen=running: seen.append(cell_index))
        target = out / path.name
        start = time.perf_counter()
        error: str | None = None
        try:
            client.execute(env=kernel_env)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
            error = failure_line(path.name, exc, running[-1] if running else None)
        finally:
            nbformat.write(nb, target)
        seconds = time.perf_counter() - start
        timings[path.stem] = seconds
        written.append(target)
        if error is not None:
            failures.append(f"{error} (see {target})")
        if verbose:
            n_fig = len(list(figures.glob("*.png"))) if figures.is_dir() else 0
            if error is None:
                print(f"{path.name}: ok in {seconds:.1f} s -> {target} ({n_fig} figures)", flush=True)
            else:
                print(f"FAILED after {seconds:.1f} s: {error} (see {target})", flush=True)
    index = write_index(out, written, timings)  # written before any failure is raised: the page shows it
    if verbose:
        print(f"results in {out.resolve()}: {len(written)} executed notebooks, figures under {out.resolve() / 'figures'}",
              flush=True)
        print(f"open {index.resolve()}", flush=True)
    if failures:
        raise NotebookRunError(f"{len(failures)} of {len(paths)} notebooks failed:\n  " + "\n  ".join(failures))
    return written
