"""results/index.html in a real browser: every figure the page links loads (headless Debian Chromium).

Builds a small results folder the way ``fer-explain notebooks`` does (an executed notebook and a figure
saved by :func:`fer_explain.env.save_figure`), writes the page, serves the folder on localhost and checks
that each ``<img>`` decoded (``naturalWidth > 0``) and each notebook link answers. With
``FER_EXPLAIN_RESULTS`` set to a real results folder (e.g. after the README's main job) it checks that
folder's page instead and saves a screenshot under tests/browser/artifacts/.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import nbformat
import pytest

from fer_explain.results_page import write_index

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def _small_results(folder: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# 00 · tiny"))
    nbformat.write(nb, folder / "00_tiny.ipynb")
    figs = folder / "figures" / "00_tiny"
    figs.mkdir(parents=True)
    for name in ("a", "b"):
        fig = Figure(figsize=(2, 2))
        fig.subplots().plot([0, 1], [1, 0])
        fig.savefig(figs / f"{name}.png")
    write_index(folder, [folder / "00_tiny.ipynb"])
    return folder


def test_every_image_of_the_results_page_loads(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (Debian: apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    given = os.environ.get("FER_EXPLAIN_RESULTS")
    folder = Path(given) if given else _small_results(tmp_path)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html", wait_until="load")
                images = page.eval_on_selector_all(
                    "img", "els => els.map(e => ({src: e.getAttribute('src'), w: e.naturalWidth, ok: e.complete}))")
                assert images, "the page shows no figure"
                broken = [i["src"] for i in images if not (i["ok"] and i["w"] > 0)]
                assert not broken, f"images that did not load: {broken}"
                links = page.eval_on_selector_all("section a", "els => els.map(e => e.getAttribute('href'))")
                assert links and all(page.request.get(page.url.rsplit("/", 1)[0] + "/" + h).ok for h in links)
                if given:
                    shots = Path(__file__).parent / "artifacts"
                    shots.mkdir(exist_ok=True)
                    page.screenshot(path=str(shots / "results_index.png"), full_page=False)
            finally:
                browser.close()
    finally:
        server.shutdown()
