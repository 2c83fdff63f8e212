"""What a class sees: time from a key press on an explorer's slider to the figure's pixels changing.

Starts JupyterLab as a user does (``./course lab``, through the browser tests' ``course_lab``) over a
throwaway copy of the repository (nothing here is written but ``bench/browser_latency.json``),
opens each explorer notebook in headless Chromium, runs all cells, then for each control focuses
the slider's handle and presses an arrow key 20 times, waiting for each frame. Every time is taken
in the page with ``performance.now()``: at the keydown, when ipympl receives the PNG (its blob
URL is made), and when the ipympl canvas is drawn with pixels that differ from the last frame.
Then a fast drag (key presses every 25 ms) checks for a backlog: how long after the last press
the canvas shows the frame that the final value alone draws. A last "control", the floor, is a
slider that recolours a 60 px figure in a scratch notebook: the time Jupyter, ipywidgets and ipympl
take for a frame that costs nothing to compute (it is not an explorer; the target is not applied).

Run: .venv/bin/python bench/browser_latency.py  (needs Chromium at /usr/bin/chromium or $CHROMIUM)
BENCH_NOTEBOOKS=01 measures only the controls of notebooks whose name starts with 01. BENCH_NEIGHBOUR=1
measures while a neighbour runs lesson 05 (restart-and-run-all in its own kernel, over and over, as a
learner in the next tab would) and writes bench/browser_latency_neighbour.json instead.

Record of changes (median / p95 ms per control, same order as CONTROLS; load average 1 min):
see "history" in browser_latency.json; each entry names the change it measured.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.browser_lab import CHROMIUM, chromium, course_lab  # noqa: E402  (the same lab the browser tests start)

OUTPUT = ROOT / "bench" / "browser_latency.json"
NEIGHBOUR_OUTPUT = ROOT / "bench" / "browser_latency_neighbour.json"
NEIGHBOUR = """
import nbformat, sys
from nbclient import NotebookClient
while True:  # until the benchmark stops this process
    notebook = nbformat.read(sys.argv[1], as_version=4)
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": sys.argv[2]}}).execute()
"""
PRESSES = 20
DRAG_INTERVAL_MS = 25
TARGET = {"median_ms": 50, "p95_ms": 100, "drag_settle_ms": 200}
FLOOR_NOTEBOOK = "zz_latency_floor.ipynb"  # written into the throwaway copy only
FLOOR_CELLS = [
    "%matplotlib widget\nimport ipywidgets as widgets\nimport matplotlib.pyplot as plt",
    "fig, ax = plt.subplots(figsize=(0.6, 0.6), dpi=100)\n"
    "fig.canvas.header_visible = fig.canvas.footer_visible = fig.canvas.toolbar_visible = False\n"
    "slider = widgets.IntSlider(value=50, min=0, max=100, description='floor')\n"
    "def recolour(change):\n"
    "    ax.set_facecolor(plt.cm.viridis(change['new'] / 100))\n"
    "    fig.canvas.draw()\n"
    "slider.observe(recolour, 'value')\n"
    "widgets.VBox([slider, fig.canvas])",
]


@dataclass(frozen=True)
class Control:
    """A slider to press, and which ipympl figure in its output shows the result."""

    notebook: str
    label: str  # the slider's description
    nth: int = 0  # which slider with that description (in page order)
    figure: int = 0  # which ipympl figure of the explorer's output to watch
    keys: tuple[str, ...] = ("ArrowLeft",) * 10 + ("ArrowRight",) * 10
    name: str = ""
    drag_presses: int = 15  # the fast drag presses keys[0] this often (each press must change the value)
    kind: str = "slider"  # or "dropdown": ArrowUp / ArrowDown then pick the option above / below, as a click would
    warm: bool = False  # press the keys once, untimed, first (values whose result is computed on first visit)


CONTROLS = [
    Control("01_gradient_descent.ipynb", "lr", name="01 lr"),
    Control("01_gradient_descent.ipynb", "elevation", figure=1, name="01 elevation",
            keys=("ArrowRight",) * 10 + ("ArrowLeft",) * 10),
    Control("04_rates_and_adam.ipynb", "momentum γ", name="04 momentum γ",
            keys=("PageDown",) * 10 + ("PageUp",) * 10),
    Control("04_rates_and_adam.ipynb", "lr", name="04 comparison lr"),
    Control("06_gradient_noise.ipynb", "batch size", name="06 batch size",
            keys=("ArrowRight",) * 6 + ("ArrowLeft",) * 10 + ("ArrowRight",) * 4, drag_presses=6),
    # four schedules, one_cycle (the last) first; four lrs, 0.1 (the third) first
    Control("11_learning_rate.ipynb", "schedule", name="11 schedule", kind="dropdown",
            keys=("ArrowUp",) * 3 + ("ArrowDown",) * 3 + ("ArrowUp",) * 3 + ("ArrowDown",) * 3
            + ("ArrowUp",) * 3 + ("ArrowDown",) * 3 + ("ArrowUp", "ArrowDown"), drag_presses=3),
    Control("11_learning_rate.ipynb", "lr", name="11 lr",
            keys=("ArrowRight",) + (("ArrowLeft",) * 3 + ("ArrowRight",) * 3) * 2 + ("ArrowLeft",) * 3
            + ("ArrowRight",) * 2 + ("ArrowLeft",) * 2, drag_presses=3),
    # five ranges, ×1 (the middle) first; slices not yet computed are computed on the untimed first pass
    Control("13_loss_landscape.ipynb", "range", name="13 range", warm=True,
            keys=(("ArrowLeft",) * 2 + ("ArrowRight",) * 4 + ("ArrowLeft",) * 2) * 2
            + ("ArrowRight",) * 2 + ("ArrowLeft", "ArrowRight"), drag_presses=4),
    # the floor: the same path (slider → kernel → ipympl PNG → canvas) for a figure that costs nothing to draw
    Control(FLOOR_NOTEBOOK, "floor", name="floor: 60 px figure", keys=("ArrowRight",) * 10 + ("ArrowLeft",) * 10),
]

OPPOSITE = {"ArrowLeft": "ArrowRight", "ArrowRight": "ArrowLeft", "ArrowUp": "ArrowDown", "ArrowDown": "ArrowUp",
            "PageUp": "PageDown", "PageDown": "PageUp"}

# Instruments the page: keydown times, PNG arrivals (ipympl turns each image message into a blob URL)
# and canvas draws whose pixels changed, each frame with a cheap hash of its pixels.
PROBE = """
(() => {
  if (window.__lat) return;
  const lat = window.__lat = {keys: [], sends: [], pngs: [], frames: [], target: null, last: null};
  document.addEventListener('keydown', () => lat.keys.push(performance.now()), true);
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function () { lat.sends.push(performance.now()); return send.apply(this, arguments); };
  const makeURL = URL.createObjectURL;
  URL.createObjectURL = function (blob) {
    if (blob && blob.type === 'image/png') lat.pngs.push({t: performance.now(), bytes: blob.size});
    return makeURL.apply(this, arguments);
  };
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function () {
    const result = draw.apply(this, arguments);
    if (this.canvas === lat.target) {
      const t = performance.now();
      const c = this.canvas, data = new Uint32Array(this.getImageData(0, 0, c.width, c.height).data.buffer);
      let h = 2166136261 >>> 0;
      for (let i = 0; i < data.length; i += 7) h = Math.imul(h ^ data[i], 16777619) >>> 0;
      if (h !== lat.last) { lat.frames.push({t, h}); lat.last = h; }
    }
    return result;
  };
})();
"""


def write_floor_notebook(checkout: Path) -> None:
    """The floor's scratch notebook, in the lab's throwaway copy only."""
    import nbformat

    floor = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in FLOOR_CELLS])
    floor.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(floor, checkout / "notebooks" / FLOOR_NOTEBOOK)


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.25)


def run_all(page, lab) -> None:
    """Run → Run All Cells, then wait for every prompt to get its number and the kernel to go idle."""
    def idle() -> bool:
        kernels = lab.kernels()
        return len(kernels) == 1 and kernels[0]["execution_state"] == "idle"

    def prompts() -> list[str]:
        cells = page.locator(".jp-NotebookPanel:visible .jp-CodeCell .jp-InputPrompt")
        return [p.strip() for p in cells.all_inner_texts()]

    wait_until(idle, 90, "the kernel to start")
    page.locator(".jp-Notebook .jp-Cell").first.click()
    for _ in range(3):
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        try:
            wait_until(lambda: any(p != "[ ]:" for p in prompts()), 10, "the first cell to start")
            break
        except TimeoutError:
            page.keyboard.press("Escape")
    wait_until(lambda: all(p not in ("[ ]:", "[*]:", "") for p in prompts()) and idle(), 300, "every cell to run")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict:
    return {"median_ms": round(statistics.median(values), 1), "p95_ms": round(percentile(values, 0.95), 1),
            "max_ms": round(max(values), 1)} if values else {}


def aim(page, control: Control):
    """Make the control's figure the one the probe watches; returns the slider's handle (to focus)."""
    box = page.locator(f".widget-{control.kind}", has=page.locator("label", has_text=control.label))
    box = box.filter(has=page.locator(f"label:text-is('{control.label}')")).nth(control.nth)
    output = page.locator(".jp-OutputArea-output", has=box).first
    canvas = output.locator(".jupyter-matplotlib-canvas-div").nth(control.figure).locator("canvas").first
    canvas.scroll_into_view_if_needed()
    box.scroll_into_view_if_needed()
    canvas.evaluate("c => { window.__lat.target = c; window.__lat.last = null; }")
    return box.locator("select" if control.kind == "dropdown" else ".noUi-handle")


# a pick in a dropdown: the time of the pick, then the change event a click on an option fires
PICK = """(select, step) => {
  window.__lat.keys.push(performance.now());
  select.selectedIndex += step;
  select.dispatchEvent(new Event('change', {bubbles: true}));
}"""


def press(page, handle, key: str) -> None:
    """A key press on a slider's handle, or, on a dropdown (a <select>), a pick of the option above / below."""
    if handle.evaluate("e => e.tagName") == "SELECT":
        handle.evaluate(PICK, {"ArrowUp": -1, "ArrowDown": 1}[key])
    else:
        handle.focus()  # JupyterLab may take the focus back to the notebook when a cell finishes
        page.keyboard.press(key)


def press_and_wait(page, handle, key: str, timeout_s: float = 5) -> dict | None:
    """One key press; ms from it to the next changed frame, to the message out and to the PNG in (None: no change)."""
    start = page.evaluate("({k: __lat.keys.length, f: __lat.frames.length, p: __lat.pngs.length, "
                          "s: __lat.sends.length})")
    press(page, handle, key)
    try:
        page.wait_for_function(f"__lat.keys.length > {start['k']} && __lat.frames.length > {start['f']}",
                               timeout=timeout_s * 1000, polling="raf")
    except Exception:  # noqa: BLE001  (Playwright's TimeoutError: a press that changed no pixel)
        return None
    time.sleep(0.12)  # let trailing messages land before the next press
    return page.evaluate(f"""(() => {{
        const t0 = __lat.keys[{start['k']}], frame = __lat.frames[{start['f']}];
        const png = __lat.pngs.slice({start['p']}).find(p => p.t >= t0);
        const sent = __lat.sends.slice({start['s']}).find(t => t >= t0);
        return {{frame_ms: frame.t - t0, png_ms: png ? png.t - t0 : null, png_bytes: png ? png.bytes : null,
                 sent_ms: sent === undefined ? null : sent - t0}};
    }})()""")


def fast_drag(page, handle, key: str, back: str, presses: int) -> dict:
    """Presses every DRAG_INTERVAL_MS ms, then: how long after the last one the final frame shows."""
    start = page.evaluate("__lat.keys.length")
    for _ in range(presses):
        press(page, handle, key)
        page.wait_for_timeout(DRAG_INTERVAL_MS)
    wait_quiet(page)
    settled = page.evaluate("__lat.last")
    last_key = page.evaluate(f"__lat.keys[{start} + {presses} - 1]")
    first_key = page.evaluate(f"__lat.keys[{start}]")
    # the frame the final value draws alone: step away and back, one frame each
    press_and_wait(page, handle, back)
    wait_quiet(page)
    press_and_wait(page, handle, key)
    wait_quiet(page)
    reference = page.evaluate("__lat.last")
    shown = page.evaluate(f"__lat.frames.filter(f => f.t >= {first_key} && f.h === {reference}).map(f => f.t)")
    return {"settle_ms": round(max(0.0, shown[0] - last_key), 1) if shown else None,
            "final_frame_matches": settled == reference,
            "frames_after_last_press": page.evaluate(f"__lat.frames.filter(f => f.t >= {last_key}).length")}


def wait_quiet(page, quiet_ms: float = 700, timeout_s: float = 10) -> None:
    """Wait until no frame has changed for ``quiet_ms``."""
    page.wait_for_function(f"(__lat.frames.length ? performance.now() - __lat.frames.at(-1).t : 1e9) > {quiet_ms}",
                           timeout=timeout_s * 1000, polling=100)


def measure(browser, lab, notebook: str) -> dict:
    results = {}
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.add_init_script(PROBE)
    try:
        page.goto(lab.url(f"/lab/workspaces/bench-{notebook[:2]}/tree/notebooks/{notebook}?reset"),
                  wait_until="domcontentloaded")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
        page.locator(".jp-NotebookPanel .jp-Spinner").wait_for(state="detached", timeout=90_000)
        run_all(page, lab)
        time.sleep(2)
        for control in (c for c in CONTROLS if c.notebook == notebook):
            handle = aim(page, control)
            first_visit = [press_and_wait(page, handle, key, timeout_s=30) for key in control.keys if control.warm]
            if control.warm:  # back to where the timed presses start
                for key in reversed(control.keys):
                    press_and_wait(page, handle, OPPOSITE[key])
                wait_quiet(page)
            samples = [press_and_wait(page, handle, key) for key in control.keys]
            if not any(samples):
                page.screenshot(path=f"/tmp/bl-debug-{control.name.replace(' ', '_')}.png")
                print("no frame:", page.evaluate("document.activeElement.outerHTML.slice(0, 300)"),
                      page.locator(".jp-Dialog").all_inner_texts(), flush=True)
            done = [s for s in samples if s]
            frames = [s["frame_ms"] for s in done]
            pngs = [s["png_ms"] for s in done if s["png_ms"] is not None]
            results[control.name] = {
                **summary(frames), "presses": len(samples), "no_change": len(samples) - len(done),
                "sent_to_kernel": summary([s["sent_ms"] for s in done if s["sent_ms"] is not None]),
                "png_arrival": summary(pngs),
                "png_kB_median": round(statistics.median([s["png_bytes"] for s in done if s["png_bytes"]]) / 1e3, 1)
                if pngs else None,
                "samples_ms": [round(f, 1) for f in frames],
                "fast_drag": fast_drag(page, handle, control.keys[0], control.keys[-1], control.drag_presses),
                **({"first_visit_ms": [round(s["frame_ms"], 1) if s else None for s in first_visit]}
                   if control.warm else {}),
                "load_avg": os.getloadavg(),
            }
            print(control.name, {k: v for k, v in results[control.name].items() if k != "samples_ms"}, flush=True)
    finally:
        page.close()
        lab.shutdown_kernels()
    return results


def versions(browser) -> dict:
    import ipympl
    import ipywidgets
    import jupyterlab
    import matplotlib

    return {"python": platform.python_version(), "jupyterlab": jupyterlab.__version__, "ipympl": ipympl.__version__,
            "ipywidgets": ipywidgets.__version__, "matplotlib": matplotlib.__version__, "chromium": browser.version}


def main(note: str) -> dict:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="browser-latency-") as folder, course_lab(Path(folder)) as lab:
        write_floor_notebook(Path(folder) / "checkout")
        with chromium() as browser:
            controls = {}
            only = os.environ.get("BENCH_NOTEBOOKS", "")
            for notebook in dict.fromkeys(c.notebook for c in CONTROLS if c.notebook.startswith(only)):
                controls |= measure(browser, lab, notebook)
            info = versions(browser)
    return {"note": note, "when": time.strftime("%Y-%m-%d %H:%M"), "load_avg_before": load_before,
            "load_avg_after": os.getloadavg(), "cpus": os.cpu_count(), "target": TARGET,
            "meets_target": meets_target(controls), "versions": info, "controls": controls}


def meets_target(controls: dict) -> bool:
    """Every explorer control (not the floor) within the median, p95 and drag-settle targets."""
    return all(c.get("median_ms", 1e9) <= TARGET["median_ms"] and c.get("p95_ms", 1e9) <= TARGET["p95_ms"]
               and (c["fast_drag"]["settle_ms"] or 1e9) <= TARGET["drag_settle_ms"]
               for name, c in controls.items() if not name.startswith("floor"))


def beside_lesson_05(note: str) -> dict:
    """``main`` while lesson 05 runs in a kernel of its own, again and again (it trains on every free core)."""
    import subprocess

    notebooks = ROOT / "notebooks"
    neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR, str(notebooks / "05_minibatches.ipynb"),
                                  str(notebooks)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)  # its kernel in the same group: stopped together
    try:
        time.sleep(15)  # past the imports: training
        return main(f"{note}; beside lesson 05 running all, over and over, in its own kernel")
    finally:
        os.killpg(neighbour.pid, signal.SIGKILL)
        neighbour.wait()


if __name__ == "__main__":
    if not CHROMIUM.exists():
        sys.exit(f"skipped: no Chromium at {CHROMIUM} (set CHROMIUM=/path/to/chromium)")
    if os.environ.get("BENCH_NEIGHBOUR"):
        OUTPUT = NEIGHBOUR_OUTPUT
        report = beside_lesson_05(note=" ".join(sys.argv[1:]) or "current code")
    else:
        report = main(note=" ".join(sys.argv[1:]) or "current code")
    previous = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    history = previous.get("history", [])
    if os.environ.get("BENCH_NOTEBOOKS"):  # a partial run: keep the other controls' last measurements
        controls = {**previous.get("controls", {}), **report["controls"]}
        report = {**report, "controls": controls, "meets_target": meets_target(controls),
                  "note": f"{report['note']} (measured: {', '.join(report['controls'])}; the others as before)"}
    brief = {"note": report["note"], "when": report["when"], "load_avg_before": report["load_avg_before"],
             **{name: [c.get("median_ms"), c.get("p95_ms"), c["fast_drag"]["settle_ms"]]
                for name, c in report["controls"].items()}}
    OUTPUT.write_text(json.dumps({**report, "history": [*history, brief]}, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(brief, ensure_ascii=False))
