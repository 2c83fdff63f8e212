"""Every static figure in ``figures/``, built from the course's own functions.

``python -m lessons_src.figures`` (or ``./course figures``) rewrites them all; the output is
deterministic for a given matplotlib version.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # this module only writes files

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lessons_src.descent import OPTIMIZER_NAMES, critical_momentum, run_descent, run_torch_optimizer  # noqa: E402
from lessons_src.minibatch import (  # noqa: E402
    breast_cancer_logistic,
    minibatch_variance,
    noise_cloud,
    throughput_record,
)
from lessons_src.plotting import (  # noqa: E402
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
from lessons_src.surfaces import get_surface  # noqa: E402
from lessons_src.widgets import COMPARISON_SETTINGS, OPTIMIZER_COLORS, OPTIMIZER_LABELS  # noqa: E402

FIGURES_DIR = Path(__file__).resolve().parents[1] / "figures"

# The three step sizes lesson 01 compares on the seeds' quadratic (2/λmax ≈ 0.0858).
STEP_SIZE_EXAMPLES = {"too small (lr = 0.005)": 0.005, "good (lr = 0.05)": 0.05,
                      "oscillating (lr = 0.083)": 0.083}


def gd_step_sizes() -> Figure:
    """The seeds' quadratic with gradient-descent paths for three learning rates, and their losses."""
    surface = get_surface("seed_quadratic")
    fig, (ax_paths, ax_loss) = plt.subplots(1, 2, figsize=(10, 4.3))
    plot_contour(ax_paths, surface)
    for (label, lr), color in zip(STEP_SIZE_EXAMPLES.items(), ("tab:blue", "tab:green", "tab:red"), strict=True):
        path = run_descent(surface, surface.start, lr, 40)
        plot_path(ax_paths, path, label=label, color=color)
        plot_loss_curve(ax_loss, path, surface, label=label, color=color)
    ax_paths.legend(loc="lower left", fontsize=8)
    ax_paths.set_title("40 steps of gradient descent from (−8, 9)", fontsize=10)
    ax_loss.legend(fontsize=8)
    ax_loss.set_title("loss above the minimum", fontsize=10)
    fig.tight_layout()
    return fig


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
        label = f"start ({path.points[0][0]:g}, {path.points[0][1]:g})"
        plot_path(ax_contour, path, label=label, color=color)
        plot_loss_curve(ax_loss, path, surface, label=label, color=color)
    ax_contour.set_title("Two minima: the start decides the valley", fontsize=10)
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


# --- lesson 03 ------------------------------------------------------------------------------------
def momentum_explorer() -> Figure:
    """A still of the momentum explorer on the ravine: GD, momentum 0.9 and critical damping γ*."""

    surface, lr, num_steps = get_surface("ravine"), 0.09, 100
    gamma_star = critical_momentum(lr, float(surface.curvatures()[0]))
    runs = {"plain GD": (0.0, "tab:blue"), "momentum γ = 0.9": (0.9, "tab:orange"),
            f"momentum γ* = {gamma_star:.3f}": (gamma_star, "tab:red")}
    fig, (ax_paths, ax_distance) = plt.subplots(1, 2, figsize=(10, 4.3))
    plot_contour(ax_paths, surface)
    for label, (momentum, color) in runs.items():
        path = run_descent(surface, surface.start, lr, num_steps, momentum=momentum)
        plot_path(ax_paths, path, label=label, color=color)
        plot_distance_curve(ax_distance, path, surface.global_minimum, label=label, color=color)
    ax_paths.legend(loc="lower right", fontsize=8)
    ax_paths.set_title(f"The ravine, lr = {lr}, {num_steps} steps", fontsize=10)
    ax_distance.legend(fontsize=8)
    ax_distance.set_title("distance to the minimum", fontsize=10)
    fig.tight_layout()
    return fig


def optimizer_comparison() -> Figure:
    """A still of the optimizer comparison: torch.optim's five optimizers on Rosenbrock's banana."""

    surface = get_surface("rosenbrock")
    preset = COMPARISON_SETTINGS[surface.name]
    fig, (ax_paths, ax_loss) = plt.subplots(1, 2, figsize=(10, 4.3))
    plot_contour(ax_paths, surface)
    for name in OPTIMIZER_NAMES:
        lr = preset["lr"][name]
        path = run_torch_optimizer(surface, surface.start, name, lr, preset["num_steps"])
        label = f"{OPTIMIZER_LABELS[name]} (lr {lr:g})"
        plot_path(ax_paths, path, label=label, color=OPTIMIZER_COLORS[name])
        plot_loss_curve(ax_loss, path, surface, label=label, color=OPTIMIZER_COLORS[name])
    ax_paths.legend(loc="upper center", fontsize=7)
    ax_paths.set_title(f"Rosenbrock, {preset['num_steps']} steps of torch.optim", fontsize=10)
    ax_loss.legend(fontsize=7)
    ax_loss.set_title("loss above the minimum", fontsize=10)
    fig.tight_layout()
    return fig


def noise_cloud_explorer() -> Figure:
    """A still of the noise-cloud explorer: batch gradients at the start for B = 4 and B = 64, and variance vs B."""
    problem = breast_cancer_logistic()
    w = (0.0, -2.5)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, batch_size in zip(axes[:2], (4, 64), strict=True):
        cloud = noise_cloud(problem, w, batch_size)
        plot_gradient_cloud(ax, cloud)
        ax.set(xlim=(-0.7, 1.4), ylim=(-1.05, 0.15))
        ax.set_title(f"B = {batch_size}: {cloud.share_downhill:.0%} of the batch gradients point downhill",
                     fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    measured = [noise_cloud(problem, w, b).measured_variance for b in sizes]
    theory = [minibatch_variance(problem, w, b) for b in sizes]
    plot_gradient_variance(axes[2], sizes, measured, theory)
    axes[2].set_title("variance of a batch gradient (200 batches each)", fontsize=9)
    fig.suptitle("Breast-cancer logistic regression at (w, b) = (0, −2.5): 200 seeded mini-batches",
                 fontsize=10)
    fig.tight_layout()
    return fig


def minibatch_throughput() -> Figure:
    """Samples per second of TutorialMLP training steps against the batch size, from bench/minibatch_throughput.json."""
    record = throughput_record()
    fig, (ax_rate, ax_time) = plt.subplots(1, 2, figsize=(10, 3.8))
    for run, color in zip(record["runs"], ("tab:blue", "tab:orange", "tab:green"), strict=False):
        sizes, rate = run["batch_size"], run["samples_per_second"]
        label = f"{run['threads']} thread{'s' if run['threads'] > 1 else ''} ({run['date']})"
        plot_throughput(ax_rate, sizes, rate, label=label, color=color)
        ax_time.loglog(sizes, [1000 * b / r for b, r in zip(sizes, rate, strict=True)], "o-", color=color,
                       label=label)
    ax_rate.set_title("throughput: samples per second", fontsize=10)
    ax_time.set(xlabel="batch size", ylabel="milliseconds per step")
    ax_time.grid(True, which="major", alpha=0.3)
    ax_time.set_title("time of one step", fontsize=10)
    for ax in (ax_rate, ax_time):
        ax.legend(fontsize=8)
    fig.suptitle(f"TutorialMLP on FashionMNIST, CPU ({record['machine']}; torch {record['torch']})", fontsize=9)
    fig.tight_layout()
    return fig


FIGURES: dict[str, Callable[[], Figure]] = {
    "gd_step_sizes.png": gd_step_sizes,
    "loss_surface_explorer.png": loss_surface_explorer,
    "computation_graph.png": computation_graph,
    "momentum_explorer.png": momentum_explorer,
    "optimizer_comparison.png": optimizer_comparison,
    "noise_cloud_explorer.png": noise_cloud_explorer,
    "minibatch_throughput.png": minibatch_throughput,
}


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG with no timestamp or version in its metadata, so reruns are identical."""
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def main(names: list[str] | None = None) -> int:
    """Regenerate the named figures (default: all) in ``figures/``."""
    FIGURES_DIR.mkdir(exist_ok=True)
    for name in names or FIGURES:
        if name not in FIGURES:
            print(f"unknown figure {name!r}; known: {', '.join(FIGURES)}", file=sys.stderr)
            return 2
        print("wrote", save_figure(FIGURES[name](), FIGURES_DIR / name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
