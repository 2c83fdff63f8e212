"""Median redraw time of the loss-surface explorer after a slider change (headless, Agg).

Each sample sets one slider (as a drag in JupyterLab does) and includes everything the kernel does
in response: recomputing the path, moving the artists and rendering the pixels (a blit of the
moving artists, or a full draw when the axes change). Sending the PNG to the browser is not
included. Writes bench/explorer_redraw.json. Run: .venv/bin/python bench/explorer_redraw.py
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from timing import median_ms, write_record  # noqa: E402  (bench/timing.py)

from lessons_src.widgets import LossSurfaceExplorer  # noqa: E402

REPEATS = 40


def measure(show_3d: bool) -> dict[str, float]:
    explorer = LossSurfaceExplorer("source_quadratic", show_3d=show_3d)
    explorer.fig.canvas.draw()
    if show_3d:
        explorer.fig3d.canvas.draw()
    lrs = [0.01 + 0.0015 * (i % 40) for i in range(REPEATS)]
    results = {
        "lr": median_ms(lambda v: setattr(explorer.lr_slider, "value", v), lrs),
        "start w1": median_ms(lambda v: setattr(explorer.w1_slider, "value", v),
                              [-6 + 0.25 * i for i in range(REPEATS)]),
        "steps": median_ms(lambda v: setattr(explorer.steps_slider, "value", v), [20 + i for i in range(REPEATS)]),
        "click on contour": median_ms(lambda v: explorer.set_start(v, -v), [-5 + 0.2 * i for i in range(REPEATS)]),
    }
    if show_3d:
        results["3-D elevation"] = median_ms(lambda v: setattr(explorer.elev_slider, "value", v),
                                             range(10, 10 + REPEATS))
    explorer.surface_picker.value = "rosenbrock"  # 1000 steps: the heaviest path
    explorer.fig.canvas.draw()
    results["lr, Rosenbrock (1000 steps)"] = median_ms(
        lambda v: setattr(explorer.lr_slider, "value", v), [0.0005 + 0.00002 * i for i in range(REPEATS)])
    return results


if __name__ == "__main__":
    write_record(__file__, {
        "contour + path + loss (ms)": {k: round(v, 1) for k, v in measure(show_3d=False).items()},
        "with the 3-D panel (ms)": {k: round(v, 1) for k, v in measure(show_3d=True).items()}})
