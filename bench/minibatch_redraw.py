"""Median redraw time of lesson 06's noise-cloud explorer after a control change (headless, Agg).

Each sample sets the batch-size slider (as a drag in JupyterLab does) and includes everything the
kernel does in response: drawing 200 seeded mini-batches, computing their gradients and the
theory, moving the artists and rendering the pixels (a blit). Switching the point redraws the
whole figure. Sending the PNG to the browser is not included. The bar is a median of 50 ms or less.
Writes bench/minibatch_redraw.json. Run: .venv/bin/python bench/minibatch_redraw.py
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from timing import median_ms, write_record  # noqa: E402  (bench/timing.py)

from lessons_src.minibatch import NOISE_CLOUD_BATCH_SIZES  # noqa: E402
from lessons_src.widgets import NoiseCloudExplorer  # noqa: E402

REPEATS = 40
BAR_MS = 50.0


def measure() -> dict[str, float]:
    explorer = NoiseCloudExplorer()
    explorer.fig.canvas.draw()
    sizes = [NOISE_CLOUD_BATCH_SIZES[i % len(NOISE_CLOUD_BATCH_SIZES)] for i in range(REPEATS)]
    small = [(1, 2, 4, 8)[i % 4] for i in range(REPEATS)]
    large = [(128, 256, 512, 569)[i % 4] for i in range(REPEATS)]
    return {
        "batch size, every value": median_ms(lambda v: setattr(explorer.batch_slider, "value", v), sizes),
        "batch size 1-8": median_ms(lambda v: setattr(explorer.batch_slider, "value", v), small),
        "batch size 128-569": median_ms(lambda v: setattr(explorer.batch_slider, "value", v), large),
        "point (full redraw)": median_ms(lambda v: setattr(explorer.point_picker, "value", v),
                                         ["near" if i % 2 == 0 else "start" for i in range(10)]),
    }


if __name__ == "__main__":
    results = measure()
    write_record(__file__, {
        "noise-cloud explorer (ms)": {k: round(v, 1) for k, v in results.items()},
        "slider bar (ms)": BAR_MS,
        "slider within the bar": all(v <= BAR_MS for k, v in results.items() if k.startswith("batch"))})
