"""Every notebook, run in the JupyterLab that `./course lab` starts, in real (headless) Chromium.

One server (``tests/browser_lab.py``: `./course lab` on a copy of the checkout) serves every notebook in
``notebooks/``. For each notebook the test opens it in a fresh workspace, runs all cells and checks that
every image loaded, the server answered no request with 404, and no widget failed to render or cell
raised. Then, for every explorer (an output with a live ipympl figure and its controls), at 1280×720 and
at 800×900, both with the file browser open as a fresh workspace shows it: every control is visible and
usable (a slider's track at least 120 px wide), the figures are not cut off, and at 1280×720 moving the
first slider with the keyboard redraws the figure. Screenshots and the measurements go to
``artifacts/browser/``. Without Chromium (``/usr/bin/chromium`` or ``$CHROMIUM``) the tests skip.

A cell that raises fails the test, so in a plain run this test is what runs each English notebook: nbval leaves
out the notebooks whose browser test is selected (conftest.py), and runs them when Chromium is missing.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from lessons_src.editions import load_catalog
from tests.browser_lab import CHROMIUM, ROOT, chromium, course_lab, not_found

ARTIFACTS = ROOT / "artifacts" / "browser"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
VIEWPORTS = ({"width": 1280, "height": 720}, {"width": 800, "height": 900})
RUN_TIMEOUT_S = 480  # lesson 08 trains for about half a minute on 2 idle cores; the test machine is often busy
MIN_TRACK_PX = 120  # a slider's track narrower than this cannot be set with any precision
# How many explorers each notebook shows; a notebook not named here has none. An explorer that does not
# render is missed by the layout checks, so its absence must fail.
EXPLORERS = {"00_setup_check": 1, "01_gradient_descent": 1, "04_rates_and_adam": 2, "06_gradient_noise": 1,
             "11_learning_rate": 1, "13_loss_landscape": 1}
BESIDE_WHEN_WIDE = {"01_gradient_descent"}  # its 3-D panel must sit beside the 2-D panels on a wide screen
CLICK_TO_START = {"01_gradient_descent"}  # a click on this notebook's first figure starts a new path there
WIDGET_ERRORS = ("Error displaying widget", "model not found", "Failed to load model class")
# what a widget shows when JupyterLab cannot render it: its Python repr, e.g. `Canvas(toolbar=…)`
CELL_ERROR = re.compile(r"Traceback|^UsageError", re.M)  # a cell that raised, or a magic IPython rejected
RAW_WIDGET = re.compile(r"^\s*(Canvas\(|[A-Z]\w*\(children=)")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"browser tests need Chromium at {CHROMIUM}: `sudo apt-get install chromium` "
           "(or set CHROMIUM=/path/to/chromium)",
)

PANEL = ".jp-NotebookPanel:visible"
# an explorer: one cell output holding an ipympl figure and at least one control
EXPLORER = (f"{PANEL} .jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output"
            ":has(.jupyter-matplotlib-canvas-div)"
            ":has(.widget-slider, .widget-button, .widget-checkbox, .widget-dropdown)")
CANVAS = ".jupyter-matplotlib-canvas-div"
TOAST = ".Toastify__toast"  # JupyterLab's notifications (react-toastify)

# Waits for every <img> in the notebook (scrolled to, since the browser may load them lazily) and reports each.
IMAGES_JS = """async (panel) => {
  const report = [];
  for (const img of panel.querySelectorAll('img')) {
    img.scrollIntoView({block: 'center'});
    if (!img.complete) {
      await new Promise(done => {
        img.addEventListener('load', done, {once: true});
        img.addEventListener('error', done, {once: true});
        setTimeout(done, 15000);
      });
    }
    report.push({src: (img.getAttribute('src') || '').slice(0, 100), alt: img.alt, naturalWidth: img.naturalWidth});
  }
  return report;
}"""

# Measures one explorer's layout. A box is cut off where an ancestor that hides overflow ends before the
# box does; scrolling the notebook up and down is fine (the notebook's own scroller is ignored vertically).
# A figure may also scroll sideways, but only in a scroll box of its own, whose scrollbar sits under it;
# a control must be visible as it is, and on top (the point at its centre belongs to it).
LAYOUT_JS = """(output) => {
  const outer = output.closest('.jp-WindowedPanel-outer');
  const CONTROLS = '.widget-button, .widget-toggle-button, .widget-checkbox, .widget-dropdown, '
                 + '.widget-toggle-buttons, .widget-text, .widget-select';
  const round = r => ({x: Math.round(r.left), y: Math.round(r.top), width: Math.round(r.width),
                       height: Math.round(r.height)});
  const name = e => e.tagName.toLowerCase() + [...e.classList].slice(0, 4).map(c => '.' + c).join('');
  const text = e => (e.textContent || '').replace(/\u200b/g, '').trim();
  const label = e => {  // the first piece of text the control shows: its description, or its button's words
    const parts = [...e.querySelectorAll('.widget-label, .widget-label-basic, button')].map(text);
    return (parts.find(Boolean) || text(e)).slice(0, 40);
  };
  // measure as the page first shows it: clicks and focus may have scrolled boxes sideways
  for (let a = output; a && a !== outer; a = a.parentElement) a.scrollLeft = 0;
  for (const e of output.querySelectorAll('*')) if (e.scrollLeft) e.scrollLeft = 0;
  function cuts(e, isFigure) {  // the innermost ancestor that cuts e off, or null
    let r = e.getBoundingClientRect();
    for (let a = e.parentElement; a; a = a.parentElement) {
      const style = getComputedStyle(a), box = a.getBoundingClientRect();
      const left = box.left + a.clientLeft, top = box.top + a.clientTop;
      const right = left + a.clientWidth, bottom = top + a.clientHeight;
      const cutX = style.overflowX !== 'visible' && (r.left < left - 1 || r.right > right + 1);
      const cutY = a !== outer && style.overflowY !== 'visible' && (r.top < top - 1 || r.bottom > bottom + 1);
      if (cutX || cutY) {
        const scrolls = (!cutX || ['auto', 'scroll'].includes(style.overflowX))
                     && (!cutY || ['auto', 'scroll'].includes(style.overflowY));
        const ownBox = a.querySelectorAll('.jupyter-matplotlib-canvas-div').length === 1
                    && !a.querySelector('.widget-slider, ' + CONTROLS);
        if (!(isFigure && scrolls && ownBox)) {
          return {by: name(a), visible: round({left, top, width: right - left, height: bottom - top}),
                  overflow: style.overflowX + ' / ' + style.overflowY, scrolls,
                  scrollSize: [a.scrollWidth, a.scrollHeight]};
        }
        r = {left, top, right, bottom, width: right - left, height: bottom - top};  // what its scroll box shows
      }
      if (a === outer) break;
    }
    if (r.left < -1 || r.right > innerWidth + 1) {
      return {by: 'the window', visible: {x: 0, y: 0, width: innerWidth, height: innerHeight}};
    }
    return null;
  }
  function onTop(e) {  // scroll the notebook (only up or down) until e is in view, then hit-test its centre
    let r = e.getBoundingClientRect();
    const o = outer.getBoundingClientRect();
    outer.scrollTop += (r.top + r.height / 2) - (o.top + o.height / 2);
    r = e.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return !!hit && (e.contains(hit) || hit.contains(e));
  }
  const shown = selector => [...output.querySelectorAll(selector)].filter(e => e.getClientRects().length);
  const sliders = shown('.widget-slider').map(s => {
    const track = s.querySelector('.noUi-target');
    const r = s.getBoundingClientRect();
    const item = {label: label(s), box: round(r), track: track ? round(track.getBoundingClientRect()) : null,
                  cut: cuts(s, false)};
    item.onTop = !!track && track.getBoundingClientRect().width > 0 && onTop(track);
    return item;
  });
  const controls = shown(CONTROLS).map(c => {
    const r = c.getBoundingClientRect();
    return {kind: [...c.classList].find(k => k.startsWith('widget-') && k !== 'widget-inline-hbox'),
            label: label(c), box: round(r), cut: cuts(c, false), onTop: r.width > 0 && r.height > 0 && onTop(c)};
  });
  const figures = shown('.jupyter-matplotlib-canvas-div').map(f => {
    const canvas = f.querySelector('canvas');
    return {box: round(f.getBoundingClientRect()),
            canvas: canvas ? {...round(canvas.getBoundingClientRect()), pixels: [canvas.width, canvas.height]} : null,
            cut: cuts(f, true)};
  });
  return {sliders, controls, figures};
}"""


def layout_problems(where: str, layout: dict) -> list[str]:
    """What is wrong with one explorer's measured layout, one line per fault, with the numbers."""
    problems = []
    for slider in layout["sliders"]:
        what = f"{where}: slider '{slider['label']}'"
        if slider["track"] is None:
            problems.append(f"{what} has no track (.noUi-target)")
        elif slider["track"]["width"] < MIN_TRACK_PX:
            problems.append(f"{what}: track {slider['track']['width']} px wide (< {MIN_TRACK_PX}), "
                            f"slider box {slider['box']}")
        elif not slider["onTop"]:
            problems.append(f"{what}: its track is covered by another element")
        if cut := slider["cut"]:
            problems.append(f"{what} at {slider['box']} is cut off by {cut['by']}, which shows {cut['visible']}")
    for control in layout["controls"]:
        what = f"{where}: {control['kind']} '{control['label']}'"
        if control["box"]["width"] < 10 or control["box"]["height"] < 10:
            problems.append(f"{what} is too small to use: {control['box']}")
        elif not control["onTop"]:
            problems.append(f"{what} at {control['box']} is covered by another element")
        if cut := control["cut"]:
            problems.append(f"{what} at {control['box']} is cut off by {cut['by']}, which shows {cut['visible']}")
    for index, figure in enumerate(layout["figures"]):
        what = f"{where}: figure {index}"
        if figure["canvas"] is None or min(figure["box"]["width"], figure["box"]["height"]) < 50:
            problems.append(f"{what} has no visible canvas: {figure}")
        if cut := figure["cut"]:
            how = "is cut off by" if not cut.get("scrolls") else "scrolls only together with other content in"
            problems.append(f"{what} at {figure['box']} {how} {cut['by']}, which shows {cut['visible']}"
                            + (f" of {cut['scrollSize']} px" if cut.get("scrolls") else ""))
    return problems


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`./course lab` on a copy of the checkout: one server for every notebook."""
    with course_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright.sync_api")
    with chromium() as chromium_browser:
        yield chromium_browser


@pytest.fixture(scope="module")
def lab_pages(browser):
    """One browser context for the series' notebooks: each opens in a page of its own, and JupyterLab's scripts,
    cached after the first, are not fetched and compiled again for every notebook."""
    context = browser.new_context(viewport=VIEWPORTS[0])
    yield context
    context.close()


def wait_until(condition, timeout_s: float, what: str, interval_s: float = 0.5, detail=lambda: "") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout_s`` naming ``what`` (and ``detail()``)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what} {detail()}".rstrip())
        time.sleep(interval_s)


def kernel_idle(lab, path: str) -> bool:
    """The kernel of the notebook at ``path`` (relative to the server's root) is up and idle (another notebook's
    kernel, one still stopping, is left out)."""
    kernels = [s["kernel"] for s in lab.api("sessions") if s["path"] == path and s.get("kernel")]
    return len(kernels) == 1 and kernels[0]["execution_state"] == "idle"


def stop_every_kernel(lab, timeout_s: float, what: str) -> None:
    """Shut down the server's kernels until none is left (one still starting shows up only after a first shutdown)."""
    deadline = time.monotonic() + timeout_s
    while lab.kernels():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}: {lab.kernels()}")
        lab.shutdown_kernels()
        time.sleep(0.5)


def prompts(page) -> list[str]:
    return [p.strip() for p in page.locator(f"{PANEL} .jp-CodeCell .jp-InputPrompt").all_inner_texts()]


def unfinished(page, lab) -> str:
    """Which code cells have not run (number in page order: prompt, first line) and the kernel's state."""
    cells = page.locator(f"{PANEL} .jp-CodeCell")
    waiting = [f"code cell {i}: {p!r} {cells.nth(i).locator('.jp-InputArea-editor').inner_text()[:60]!r}"
               for i, p in enumerate(prompts(page)) if p in ("[ ]:", "[*]:", "")]
    return "; ".join(waiting[:5]) + f" ({len(waiting)} cells); kernels: {lab.kernels()}"


def first_error(page) -> str | None:
    """The text of the first traceback or IPython usage error on the page (JupyterLab shows a cell's error as
    stderr), if any: this test, not nbval, is what runs the notebook's cells in a plain test run (conftest.py)."""
    stderr = page.locator(f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                          has_text=CELL_ERROR)
    return stderr.first.inner_text()[-2000:] if stderr.count() else None


def run_all(page, lab, path: str, run_menu: str = "Run") -> float:
    """Run → Run All Cells once the kernel of the notebook at ``path`` is up (``run_menu``: the Run menu's name in
    the interface's language); wait for every cell's number and an idle kernel."""
    wait_until(lambda: kernel_idle(lab, path), 120, "the kernel to start")
    page.locator(f"{PANEL} .jp-Spinner").wait_for(state="detached", timeout=60_000)
    page.locator(f"{PANEL} .jp-Cell").first.click()  # make the notebook the current widget
    for _attempt in range(3):
        page.locator(".lm-MenuBar-item", has_text=run_menu).first.click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        try:
            wait_until(lambda: any(p != "[ ]:" for p in prompts(page)), 20, "the first cell to start")
            break
        except pytest.fail.Exception:
            page.keyboard.press("Escape")
    start = time.monotonic()
    stalled_since = None

    def finished() -> bool:
        nonlocal stalled_since
        if error := first_error(page):
            pytest.fail(f"a cell raised:\n{error}")
        now, idle = prompts(page), kernel_idle(lab, path)
        if idle and "[*]:" not in now and "[ ]:" in now:  # Run All stopped before the end
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 20:
                pytest.fail(f"Run All stopped: {unfinished(page, lab)}")
        else:
            stalled_since = None
        return all(p not in ("[ ]:", "[*]:", "") for p in now) and idle

    wait_until(finished, RUN_TIMEOUT_S, "every cell to run", interval_s=1, detail=lambda: unfinished(page, lab))
    return time.monotonic() - start


# counts, per canvas, the images drawn on it: a figure that keeps drawing while nobody touches it is a loop
FRAME_COUNTER = """
(() => {
  window.__frames = new Map();
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function () {
    window.__frames.set(this.canvas, (window.__frames.get(this.canvas) || 0) + 1);
    return draw.apply(this, arguments);
  };
})();
"""
IDLE_WINDOW_S = 1.5


def redrawing_when_idle(page) -> list[str]:
    """Figures that drew new frames during IDLE_WINDOW_S s in which nothing was touched."""
    page.evaluate("window.__frames.clear()")
    time.sleep(IDLE_WINDOW_S)
    counts = page.evaluate("""[...window.__frames.entries()].filter(([c]) => c.isConnected).map(([c, n]) => {
        const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
        return {frames: n, cell: cells.indexOf(c.closest('.jp-Cell'))};
    })""")
    return [f"the figure in cell {c['cell']} drew {c['frames']} frames in {IDLE_WINDOW_S:g} s while nothing changed"
            for c in counts if c["frames"] >= 3]


def output_faults(page) -> list[str]:
    """Widgets that failed to render, raw widget reprs, tracebacks on stderr."""
    faults = []
    text = "\n".join(page.locator(f"{PANEL} .jp-OutputArea").all_inner_texts())
    faults += [f"the page shows '{error}'" for error in WIDGET_ERRORS if error in text]
    for output in page.locator(f"{PANEL} .jp-OutputArea-output[data-mime-type='text/plain']").all_inner_texts():
        if RAW_WIDGET.match(output):
            faults.append(f"a widget shows as text, not rendered: {output[:120]!r}")
    stderr = page.locator(f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    faults += [f"an error on stderr:\n{text[-1500:]}" for text in stderr.all_inner_texts() if CELL_ERROR.search(text)]
    return faults


def open_file_browser(page) -> None:
    """The left panel open on the file browser (a fresh workspace opens it; make sure)."""
    if not page.locator("#jp-left-stack #filebrowser").is_visible():
        page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="filebrowser"]').click()
    page.locator("#jp-left-stack #filebrowser").wait_for(state="visible", timeout=10_000)


def settle(page) -> None:
    """Let JupyterLab and the widgets lay themselves out after a resize."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    time.sleep(1.0)


def changed_pixels(explorer, before: list[bytes], timeout_s: float = 15) -> bool:
    """Whether any figure of the explorer shows other pixels than ``before`` within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if figure_pixels(explorer) != before:
            return True
        time.sleep(0.25)
    return False


def figure_pixels(explorer) -> list[bytes]:
    return [figure.screenshot(timeout=10_000) for figure in explorer.locator(CANVAS).all() if figure.is_visible()]


def settled_pixels(explorer, timeout_s: float = 10) -> list[bytes]:
    """The explorer's figures once two looks 0.3 s apart agree (a frame still arriving would fake a change)."""
    deadline, last = time.monotonic() + timeout_s, figure_pixels(explorer)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = figure_pixels(explorer)
        if now == last:
            return now
        last = now
    return last


def poke(page, stem: str, index: int, explorer) -> list[str]:
    """Move the explorer's first slider with the keyboard (and click the figure where that does something)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    problems = []
    slider = explorer.locator(".widget-slider").first
    readout = slider.locator(".widget-readout")
    before, value = settled_pixels(explorer), readout.inner_text()
    if not before:
        return [f"explorer {index}: no figure to watch (none visible)"]
    slider.locator(".noUi-handle").focus()  # the keyboard, not the mouse: the layout checks cover the mouse
    for key in ("ArrowLeft", "ArrowRight"):  # whichever way the slider can still move
        for _ in range(6):
            page.keyboard.press(key)
        if readout.inner_text() != value:
            break
    label = slider.locator(".widget-label").inner_text()
    if readout.inner_text() == value:
        problems.append(f"explorer {index}: the keyboard did not move slider '{label}'")
    elif not changed_pixels(explorer, before):
        problems.append(f"explorer {index}: moving '{label}' from {value} to {readout.inner_text()} "
                        "did not change the figure")
    if stem in CLICK_TO_START and index == 0:
        figure = explorer.locator(CANVAS).first
        before = settled_pixels(explorer)
        box = figure.bounding_box()
        try:
            figure.click(position={"x": box["width"] * 0.28, "y": box["height"] * 0.7}, timeout=10_000)
        except PlaywrightTimeout:
            problems.append(f"explorer {index}: the figure cannot be clicked (covered or moving)")
        else:
            if not changed_pixels(explorer, before):
                problems.append(f"explorer {index}: clicking the figure did not change it")
    return problems


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_in_course_lab(lab, lab_pages, notebook: Path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = notebook.stem
    for old in ARTIFACTS.glob(f"{stem}-*"):
        old.unlink()
    log_start = lab.log_size()
    page = lab_pages.new_page()
    page.add_init_script(FRAME_COUNTER)
    report: dict = {"notebook": notebook.name}
    try:
        # a fresh workspace per notebook, so no other notebook's tab is restored beside it
        page.goto(lab.url(f"/lab/workspaces/{stem}/tree/notebooks/{notebook.name}?reset"),
                  wait_until="domcontentloaded")
        page.locator(f"{PANEL} .jp-Cell").first.wait_for(timeout=120_000)
        report["run_s"] = round(run_all(page, lab, f"notebooks/{notebook.name}"), 1)
        report["threads"] = [text for text in page.locator(f"{PANEL} .jp-OutputArea-output").all_inner_texts()
                             if "threads" in text][:1]  # the setup cell's line: how many threads the lesson used

        explorers = page.locator(EXPLORER)
        expected = EXPLORERS.get(stem, 0)
        deadline = time.monotonic() + 60  # widgets render after their cell has finished
        while explorers.count() < expected and time.monotonic() < deadline:
            time.sleep(0.5)
        settle(page)
        images = page.locator(PANEL).evaluate(IMAGES_JS)
        report["images"] = images
        broken = [image for image in images if image["naturalWidth"] == 0]
        faults = [f"image did not load: {image}" for image in broken] + output_faults(page)
        if page.locator(CANVAS).count():
            faults += redrawing_when_idle(page)
        # what a new user would see pop up over the notebook (news, update checks, errors): nothing
        faults += [f"a notification popped up: {text!r}" for text in page.locator(TOAST).all_inner_texts()]
        if explorers.count() != expected:
            faults.append(f"{explorers.count()} explorers on the page, expected {expected} "
                          "(a new explorer? add it to EXPLORERS)")

        layout_faults = []
        for viewport in VIEWPORTS if expected else ():  # layouts and pokes concern explorers only
            size = f"{viewport['width']}x{viewport['height']}"
            page.set_viewport_size(viewport)
            open_file_browser(page)
            settle(page)
            for index in range(explorers.count()):
                explorer = explorers.nth(index)
                explorer.scroll_into_view_if_needed()
                layout = explorer.evaluate(LAYOUT_JS)
                report[f"{size} explorer {index}"] = layout
                layout_faults += layout_problems(f"{size} explorer {index}", layout)
                explorer.scroll_into_view_if_needed()
                explorer.screenshot(path=str(ARTIFACTS / f"{stem}-{size}-explorer{index}.png"))
                if viewport is VIEWPORTS[0]:
                    faults += poke(page, stem, index, explorer)
            if explorers.count():
                explorers.first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / f"{stem}-{size}.png"))
        if stem in BESIDE_WHEN_WIDE:  # a wide screen (file browser still open): the 3-D panel beside the 2-D one
            page.set_viewport_size({"width": 1920, "height": 1080})
            settle(page)
            explorers.first.scroll_into_view_if_needed()
            tops = [box["y"] for box in (c.bounding_box() for c in explorers.first.locator(CANVAS).all()) if box]
            report["1920x1080 canvas tops"] = tops
            if len(tops) < 2 or abs(tops[1] - tops[0]) > 5:
                layout_faults.append(f"1920x1080: the 3-D panel is not beside the 2-D one (canvas tops {tops})")
        if explorers.count():  # the README's screenshot: a projector's width, tall enough for a whole explorer
            page.set_viewport_size({"width": 1280, "height": 1500})
            settle(page)
            explorers.first.scroll_into_view_if_needed()
            explorers.first.screenshot(path=str(ARTIFACTS / f"{stem}-widget.png"))

        missing = not_found(lab.log(log_start))
        faults += [f"the server answered 404 for {url}" for url in missing]
        report["faults"], report["layout_faults"] = faults, layout_faults
        assert not faults + layout_faults, f"{notebook.name}:\n" + "\n".join(faults + layout_faults)
    except (Exception, pytest.fail.Exception):
        page.screenshot(path=str(ARTIFACTS / f"{stem}-failure.png"))
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
        if dialogs:
            pytest.fail(f"{notebook.name}: JupyterLab showed a dialog: {dialogs}")
        raise
    finally:
        (ARTIFACTS / f"{stem}-report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
        page.close()
        lab.shutdown_kernels()
        wait_until(lambda: not lab.kernels(), 30, "the kernel to shut down")


# --- the translated editions ------------------------------------------------------------------------------------
# JupyterLab's File and Run menus in each language (its official language packs), and words of the 01 explorer's
# readout in the edition's language (lessons_src/messages)
EDITIONS = {"zh": {"menus": ("文件", "运行"), "readout": "步之后"},
            "ja": {"menus": ("ファイル", "実行"), "readout": "ステップ後"}}


@pytest.mark.parametrize("lang", sorted(EDITIONS))
def test_a_translated_edition_in_course_lab_with_the_interface_in_its_language(tmp_path, browser, lang):
    """`./course lab --lang LANG` opens the edition's lesson 00 with JupyterLab in that language; its lesson 01
    runs all, its figures load, its explorer answers the keyboard and reads out in that language."""
    words = EDITIONS[lang]
    folder = f"notebooks/{lang}"
    with course_lab(tmp_path, lang=lang) as lab:
        page = browser.new_page(viewport=VIEWPORTS[0])
        page.add_init_script(FRAME_COUNTER)
        stem = f"{lang}-01_gradient_descent"
        try:
            page.goto(lab.url("/"), wait_until="domcontentloaded")  # the start page ./course lab --lang names
            page.locator(f"{PANEL} .jp-Cell").first.wait_for(timeout=120_000)
            menus = page.locator(".lm-MenuBar-item").all_inner_texts()
            assert all(menu in menus for menu in words["menus"]), f"the menus are not in {lang}: {menus}"
            title = page.locator(f"{PANEL} .jp-MarkdownCell h1").first.inner_text()
            want = load_catalog(lang, "00_setup_check")["cells"]
            assert any(title.rstrip("¶ ").strip() in entry["text"] for entry in want.values()), title
            page.goto("about:blank")  # leave lesson 00, so that nothing starts its kernel again
            stop_every_kernel(lab, 60, "lesson 00's kernel to stop")
            log_start = lab.log_size()
            page.goto(lab.url(f"/lab/workspaces/{stem}/tree/{folder}/01_gradient_descent.ipynb?reset"),
                      wait_until="domcontentloaded")
            page.locator(f"{PANEL} .jp-Cell").first.wait_for(timeout=120_000)
            run_all(page, lab, f"{folder}/01_gradient_descent.ipynb", run_menu=words["menus"][1])
            explorers = page.locator(EXPLORER)
            wait_until(lambda: explorers.count() == EXPLORERS["01_gradient_descent"], 60, "the explorer")
            settle(page)
            images = page.locator(PANEL).evaluate(IMAGES_JS)
            faults = [f"image did not load: {image}" for image in images if image["naturalWidth"] == 0]
            faults += output_faults(page) + redrawing_when_idle(page)
            faults += poke(page, "01_gradient_descent", 0, explorers.first)
            if words["readout"] not in explorers.first.inner_text():
                faults.append(f"the explorer's readout is not in {lang}: {explorers.first.inner_text()[:300]!r}")
            faults += [f"the server answered 404 for {url}" for url in not_found(lab.log(log_start))]
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            explorers.first.screenshot(path=str(ARTIFACTS / f"{stem}-explorer.png"))
            assert images and not faults, f"{folder}/01_gradient_descent.ipynb:\n" + "\n".join(faults)
        except (Exception, pytest.fail.Exception):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{stem}-failure.png"))
            raise
        finally:
            page.close()
