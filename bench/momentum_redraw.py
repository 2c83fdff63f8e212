"""Median redraw time of lesson 04's widgets after a control change (headless, Agg).

Each sample sets one control (as a drag or click in JupyterLab does) and includes everything the
kernel does in response: recomputing the paths (the momentum explorer with NumPy, the optimizer
comparison with ``torch.optim``), moving the artists and rendering the pixels (a blit, or a full
draw when an axis changes). Sending the PNG to the browser is not included.
Writes bench/momentum_redraw.json. Run: .venv/bin/python bench/momentum_redraw.py
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from timing import median_ms, write_record  # noqa: E402  (bench/timing.py)

from lessons_src.widgets import MomentumExplorer, OptimizerComparison  # noqa: E402

REPEATS = 40


def measure_explorer() -> dict[str, float]:
    explorer = MomentumExplorer("ravine")
    explorer.fig.canvas.draw()
    set_value = setattr
    return {
        "lr": median_ms(lambda v: set_value(explorer.lr_slider, "value", v),
                        [0.005 + 0.002 * i for i in range(REPEATS)]),
        "momentum γ": median_ms(lambda v: set_value(explorer.momentum_slider, "value", v),
                                [0.5 + 0.01 * i for i in range(REPEATS)]),
        "steps": median_ms(lambda v: set_value(explorer.steps_slider, "value", v),
                           [60 + i for i in range(REPEATS)]),
        "button γ → γ*": median_ms(lambda v: (set_value(explorer.momentum_slider, "value", v),
                                              explorer.snap_button.click()),
                                   [0.3 + 0.01 * i for i in range(REPEATS)]) / 2,
    }


def measure_comparison(surface: str) -> dict[str, float]:
    comparison = OptimizerComparison(surface, selected=("sgd", "momentum", "nesterov", "rmsprop", "adam"))
    comparison.fig.canvas.draw()
    lr = comparison.lr_sliders["adam"].value
    steps = comparison.steps_slider.value
    return {
        "Adam's lr (one path recomputed)": median_ms(
            lambda v: setattr(comparison.lr_sliders["adam"], "value", v),
            [lr * (0.5 + 0.025 * i) for i in range(REPEATS)]),
        "γ (two paths recomputed)": median_ms(
            lambda v: setattr(comparison.momentum_slider, "value", v), [0.5 + 0.01 * i for i in range(REPEATS)]),
        "steps (kept runs cut)": median_ms(
            lambda v: setattr(comparison.steps_slider, "value", v), [steps - 1 - i for i in range(REPEATS)]),
        "tick an optimizer on/off": median_ms(
            lambda v: setattr(comparison.checkboxes["rmsprop"], "value", v), [i % 2 == 0 for i in range(REPEATS)]),
    }


if __name__ == "__main__":
    def rounded(results: dict[str, float]) -> dict[str, float]:
        return {k: round(v, 1) for k, v in results.items()}

    write_record(__file__, {
        "momentum explorer, ravine, 100 steps (ms)": rounded(measure_explorer()),
        "optimizer comparison, all five, ravine, 100 steps (ms)": rounded(measure_comparison("ravine")),
        "optimizer comparison, all five, Rosenbrock, 200 steps (ms)": rounded(measure_comparison("rosenbrock"))})
