"""results_page: the index over executed notebooks (title, first table, figures, status) from real nbformat files."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd

from fer_explain.results_page import summarize_notebook, write_index


def _executed(path: Path, title: str, table: pd.DataFrame | None, error: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(f"intro\n\n# {title}\n\ntext"))
    cell = nbformat.v4.new_code_cell("x")
    if table is not None:
        cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/html": table.to_html(),
                                                                       "text/plain": str(table)})]
    if error:
        cell.outputs.append(nbformat.v4.new_output("error", ename="ValueError", evalue=error, traceback=[]))
    nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def test_index_lists_title_table_figures_and_failures(tmp_path: Path) -> None:
    good = _executed(tmp_path / "00_a.ipynb", "00 · first", pd.DataFrame({"accuracy": [0.9817]}, index=["mouth"]))
    bad = _executed(tmp_path / "01_b.ipynb", "01 · second", None, error="boom")
    figs = tmp_path / "figures" / "00_a"
    figs.mkdir(parents=True)
    for name in ("b_fig", "a_fig"):
        (figs / f"{name}.png").write_bytes(b"\\x89PNG")
    s = summarize_notebook(good, figs, seconds=3.2)
    assert s.title == "00 · first" and s.error is None and [f.name for f in s.figures] == ["a_fig.png", "b_fig.png"]
    assert s.table_html is not None and "0.9817" in s.table_html
    page = write_index(tmp_path, [good, bad], {"00_a": 3.2}).read_text()
    assert page.index("00 · first") < page.index("01 · second")
    assert "ran</span> in 3 s" in page and "0.9817" in page
    assert "src='figures/00_a/a_fig.png'" in page and "src='figures/00_a/b_fig.png'" in page
    assert "failed: ValueError: boom" in page and "0 figures" in page
