"""Median redraw time of lesson 11's schedule explorer after a control change (headless, Agg).

The explorer reads bench/schedule_grid.json (what bench/schedule_grid.py wrote). Each sample sets one
control (as a click in JupyterLab does) and includes everything the kernel does in response: the
lr of every update recomputed from ``Schedule.curve()`` (4 epochs × 391 updates), the grid's cells
looked up, the artists moved and the pixels rendered (a blit that also redraws the lr axis, whose
limits follow the peak lr). Sending the PNG to the browser is not included. The bar is a median
of 50 ms or less. Writes bench/schedule_redraw.json.
Run: .venv/bin/python bench/schedule_redraw.py
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from timing import median_ms, write_record  # noqa: E402  (bench/timing.py)

from lessons_src.schedule_explorer import ScheduleExplorer, grid_lrs, grid_names  # noqa: E402

REPEATS = 40
BAR_MS = 50.0
GRID = Path(__file__).with_name("schedule_grid.json")


def measure() -> dict[str, float]:
    grid = json.loads(GRID.read_text(encoding="utf-8"))
    explorer = ScheduleExplorer(grid, grid["settings"]["steps_per_epoch"])
    explorer.fig.canvas.draw()
    names, lrs = grid_names(grid), grid_lrs(grid)
    return {
        "schedule (dropdown)": median_ms(lambda v: setattr(explorer.schedule_picker, "value", v),
                                         [names[(i + 1) % len(names)] for i in range(REPEATS)]),
        "lr (slider)": median_ms(lambda v: setattr(explorer.lr_slider, "value", v),
                                           [lrs[(i + 3) % len(lrs)] for i in range(REPEATS)]),
    }


if __name__ == "__main__":
    results = measure()
    write_record(__file__, {"schedule explorer (ms)": {k: round(v, 1) for k, v in results.items()},
                            "bar (ms)": BAR_MS,
                            "every control within the bar": all(v <= BAR_MS for v in results.values())})
