"""The results page: one ``index.html`` over a folder of executed notebooks and their figures.

:func:`write_index` is what ``fer-explain notebooks`` calls after running the series. For each executed
notebook it shows the notebook's title (its first Markdown heading), whether it ran and how long it took,
its key table (the first table the notebook displays) and the figures it saved under
``figures/<NN_name>/``, with a link to the executed notebook. Paths in the page are relative, so the
folder can be moved or served as it is.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NotebookSummary", "summarize_notebook", "write_index"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
section { border-top: 1px solid #ccc; padding: 1em 0; }
h2 { margin-bottom: 0.2em; } .meta { color: #666; font-size: 0.9em; }
.ok { color: #1a7f37; } .failed { color: #b00; font-weight: bold; }
.figures img { max-width: 48%; margin: 0.3em; border: 1px solid #eee; vertical-align: top; }
table.dataframe { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
table.dataframe td, table.dataframe th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
.table { max-height: 24em; overflow: auto; }
"""


@dataclass(frozen=True)
class NotebookSummary:
    """What the page shows for one executed notebook."""

    name: str
    title: str
    notebook: Path
    figures: tuple[Path, ...]
    table_html: str | None
    error: str | None
    seconds: float | None


def _title(cells: Sequence[Mapping[str, object]], fallback: str) -> str:
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        for line in "".join(cell.get("source", "")).splitlines():  # type: ignore[arg-type]
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return fallback


def _first_table(cells: Sequence[Mapping[str, object]]) -> str | None:
    for cell in cells:
        for out in cell.get("outputs", []) or []:  # type: ignore[union-attr]
            data = out.get("data", {}) if isinstance(out, Mapping) else {}
            text = data.get("text/html") if isinstance(data, Mapping) else None
            if text:
                text = "".join(text) if isinstance(text, list) else str(text)
                if "<table" in text:
                    return text
    return None


def _error(cells: Sequence[Mapping[str, object]]) -> str | None:
    for cell in cells:
        for out in cell.get("outputs", []) or []:  # type: ignore[union-attr]
            if isinstance(out, Mapping) and out.get("output_type") == "error":
                return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"
    return None


def summarize_notebook(path: str | os.PathLike[str], figures_dir: str | os.PathLike[str] | None = None,
                       seconds: float | None = None) -> NotebookSummary:
    """Title, first table, saved figures and first error of one executed notebook."""
    path = Path(path)
    cells = json.loads(path.read_text()).get("cells", [])
    figures = tuple(sorted(Path(figures_dir).glob("*.png"))) if figures_dir and Path(figures_dir).is_dir() else ()
    return NotebookSummary(name=path.stem, title=_title(cells, path.stem), notebook=path, figures=figures,
                           table_html=_first_table(cells), error=_error(cells), seconds=seconds)


def write_index(out_dir: str | os.PathLike[str], notebooks: Sequence[str | os.PathLike[str]],
                seconds: Mapping[str, float] | None = None, title: str = "fer_explain results") -> Path:
    """Write ``<out_dir>/index.html`` for the executed ``notebooks`` (figures from ``<out_dir>/figures/<name>``)."""
    out = Path(out_dir)
    seconds = dict(seconds or {})
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             ("<p class='meta'>Written by <code>fer-explain notebooks</code>: each notebook's title, its first "
              "table and the figures it saved; the links open the executed notebooks.</p>")]
    for nb in notebooks:
        s = summarize_notebook(nb, out / "figures" / Path(nb).stem, seconds.get(Path(nb).stem))
        status = (f"<span class='failed'>failed: {html.escape(s.error)}</span>" if s.error
                  else "<span class='ok'>ran</span>")
        took = f" in {s.seconds:.0f} s" if s.seconds is not None else ""
        link = os.path.relpath(s.notebook, out)
        parts.append(f"<section id='{html.escape(s.name)}'><h2>{html.escape(s.title)}</h2>"
                     f"<div class='meta'>{status}{took} · <a href='{html.escape(link)}'>{html.escape(s.name)}.ipynb</a>"
                     f" · {len(s.figures)} figure{'s' if len(s.figures) != 1 else ''}</div>")
        if s.table_html:
            parts.append(f"<div class='table'>{s.table_html}</div>")
        if s.figures:
            imgs = "".join(f"<img src='{html.escape(os.path.relpath(f, out))}' alt='{html.escape(f.stem)}' "
                           f"title='{html.escape(f.stem)}'>" for f in s.figures)
            parts.append(f"<div class='figures'>{imgs}</div>")
        parts.append("</section>")
    parts.append("</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts))
    return path
