"""run_series: headless execution of a notebook series with nbclient (one tiny notebook per kernel)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from fer_explain.run_notebooks import (
    OUT_DIR_ENV,
    NotebookRunError,
    failure_line,
    find_notebooks,
    inject_parameters,
    run_series,
)

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
    broken = _write(src / "01_broken.ipynb", [("code", "print('before')", []),
                                              ("code", "raise ValueError('boom 123')", []),
                                              ("code", "print('after')", [])])
    stored = nbformat.read(broken, as_version=4)  # committed with outputs, as the real notebooks are
    stored.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="after (stale)\n")]
    nbformat.write(stored, broken)
    out = tmp_path / "results"

    with pytest.raises(NotebookRunError, match=r"01_broken\.ipynb: cell 1 raised ValueError: boom 123"):
        run_series(out, notebooks=["01"], folder=src, timeout=120, verbose=False)

    nb = nbformat.read(out / "01_broken.ipynb", as_version=4)
    assert "before" in _stream_text(nb)
    assert "failed: ValueError: boom 123" in (out / "index.html").read_text()
    assert nb.cells[1].outputs[0]["output_type"] == "error"
    assert nb.cells[2].get("outputs", []) == []   # execution stopped at the error; no stale output is kept


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


def test_a_failed_notebook_is_one_plain_line_naming_it_the_cell_and_its_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OUT_DIR_ENV, raising=False)
    src = tmp_path / "nbs"
    src.mkdir()
    _write(src / "02_fails.ipynb", [("markdown", "# fails", []),
                                    ("code", f"import os\nprint('kept in', os.environ['{OUT_DIR_ENV}'])", []),
                                    ("code", "raise KeyError('split(s) [\\'privatetest\\'] not in manifest')", [])])
    out = tmp_path / "results"

    with pytest.raises(NotebookRunError) as info:
        run_series(out, folder=src, timeout=120, verbose=True)

    expected = "02_fails.ipynb: cell 2 raised KeyError: \"split(s) ['privatetest'] not in manifest\""
    assert str(info.value).splitlines() == ["1 of 1 notebooks failed:", f"  {expected} (see {out / '02_fails.ipynb'})"]
    printed = [line for line in capsys.readouterr().out.splitlines() if "02_fails" in line and "FAILED" in line]
    assert len(printed) == 1 and expected in printed[0] and "\x1b" not in printed[0]
    # what a notebook trains is kept under <out>/trained/<notebook> unless FER_EXPLAIN_OUT_DIR is set
    assert f"kept in {(out / 'trained' / '02_fails').resolve()}" in _stream_text(nbformat.read(out / "02_fails.ipynb",
                                                                                                as_version=4))


class _CellError(Exception):
    ename = "\x1b[0;31mValueError\x1b[0m"
    evalue = "boom\n  \x1b[1m123\x1b[0m"


def test_failure_line_strips_colours_and_newlines() -> None:
    assert failure_line("07_x.ipynb", _CellError(), 2) == "07_x.ipynb: cell 2 raised ValueError: boom 123"
    message = "A cell timed out while it was being executed, after 600 seconds.\n-------------------\nslow()\n-----"
    assert failure_line("03_x.ipynb", TimeoutError(message), 12) == \
        "03_x.ipynb: cell 12 raised TimeoutError: A cell timed out while it was being executed, after 600 seconds."
    assert failure_line("07_x.ipynb", RuntimeError("\nKernel died\n\nbefore the end")) == \
        "07_x.ipynb: raised RuntimeError: Kernel died"


def test_a_timed_out_cell_is_named(tmp_path: Path) -> None:
    src = tmp_path / "nbs"
    src.mkdir()
    _write(src / "03_slow.ipynb", [("markdown", "# slow", []), ("code", "x = 1", []),
                                   ("code", "import time\ntime.sleep(30)", []), ("code", "print('never')", [])])
    with pytest.raises(NotebookRunError, match=r"03_slow\.ipynb: cell 2 raised CellTimeoutError: A cell timed out"):
        run_series(tmp_path / "results", folder=src, timeout=3, verbose=False)
