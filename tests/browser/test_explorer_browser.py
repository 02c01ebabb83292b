"""notebooks/08_explorer.ipynb in a real browser: JupyterLab on localhost, headless Chromium via Playwright.

The test starts JupyterLab (token off, no browser, root = a temporary copy of the notebook), opens the
notebook, waits for the kernel to report idle (running cells earlier silently does nothing), runs all
cells, waits for the explorers' widgets to render (their own CSS classes, not the "Loading widget..."
fallback), clicks a confusion cell and picks a method in a dropdown, checks that the page answers
(the samples caption and the explanation caption change), saves screenshots to
``$FER_EXPLAIN_ARTIFACTS`` or ``tests/browser/artifacts/``, and shuts the server down in a ``finally``.

It needs ``/usr/bin/chromium`` (Debian's ``chromium`` package) and the ``playwright`` Python package
(never ``playwright install``: the system Chromium is used), and skips with the reason when either is
missing. When the shipped ``checkpoints/synthetic/deep_emotion`` does not exist yet, a one-epoch
Deep-Emotion checkpoint is trained into a temporary ``FER_EXPLAIN_CHECKPOINTS`` folder first.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "08_explorer.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
CHECKPOINT = "synthetic/deep_emotion"

KERNEL_IDLE_JS = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  const kernel = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && w.sessionContext.isReady;
}"""


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("FER_EXPLAIN_ARTIFACTS") or Path(__file__).parent / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _checkpoints_env(tmp: Path) -> dict[str, str]:
    """``FER_EXPLAIN_CHECKPOINTS`` for the kernel: the shipped folder when it has the checkpoint,
    else a temporary folder with a one-epoch Deep-Emotion trained on 140 synthetic faces."""
    from fer_explain.train import list_shipped

    if CHECKPOINT in list_shipped():
        return {}
    import torch

    from fer_explain.data.dataset import FaceDataset
    from fer_explain.data.synthetic import default_synthetic_manifest
    from fer_explain.models import create_model
    from fer_explain.train import fit, get_recipe

    torch.set_num_threads(1)
    torch.manual_seed(0)
    manifest = default_synthetic_manifest().select(split="train")
    manifest = manifest.replace(manifest.df.iloc[:140])
    model = create_model("deep_emotion", num_classes=7)
    spec = model.input_spec
    ds = FaceDataset(manifest, size=spec.size, channels=spec.channels, normalize=(spec.mean, spec.std),
                     cache_dir=False, progress=False)
    folder = tmp / "checkpoints"
    fit(model, ds, None, recipe=get_recipe("quick", epochs=1), checkpoint_path=folder / CHECKPOINT,
        progress=False, classes="basic7")
    return {"FER_EXPLAIN_CHECKPOINTS": str(folder)}


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "api/status", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer at {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop_server(proc: subprocess.Popen, url: str) -> None:
    """Ask the server to shut down (it shuts its kernels down too), then make sure its process group ends."""
    if proc.poll() is None:
        try:
            urllib.request.urlopen(urllib.request.Request(url + "api/shutdown", method="POST"), timeout=5)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)  # the group this test started (start_new_session=True)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_explorer_notebook_renders_and_answers_clicks(tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found (Debian: apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    env = {
        **os.environ,
        **_checkpoints_env(tmp_path),
        "OMP_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        "MPLBACKEND": "Agg",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter_config"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab_settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab_workspaces"),
    }
    # no "get Jupyter news?" toast over the widgets (and no request for it)
    news = tmp_path / "lab_settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}\n')
    env.pop("FER_EXPLAIN_DATA", None)  # the synthetic default set: small and always there
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           "--ServerApp.port_retries=0", "--ServerApp.open_browser=False", "--IdentityProvider.token=",
           "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
           "--ServerApp.allow_root=True", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    shots = artifacts_dir()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_server(url, proc, log)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                page.set_default_timeout(120_000)
                page.goto(url + f"lab/tree/{NOTEBOOK.name}")
                page.wait_for_selector(".jp-Notebook .jp-Cell")
                page.wait_for_function(KERNEL_IDLE_JS, timeout=120_000)
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

                # the widgets render (not the "Loading widget..." fallback)
                cells = page.locator(".fer-confusion-explorer .fer-confusion-cell")
                cells.first.wait_for(state="visible", timeout=180_000)
                assert cells.count() == 49
                page.locator(".fer-explanation-explorer .widget-button, .fer-explanation-explorer .widget-toggle-button"
                             ).first.wait_for(state="visible")
                page.wait_for_function(KERNEL_IDLE_JS, timeout=120_000)  # every cell has run
                assert page.locator(".fer-explanation-explorer").count() == 1
                assert page.get_by_text("Loading widget...").count() == 0
                errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                                      ).all_inner_texts()
                assert not [e for e in errors if "Traceback" in e or "Error" in e], errors

                # click a non-empty cell other than the pre-selected one: the samples view follows
                caption = page.locator(".fer-samples-caption")
                before = caption.inner_text()
                assert before.startswith("true ")
                image_before = page.locator(".fer-samples-image").get_attribute("src")
                nonzero = [b for b in cells.all() if b.inner_text().strip() != "0"]
                target = next(b for b in reversed(nonzero) if b.get_attribute("title") and
                              not before.startswith(b.get_attribute("title").split(":")[0]))
                title = target.get_attribute("title")  # "true anger, predicted fear: 45 (..)"
                target.scroll_into_view_if_needed()
                target.click()
                page.wait_for_function(
                    "(old) => { const c = document.querySelector('.fer-samples-caption');"
                    " return c && c.innerText !== old; }", arg=before, timeout=60_000)
                after = caption.inner_text()
                true_name, pred_name = title.split(":")[0].replace("true ", "").split(", predicted ")
                assert after.startswith(f"true {true_name}, predicted {pred_name}: {title.split(': ')[1].split(' ')[0]} face")
                assert page.locator(".fer-samples-image").get_attribute("src") != image_before
                page.locator(".fer-confusion-explorer").screenshot(path=str(shots / "confusion_explorer.png"))

                # pick a method in the explanation explorer's dropdown: the caption follows
                select = page.locator(".fer-explanation-explorer select").filter(
                    has=page.locator("option", has_text="Saliency"))
                select.scroll_into_view_if_needed()
                select.select_option(label="Saliency")
                page.wait_for_function(
                    "() => { const c = document.querySelector('.fer-explanation-explorer .fer-caption');"
                    " return c && c.innerText.startsWith('Saliency'); }", timeout=60_000)
                page.locator(".fer-explanation-explorer").screenshot(path=str(shots / "explanation_explorer.png"))
                page.screenshot(path=str(shots / "explorer_notebook.png"))
            finally:
                browser.close()
    finally:
        _stop_server(proc, url)
    assert proc.poll() is not None
