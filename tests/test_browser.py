"""The widget notebooks in real JupyterLab, in real (headless) Chromium.

The test starts its own JupyterLab on 127.0.0.1 over a temporary copy of the notebooks, opens each
notebook that has a live widget, runs all cells, moves a slider (and clicks on a figure), and
checks that the figure's pixels changed and that no widget failed to render. Screenshots go to
``artifacts/browser/``. Without Chromium (``/usr/bin/chromium`` or ``$CHROMIUM``) the tests skip.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
WIDGET_ERRORS = ("Error displaying widget", "model not found", "Failed to load model class")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"browser tests need Chromium at {CHROMIUM}: `sudo apt-get install chromium` "
           "(or set CHROMIUM=/path/to/chromium)",
)


@dataclass(frozen=True)
class WidgetNotebook:
    """A notebook with a live figure, and how to poke it."""

    name: str
    slider: str  # the description label of the slider to move
    canvas_index: int  # which ipympl figure on the page to watch (in page order)
    click_canvas: bool = False  # also click inside that figure


WIDGET_NOTEBOOKS = [
    WidgetNotebook("00_setup_check.ipynb", slider="frequency", canvas_index=0),
    WidgetNotebook("01_gradient_descent.ipynb", slider="lr", canvas_index=0, click_canvas=True),
    WidgetNotebook("03_momentum_and_optim.ipynb", slider="momentum γ", canvas_index=0),
    WidgetNotebook("04_minibatches.ipynb", slider="batch size", canvas_index=0),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lab_settings(folder: Path) -> Path:
    """User settings that keep JupyterLab quiet and read-only: no news, no update check, no autosave."""
    settings = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        # render every cell, so prompts and figures below the fold exist in the page
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for name, values in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server over a copy of notebooks/ (so nothing in the repository changes)."""
    workdir = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", workdir / "notebooks")
    shutil.copytree(ROOT / "figures", workdir / "figures")
    shutil.copytree(ROOT / "bench", workdir / "bench")  # lesson 04 reads a benchmark record from ../bench
    port, token = free_port(), secrets.token_hex(16)
    env = os.environ | {"JUPYTERLAB_SETTINGS_DIR": str(lab_settings(workdir / "settings")),
                        "JUPYTER_CONFIG_DIR": str(workdir / "config")}
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workdir}",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (workdir / "lab.log").open("w")
    server = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"JupyterLab did not start:\n{(workdir / 'lab.log').read_text()[-3000:]}")
        time.sleep(0.5)
    yield base, token
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def list_kernels(base: str, token: str) -> list[dict]:
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=5) as response:
        return json.load(response)


def kernels_idle(base: str, token: str) -> bool:
    """True when this notebook's kernel (the only one: each test shuts its kernel down) is idle."""
    kernels = list_kernels(base, token)
    return len(kernels) == 1 and kernels[0]["execution_state"] == "idle"


def shutdown_kernels(base: str, token: str) -> None:
    for kernel in list_kernels(base, token):
        request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request, timeout=10).close()


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.5)


def prompts(page) -> list[str]:
    cells = page.locator(".jp-NotebookPanel:visible .jp-CodeCell .jp-InputPrompt")
    return [p.strip() for p in cells.all_inner_texts()]


def run_all_cells(page, base: str, token: str, timeout_s: float = 150) -> None:
    """Run → Run All Cells once the kernel is up, then wait for every cell's number and an idle kernel."""
    wait_until(lambda: kernels_idle(base, token), 60, "the kernel to start")
    page.locator(".jp-NotebookPanel .jp-Spinner").wait_for(state="detached", timeout=60_000)
    page.locator(".jp-Notebook .jp-Cell").first.click()  # make the notebook the current widget
    for _attempt in range(3):
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        try:
            wait_until(lambda: any(p != "[ ]:" for p in prompts(page)), 10, "the first cell to start")
            break
        except pytest.fail.Exception:
            page.keyboard.press("Escape")
    wait_until(lambda: all(p not in ("[ ]:", "[*]:", "") for p in prompts(page)) and kernels_idle(base, token),
               timeout_s, "every cell to run")


def canvas(page, index: int):
    return page.locator(".jupyter-matplotlib-canvas-div:visible").nth(index)


def wait_for_new_pixels(locator, before: bytes, timeout_s: float = 10) -> bytes:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        after = locator.screenshot()
        if after != before:
            return after
        time.sleep(0.25)
    return before


@pytest.mark.parametrize("notebook", WIDGET_NOTEBOOKS, ids=lambda n: n.name)
def test_widgets_render_and_respond(jupyterlab, browser, notebook):
    base, token = jupyterlab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = notebook.name.removesuffix(".ipynb")
    page = browser.new_page(viewport={"width": 1500, "height": 1300})
    try:
        # a fresh workspace per notebook, so no other notebook's tab is restored beside it
        url = f"{base}/lab/workspaces/{stem}/tree/notebooks/{notebook.name}?reset&token={token}"
        page.goto(url, wait_until="domcontentloaded")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        run_all_cells(page, base, token)

        figure = canvas(page, notebook.canvas_index)
        figure.wait_for(state="visible", timeout=30_000)
        figure.scroll_into_view_if_needed()
        time.sleep(1.0)  # let the first frame arrive
        before = figure.screenshot()
        page.screenshot(path=str(ARTIFACTS / f"{stem}-before.png"))

        slider = page.locator(".widget-slider", has=page.locator("label", has_text=notebook.slider)).first
        slider.locator(".noUi-handle").click()
        for _ in range(6):
            page.keyboard.press("ArrowLeft")
        after_slider = wait_for_new_pixels(figure, before)
        assert after_slider != before, f"{notebook.name}: moving '{notebook.slider}' did not change the figure"

        if notebook.click_canvas:
            box = figure.bounding_box()
            figure.click(position={"x": box["width"] * 0.28, "y": box["height"] * 0.7})
            after_click = wait_for_new_pixels(figure, after_slider)
            assert after_click != after_slider, f"{notebook.name}: clicking the figure did not change it"

        figure.screenshot(path=str(ARTIFACTS / f"{stem}-figure.png"))
        page.locator(".jp-OutputArea-output", has=figure).first.screenshot(path=str(ARTIFACTS / f"{stem}-widget.png"))
        page.screenshot(path=str(ARTIFACTS / f"{stem}-after.png"), full_page=True)
        text = "\n".join(page.locator(".jp-NotebookPanel:visible .jp-OutputArea").all_inner_texts())
        for error in WIDGET_ERRORS:
            assert error not in text, f"{notebook.name}: the page shows '{error}'"
        assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                has_text="Traceback").count()
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{stem}-failure.png"))
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
        if dialogs:
            pytest.fail(f"{notebook.name}: JupyterLab showed a dialog: {dialogs}")
        raise
    finally:
        page.close()
        shutdown_kernels(base, token)
