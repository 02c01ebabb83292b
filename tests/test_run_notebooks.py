"""run_series: headless execution of a notebook series with nbclient (one tiny notebook per kernel)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from fer_explain.run_notebooks import NotebookRunError, find_notebooks, inject_parameters, run_series

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def _write(path: Path, cells: list[tuple[str, str, list[str]]]) -> Path:
    nb = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        nb.cells.append(make(source, metadata={"tags": tags}))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


TINY = [
    ("markdown", "# tiny", []),
    ("code", "SCALE = 1\nLABEL = 'default'", ["parameters"]),
    ("code", "import os\nfrom pathlib import Path\nprint('cwd', Path.cwd().name)\nprint('value', SCALE * 21, LABEL)", []),
    ("code", ("from matplotlib.figure import Figure\nfrom fer_explain.env import save_figure\n"
              "fig = Figure()\nfig.subplots().plot([0, 1], [1, 0])\nprint('saved', save_figure(fig, 'line') is not None)"),
     []),
]


def _stream_text(nb: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_run_series_injects_parameters_sets_cwd_and_collects_figures(tmp_path: Path) -> None:
    src = tmp_path / "nbs"
    src.mkdir()
    _write(src / "00_tiny.ipynb", TINY)
    out = tmp_path / "results"

    written = run_series(out, folder=src, parameters={"SCALE": 2, "LABEL": "injected"}, timeout=120, verbose=False)

    assert written == [out / "00_tiny.ipynb"]
    nb = nbformat.read(written[0], as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert tags.index(["injected-parameters"]) == tags.index(["parameters"]) + 1
    text = _stream_text(nb)
    assert "cwd nbs" in text                      # the kernel ran in the notebook's folder
    assert "value 42 injected" in text            # the injected values replaced the defaults
    assert "saved True" in text
    assert (out / "figures" / "00_tiny" / "line.png").stat().st_size > 0
    # the source notebook is untouched
    assert len(nbformat.read(src / "00_tiny.ipynb", as_version=4).cells) == len(TINY)
    # the results page: the title, a link to the executed notebook and the saved figure, by relative paths
    page = (out / "index.html").read_text()
    assert "<h2>tiny</h2>" in page and "href='00_tiny.ipynb'" in page
    assert "src='figures/00_tiny/line.png'" in page and "1 figure" in page and "failed:" not in page


def test_run_series_writes_failed_notebook_and_reports_it(tmp_path: Path) -> None:
    src = tmp_path / "nbs"
    src.mkdir()
    _write(src / "01_broken.ipynb", [("code", "print('before')", []), ("code", "raise ValueError('boom 123')", []),
                                     ("code", "print('after')", [])])
    out = tmp_path / "results"

    with pytest.raises(NotebookRunError, match=r"01_broken\.ipynb .*boom 123"):
        run_series(out, notebooks=["01"], folder=src, timeout=120, verbose=False)

    nb = nbformat.read(out / "01_broken.ipynb", as_version=4)
    assert "before" in _stream_text(nb)
    assert "failed: ValueError: boom 123" in (out / "index.html").read_text()
    assert nb.cells[1].outputs[0]["output_type"] == "error"
    assert nb.cells[2].get("outputs", []) == []   # execution stopped at the error


def test_find_notebooks_orders_and_resolves_names(tmp_path: Path) -> None:
    for name in ("01_data.ipynb", "00_quickstart.ipynb", "notes.ipynb"):
        _write(tmp_path / name, [])
    assert [p.name for p in find_notebooks(folder=tmp_path)] == ["00_quickstart.ipynb", "01_data.ipynb"]
    assert [p.name for p in find_notebooks(["01", "00_quickstart"], folder=tmp_path)] == ["01_data.ipynb",
                                                                                          "00_quickstart.ipynb"]
    with pytest.raises(FileNotFoundError, match=r"'07' matches no notebook.*00_quickstart"):
        find_notebooks(["07"], folder=tmp_path)


def test_inject_parameters_refuses_non_literals() -> None:
    nb = nbformat.v4.new_notebook()
    with pytest.raises(ValueError, match="not a literal"):
        inject_parameters(nb, {"F": object()})
    with pytest.raises(ValueError, match="not a Python identifier"):
        inject_parameters(nb, {"not valid": 1})
    inject_parameters(nb, {"N": 3, "PATH": None})
    assert nb.cells[0].source == "# Parameters\nN = 3\nPATH = None"
