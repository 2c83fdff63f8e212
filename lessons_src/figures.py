"""Every static figure in ``figures/``, built from the course's own functions, in each of the course's languages.

``python -m lessons_src.figures`` (or ``./course figures``), run from the repository root, rewrites
them all with matplotlib's Agg backend; the output is deterministic for a given matplotlib version.
Importing this module draws nothing and leaves the backend alone. A figure drawn from a benchmark
takes its record as an argument; only :func:`main` reads it from the checkout's ``bench/``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from lessons_src.descent import (
    COMPARISON_SETTINGS,
    OPTIMIZER_LABELS,
    OPTIMIZER_NAMES,
    DescentPath,
    critical_momentum,
    run_descent,
    run_torch_optimizer,
)
from lessons_src.language import LANGUAGES, current_language, tr, use_language
from lessons_src.minibatch import NOISE_CLOUD_BATCH_SIZES, noise_cloud, variance_curve
from lessons_src.plotting import (
    OPTIMIZER_COLORS,
    plot_computation_graph,
    plot_contour,
    plot_distance_curve,
    plot_gradient_cloud,
    plot_gradient_variance,
    plot_loss_curve,
    plot_path,
    plot_surface_3d,
    plot_throughput,
)
from lessons_src.sample_losses import breast_cancer_logistic
from lessons_src.surfaces import Surface, get_surface

# The three step sizes lesson 01 compares on the source tutorials' quadratic (2/λmax ≈ 0.0858).
STEP_SIZE_EXAMPLES = (0.005, 0.05, 0.083)  # too small, good, oscillating


def _paths_figure(surface: Surface, runs: Sequence[tuple[str, str, DescentPath]], *, curve: str,
                  title: str, legend_loc: str, fontsize: int = 8) -> Figure:
    """Paths on the surface's contours (left) and their loss or distance curves (right); ``runs`` holds
    (label, colour, path); ``curve`` is "loss" (L − L*) or "distance" (‖w − w*‖)."""
    fig, (ax_paths, ax_curve) = plt.subplots(1, 2, figsize=(10, 4.3))
    plot_contour(ax_paths, surface)
    for label, color, path in runs:
        plot_path(ax_paths, path, label=label, color=color)
        if curve == "loss":
            plot_loss_curve(ax_curve, path, surface, label=label, color=color)
        else:
            plot_distance_curve(ax_curve, path, surface.global_minimum, label=label, color=color)
    ax_paths.legend(loc=legend_loc, fontsize=fontsize)
    ax_paths.set_title(title, fontsize=10)
    ax_curve.legend(fontsize=fontsize)
    ax_curve.set_title(tr("loss above the minimum") if curve == "loss" else tr("distance to the minimum"), fontsize=10)
    fig.tight_layout()
    return fig


def gd_step_sizes() -> Figure:
    """The source tutorials' quadratic with gradient-descent paths for three learning rates, and their losses."""
    surface = get_surface("source_quadratic")
    small, good, oscillating = STEP_SIZE_EXAMPLES
    labels = {tr("too small (lr = {lr:g})", lr=small): (small, "tab:blue"),
              tr("good (lr = {lr:g})", lr=good): (good, "tab:green"),
              tr("oscillating (lr = {lr:g})", lr=oscillating): (oscillating, "tab:red")}
    runs = [(label, color, run_descent(surface, surface.start, lr, 40)) for label, (lr, color) in labels.items()]
    return _paths_figure(surface, runs, curve="loss", title=tr("40 steps of gradient descent from (−8, 9)"),
                         legend_loc="lower left")


def loss_surface_explorer() -> Figure:
    """A still of the loss-surface explorer: contour with path, loss against step, 3-D view."""
    surface = get_surface("two_minima")
    paths = [run_descent(surface, start, surface.lr, surface.num_steps) for start in ((0.5, 1.5), (-0.3, 1.5))]
    fig = plt.figure(figsize=(13, 4.2))
    ax_contour, ax_loss = fig.add_subplot(1, 3, 1), fig.add_subplot(1, 3, 2)
    ax_3d = fig.add_subplot(1, 3, 3, projection="3d")
    plot_contour(ax_contour, surface)
    plot_surface_3d(ax_3d, surface)
    for path, color in zip(paths, ("tab:red", "tab:blue"), strict=True):
        label = tr("start ({w1:g}, {w2:g})", w1=path.points[0][0], w2=path.points[0][1])
        plot_path(ax_contour, path, label=label, color=color)
        plot_loss_curve(ax_loss, path, surface, label=label, color=color)
    ax_contour.set_title(tr("Two minima: the start decides the valley"), fontsize=10)
    ax_contour.legend(loc="lower right", fontsize=8)
    ax_loss.legend(fontsize=8)
    ax_3d.view_init(35, -60)
    fig.tight_layout()
    return fig


def computation_graph() -> Figure:
    """Lesson 02's computation graph: values forward, gradients backward."""
    fig, ax = plt.subplots(figsize=(11, 4.2))
    plot_computation_graph(ax)
    return fig


# --- lessons 03-04 ------------------------------------------------------------------------------------
def momentum_explorer() -> Figure:
    """A still of the momentum explorer on the ravine: GD, momentum 0.9 and critical damping γ*."""
    surface, lr, num_steps = get_surface("ravine"), 0.09, 100
    gamma_star = critical_momentum(lr, float(surface.curvatures()[0]))
    settings = {tr("plain GD"): (0.0, "tab:blue"), tr("momentum γ = {momentum}", momentum=0.9): (0.9, "tab:orange"),
                tr("momentum γ* = {momentum:.3f}", momentum=gamma_star): (gamma_star, "tab:red")}
    runs = [(label, color, run_descent(surface, surface.start, lr, num_steps, momentum=momentum))
            for label, (momentum, color) in settings.items()]
    title = tr("The ravine, lr = {lr}, {steps} steps", lr=lr, steps=num_steps)
    return _paths_figure(surface, runs, curve="distance", title=title, legend_loc="lower right")


def optimizer_comparison() -> Figure:
    """A still of the optimizer comparison: torch.optim's five optimizers on Rosenbrock's banana."""
    surface = get_surface("rosenbrock")
    preset = COMPARISON_SETTINGS[surface.name]
    runs = [(f"{tr(OPTIMIZER_LABELS[name])} (lr {preset['lr'][name]:g})", OPTIMIZER_COLORS[name],
             run_torch_optimizer(surface, surface.start, name, preset["lr"][name], preset["num_steps"]))
            for name in OPTIMIZER_NAMES]
    title = tr("Rosenbrock, {steps} steps of torch.optim", steps=preset["num_steps"])
    return _paths_figure(surface, runs, curve="loss", title=title, legend_loc="upper center", fontsize=7)


def noise_cloud_explorer() -> Figure:
    """A still of the noise-cloud explorer: batch gradients at the start for B = 4 and 64, and variance vs B."""
    problem = breast_cancer_logistic()
    w = (0.0, -2.5)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, batch_size in zip(axes[:2], (4, 64), strict=True):
        cloud = noise_cloud(problem, w, batch_size)
        plot_gradient_cloud(ax, cloud)
        ax.set(xlim=(-0.7, 1.4), ylim=(-1.05, 0.15))
        ax.set_title(tr("B = {batch_size}: {share:.0%} of the batch gradients point downhill",
                        batch_size=batch_size, share=cloud.share_downhill), fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    curve = variance_curve(problem, w, [b for b in NOISE_CLOUD_BATCH_SIZES if b < problem.num_samples])
    plot_gradient_variance(axes[2], curve.batch_sizes, curve.measured, curve.theory)
    axes[2].set_title(tr("variance of a batch gradient (200 batches each)"), fontsize=9)
    fig.suptitle(tr("Breast-cancer logistic regression at (w, b) = (0, −2.5): 200 seeded mini-batches"),
                 fontsize=10)
    fig.tight_layout()
    return fig


def minibatch_throughput(record: dict[str, Any]) -> Figure:
    """Samples per second of TutorialMLP training steps against the batch size, from the ``record`` that
    ``bench/minibatch_throughput.py`` wrote (machine, torch, and per thread count a ``runs`` entry with
    ``batch_size`` and ``samples_per_second`` lists)."""
    fig, (ax_rate, ax_time) = plt.subplots(1, 2, figsize=(10, 3.8))
    for run, color in zip(record["runs"], ("tab:blue", "tab:orange", "tab:green"), strict=False):
        sizes, rate = run["batch_size"], run["samples_per_second"]
        label = (tr("{threads} threads ({date})", threads=run["threads"], date=run["date"]) if run["threads"] > 1
                 else tr("1 thread ({date})", date=run["date"]))
        plot_throughput(ax_rate, sizes, rate, label=label, color=color)
        ax_time.loglog(sizes, [1000 * b / r for b, r in zip(sizes, rate, strict=True)], "o-", color=color,
                       label=label)
    ax_rate.set_title(tr("throughput: samples per second"), fontsize=10)
    ax_time.set(xlabel=tr("batch size"), ylabel=tr("milliseconds per step"))
    ax_time.grid(True, which="major", alpha=0.3)
    ax_time.set_title(tr("time of one step"), fontsize=10)
    for ax in (ax_rate, ax_time):
        ax.legend(fontsize=8)
    fig.suptitle(tr("TutorialMLP on FashionMNIST, CPU ({machine}; torch {torch})", machine=record["machine"],
                    torch=record["torch"]), fontsize=9)
    fig.tight_layout()
    return fig


# --- lesson 11 -----------------------------------------------------------------------------------------
def schedule_explorer(record: dict[str, Any]) -> Figure:
    """A still of the schedule explorer at the grid's best cell, from the ``record`` that
    ``bench/schedule_grid.py`` wrote (the grid the explorer itself is given): the lr of every update,
    and validation accuracy per epoch beside the other schedules at the same peak lr."""
    # that module also holds the widget: imported here, so that importing this module loads no ipywidgets
    from lessons_src.schedule_explorer import best_cell, schedule_panels, schedule_view

    best, settings = best_cell(record), record["settings"]
    fig, (ax_lr, ax_accuracy) = plt.subplots(1, 2, figsize=(10, 3.8))
    schedule_panels(ax_lr, ax_accuracy, record).show(
        schedule_view(record, best["name"], best["lr"], settings["steps_per_epoch"]))
    fig.suptitle(tr("The grid's best cell: {name} at peak lr {lr:g}, {accuracy:.2f} % validation accuracy after "
                    "{epochs} epochs (TutorialMLP, {optimizer}, batch {batch_size})", name=best["name"], lr=best["lr"],
                    accuracy=100 * best["final_val_accuracy"], epochs=settings["num_epochs"],
                    optimizer=settings["optimizer"], batch_size=settings["batch_size"]), fontsize=10)
    fig.tight_layout()
    return fig


# --- lesson 13 -----------------------------------------------------------------------------------------
def landscape_explorer(record: dict[str, Any]) -> Figure:
    """A still of the landscape explorer: the 31 × 31 filter-normalized random slice of the trained tutorial
    network that ``bench/landscape_slice.py`` computed and recorded (``grid 31x31``: a, b, loss)."""
    # that module also holds the widget: imported here, so that importing this module loads no ipywidgets
    import numpy as np

    from lessons_src.landscape import SliceGrid
    from lessons_src.landscape_explorer import LandscapePanel, LandscapeView

    raw = record["grid 31x31"]
    loss = np.asarray(raw["loss"], dtype=float)
    grid = SliceGrid(np.asarray(raw["a"], dtype=float), np.asarray(raw["b"], dtype=float), loss,
                     np.full_like(loss, np.nan))  # the record keeps no accuracies; the still shows none
    fig = plt.figure(figsize=(7, 5.2))
    LandscapePanel(fig).show(LandscapeView(tr("TutorialMLP after one epoch of SGD (batch 32): a random plane, "
                                              "seeds 0 and 1"), grid,
                                           (tr("a (filter-normalized)"), tr("b (filter-normalized)")),
                                           None, None, "contour", None, None))
    return fig


FIGURES: dict[str, Callable[..., Figure]] = {
    "gd_step_sizes.png": gd_step_sizes,
    "loss_surface_explorer.png": loss_surface_explorer,
    "computation_graph.png": computation_graph,
    "momentum_explorer.png": momentum_explorer,
    "optimizer_comparison.png": optimizer_comparison,
    "noise_cloud_explorer.png": noise_cloud_explorer,
    "minibatch_throughput.png": minibatch_throughput,
    "schedule_explorer.png": schedule_explorer,
    "landscape_explorer.png": landscape_explorer,
}


# Figures drawn from a benchmark's record: the JSON file in bench/ their builder is given.
BENCH_RECORDS = {"minibatch_throughput.png": "minibatch_throughput.json",
                 "schedule_explorer.png": "schedule_grid.json",
                 "landscape_explorer.png": "landscape_slice.json"}


def build_figure(name: str, root: str | Path) -> Figure:
    """Figure ``name`` of FIGURES; one drawn from a benchmark gets the record in ``root``/bench/."""
    if name not in BENCH_RECORDS:
        return FIGURES[name]()
    return FIGURES[name](json.loads((Path(root) / "bench" / BENCH_RECORDS[name]).read_text(encoding="utf-8")))


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG with no timestamp or version in its metadata, so reruns are identical."""
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def figure_folder(root: str | Path, lang: str) -> Path:
    """Where the figures in ``lang`` live: ``figures/`` for English, ``figures/zh/`` and ``figures/ja/`` for the
    editions (their notebooks link there)."""
    return Path(root) / "figures" if lang == "en" else Path(root) / "figures" / lang


def main(names: list[str] | None = None, root: str | Path = ".") -> int:
    """Regenerate the named figures (default: all), in every language, in ``root``/figures/, ``root`` being the
    repository."""
    matplotlib.use("Agg")  # files only, never a window
    root = Path(root)
    if not (root / "bench").is_dir():
        print(f"run this from the repository root (no bench/ folder in {root.resolve()})", file=sys.stderr)
        return 2
    unknown = [name for name in names or [] if name not in FIGURES]
    if unknown:
        print(f"unknown figure(s) {unknown}; known: {', '.join(FIGURES)}", file=sys.stderr)
        return 2
    before = current_language()
    try:
        for lang in LANGUAGES:
            use_language(lang)
            figure_folder(root, lang).mkdir(parents=True, exist_ok=True)
            for name in names or FIGURES:
                print("wrote", save_figure(build_figure(name, root), figure_folder(root, lang) / name))
    finally:
        use_language(before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
