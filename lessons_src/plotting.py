"""Drawing functions: each takes an ``ax`` (or a ``fig``), draws, and returns it.

Also the drawing presets the figures and the explorers share (colours, log-axis floors, the style
of a panel against the step). Nothing here needs a live display: those are in :mod:`lessons_src.widgets`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.figure
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.ticker import LogLocator, NullLocator

from lessons_src.descent import critical_momentum, distances_to, gd_rate, momentum_rate
from lessons_src.init_stats import SCHEMES, scheme_name
from lessons_src.language import tr
from lessons_src.minibatch import covariance_ellipse
from lessons_src.range_test import RangeTest
from lessons_src.schedules import Schedule

OPTIMIZER_COLORS = {"sgd": "tab:blue", "momentum": "tab:red", "nesterov": "tab:purple",
                    "rmsprop": "tab:orange", "adam": "tab:green"}
LOSS_FLOOR = 1e-8  # a live loss panel's bottom edge: smaller excess losses sit on the axis
DISTANCE_FLOOR = 1e-8  # a live distance panel's bottom edge


def log_curve(values: Any, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) for a log axis: each value raised to at least ``floor``, non-finite ones left out."""
    values = np.maximum(np.asarray(values, dtype=float), floor)
    finite = np.isfinite(values)
    return np.arange(len(values))[finite], values[finite]


def style_step_panel(ax: Axes, *, top: float, floor: float, ylabel: str, title: str) -> Axes:
    """A log-scale panel against the step with fixed y-limits, so redrawing a curve never moves a tick."""
    ax.set_yscale("log")
    ax.set_ylim(floor, top)
    ax.set(xlabel=tr("step"), ylabel=ylabel)
    ax.set_title(title, fontsize=9, y=1.01)
    ax.yaxis.set_major_locator(LogLocator(numticks=6))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_image_grid(fig: matplotlib.figure.Figure, images: torch.Tensor,
                    row_titles: Sequence[str]) -> matplotlib.figure.Figure:
    """Draw images of shape (rows, cols, H, W) or (rows, cols, 1, H, W) as a grid, one title per row."""
    images = images.squeeze(2) if images.dim() == 5 else images
    rows, cols = images.shape[:2]
    if len(row_titles) != rows:
        raise ValueError(tr("row_titles must have {rows} entries, got {count}", rows=rows, count=len(row_titles)))
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.imshow(images[r, c].cpu(), cmap="gray_r", vmin=0, vmax=1 if images.is_floating_point() else 255)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(row_titles[r], rotation=0, ha="right", va="center", fontsize=9)
    return fig


FORWARD_COLOR = "tab:blue"
BACKWARD_COLOR = "tab:red"


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float],
           color: str, linestyle: str = "-") -> None:
    """Draw an arrow between two node centres, stopping short of the node boxes."""
    ax.annotate("", xy=end, xytext=start, arrowprops={
        "arrowstyle": "-|>", "color": color, "lw": 1.6, "linestyle": linestyle,
        "shrinkA": 17, "shrinkB": 17})


def plot_computation_graph(ax: Axes) -> Axes:
    """Draw the 2-layer sigmoid classifier's graph: values flow right (blue), gradients left (red)."""
    chain = {"X": 0, "z1": 2, "s1": 4, "z2": 6, "s2": 8, "L": 10}
    labels = {"X": "$X$", "z1": "$z^{(1)}$", "s1": r"$\sigma^{(1)}$", "z2": "$z^{(2)}$",
              "s2": r"$\sigma^{(2)}$", "L": "$L$"}
    leaves = {"w01": (2, 1.7, r"$w^{(0\to1)}$"), "w12": (6, 1.7, r"$w^{(1\to2)}$"), "y": (10, 1.7, "$y$")}
    for key, x in chain.items():
        ax.text(x, 0, labels[key], ha="center", va="center", fontsize=14,
                bbox={"boxstyle": "round,pad=0.4", "fc": "white", "ec": "0.3"})
    for x, y, label in leaves.values():
        ax.text(x, y, label, ha="center", va="center", fontsize=13,
                bbox={"boxstyle": "square,pad=0.4", "fc": "lightyellow", "ec": "0.3"})
    forward_ops = [r"$Xw^{(0\to1)}$", "sigmoid", r"$\sigma^{(1)}w^{(1\to2)}$", "sigmoid", "BCE sum"]
    backward = [r"$\delta^{(1)} = \partial L/\partial\sigma^{(1)} \odot \sigma^{(1)}(1-\sigma^{(1)})$",
                r"$\partial L/\partial\sigma^{(1)} = \delta^{(2)} w^{(1\to2)\top}$",
                r"$\delta^{(2)} = \partial L/\partial z^{(2)} = \sigma^{(2)} - y$",
                r"$\partial L/\partial\sigma^{(2)} = (\sigma^{(2)} - y)\,/\,[\sigma^{(2)}(1-\sigma^{(2)})]$"]
    xs = list(chain.values())
    for i, (left, right) in enumerate(zip(xs[:-1], xs[1:], strict=True)):
        _arrow(ax, (left, 0.12), (right, 0.12), FORWARD_COLOR)
        ax.text((left + right) / 2, 0.38, forward_ops[i], ha="center", color=FORWARD_COLOR, fontsize=9)
        if i >= 1:
            _arrow(ax, (right, -0.12), (left, -0.12), BACKWARD_COLOR)
            ax.text((left + right) / 2, -0.75 - 0.55 * (i % 2), backward[i - 1], ha="center",
                    color=BACKWARD_COLOR, fontsize=10)
    for x, y, _ in leaves.values():
        _arrow(ax, (x - 0.1, y), (x - 0.1, 0), FORWARD_COLOR)
    for key, grad in (("w01", r"$\partial L/\partial w^{(0\to1)} = X^\top \delta^{(1)}$"),
                      ("w12", r"$\partial L/\partial w^{(1\to2)} = \sigma^{(1)\top} \delta^{(2)}$")):
        x, y, _ = leaves[key]
        _arrow(ax, (x + 0.1, 0), (x + 0.1, y), BACKWARD_COLOR, linestyle="--")
        ax.text(x + 0.8, y, grad, ha="left", va="center", color=BACKWARD_COLOR, fontsize=11)
    ax.plot([], [], color=FORWARD_COLOR, label=tr("forward: values"))
    ax.plot([], [], color=BACKWARD_COLOR, label=tr("backward: gradients"))
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    ax.set_xlim(-0.8, 10.8)
    ax.set_ylim(-1.6, 2.2)
    ax.set_axis_off()
    return ax


# --- loss surfaces and descent paths --------------------------------------------------------------
def loss_levels(surface, num_levels: int = 14) -> np.ndarray:
    """Geometrically spaced contour heights of L − L* over the drawn region (readable on every surface)."""
    _, _, L = surface.grid()
    excess = L - surface.min_loss
    top = float(np.quantile(excess, 0.9))
    return np.geomspace(max(top * 1e-4, 1e-3), top, num_levels)


def plot_contour(ax: Axes, surface, num_levels: int = 14) -> Axes:
    """Contour lines of the surface, its minima as stars, axes labelled w1, w2."""
    W1, W2, L = surface.grid()
    ax.contour(W1, W2, L - surface.min_loss, levels=loss_levels(surface, num_levels),
               cmap="viridis", linewidths=0.8)
    minima = np.array(surface.minima)
    ax.plot(minima[:, 0], minima[:, 1], "*", color="gold", markersize=13, markeredgecolor="black",
            label=tr("minimum"))
    ax.set(xlim=surface.w1_range, ylim=surface.w2_range, xlabel="w1", ylabel="w2")
    ax.set_aspect("equal", adjustable="box")
    return ax


def plot_path(ax: Axes, path, label: str | None = None, color: str | None = None) -> Axes:
    """A descent path: a line through every point, a dot at the start, a cross where it stopped."""
    (line,) = ax.plot(path.points[:, 0], path.points[:, 1], ".-", color=color, markersize=4,
                      linewidth=1.2, label=label)
    ax.plot(*path.points[0], "o", color=line.get_color(), markersize=6)
    ax.plot(*path.points[-1], "x" if path.diverged else "s", color=line.get_color(), markersize=7)
    return ax


def plot_loss_curve(ax: Axes, path, surface, label: str | None = None,
                    color: str | None = None) -> Axes:
    """L(w_t) − L* against step t on a log axis; a diverged run ends with a marker."""
    excess = np.maximum(path.losses - surface.min_loss, 1e-16)
    (line,) = ax.semilogy(np.arange(len(excess)), excess, color=color, label=label)
    if path.diverged:
        ax.plot(len(excess) - 1, excess[-1], "x", color=line.get_color(), markersize=8)
    ax.set(xlabel=tr("step"), ylabel="L(w) − L(w*)")
    return ax


def surface_heights(surface, L: np.ndarray) -> np.ndarray:
    """Heights for a 3-D view: L − L*, capped at the 90th percentile so steep walls don't flatten it."""
    _, _, grid_L = surface.grid()
    cap = float(np.quantile(grid_L - surface.min_loss, 0.9))
    return np.minimum(L - surface.min_loss, cap)


def plot_surface_3d(ax, surface, n: int = 40) -> Axes:
    """The loss as a 3-D surface (``ax`` must have projection='3d')."""
    W1, W2, _ = surface.grid(n)
    heights = surface_heights(surface, surface.loss_fn(W1, W2))
    ax.plot_surface(W1, W2, heights, cmap="viridis", alpha=0.75, linewidth=0, antialiased=False)
    ax.set(xlabel="w1", ylabel="w2", zlabel="L − L*")
    return ax


# --- lessons 03-04: distance to the minimum, and the rate of momentum on a quadratic -------------------
def plot_distance_curve(ax: Axes, path, minimum, label: str | None = None,
                        color: str | None = None) -> Axes:
    """‖w_t − w*‖ against step t on a log axis: steady convergence at rate r is a line of slope log r."""

    distances = np.maximum(distances_to(path, minimum), 1e-16)
    (line,) = ax.semilogy(np.arange(len(distances)), distances, color=color, label=label)
    if path.diverged:
        ax.plot(len(distances) - 1, distances[-1], "x", color=line.get_color(), markersize=8)
    ax.set(xlabel=tr("step"), ylabel="‖w − w*‖")
    return ax


def plot_rate_vs_momentum(ax: Axes, lr: float, eigenvalues, num: int = 400) -> Axes:
    """Heavy-ball momentum's rate per step against γ for one lr, with plain GD and γ* marked."""

    gammas = np.linspace(0.0, 0.995, num)
    ax.plot(gammas, [momentum_rate(lr, g, eigenvalues) for g in gammas], color="tab:red",
            label=tr("momentum"))
    ax.axhline(gd_rate(lr, eigenvalues), color="tab:blue", linestyle=":", label=tr("plain GD (γ = 0)"))
    gamma_star = critical_momentum(lr, float(np.min(eigenvalues)))
    ax.plot(gamma_star, momentum_rate(lr, gamma_star, eigenvalues), "o", color="black",
            label=f"γ* = {gamma_star:.3f}")
    ax.set(xlabel=tr("momentum γ"), ylabel=tr("rate per step (smaller is faster)"), xlim=(0, 1))
    ax.legend(fontsize=8)
    return ax


# --- lessons 07-09: training curves and evaluation ----------------------------------------------------
def plot_loss_history(ax: Axes, history, label: str = "", color: str | None = None) -> Axes:
    """Train loss (solid) and validation loss (dashed) against epoch, from a training History."""
    epochs = np.arange(1, history.num_epochs + 1)
    train = tr("{label} train", label=label) if label else tr("train")
    validation = tr("{label} validation", label=label) if label else tr("validation")
    (line,) = ax.plot(epochs, history.train_loss, "o-", color=color, label=train)
    ax.plot(epochs, history.val_loss, "s--", color=line.get_color(), label=validation)
    ax.set(xlabel=tr("epoch"), ylabel=tr("loss (mean over batches)"))
    return ax


def plot_accuracy_history(ax: Axes, history, label: str = "", color: str | None = None) -> Axes:
    """Validation accuracy (%) against epoch, from a training History."""
    epochs = np.arange(1, history.num_epochs + 1)
    ax.plot(epochs, 100 * np.asarray(history.val_accuracy), "o-", color=color, label=label or None)
    ax.set(xlabel=tr("epoch"), ylabel=tr("validation accuracy (%)"))
    return ax


def plot_confusion_matrix(ax: Axes, confusion: torch.Tensor, class_names: Sequence[str]) -> Axes:
    """Counts of (true class, predicted class) as a heat map with the count written in each cell."""
    counts = confusion.cpu().numpy()
    ax.imshow(counts, cmap="Blues")
    for (row, col), count in np.ndenumerate(counts):
        ax.text(col, row, str(count), ha="center", va="center", fontsize=7,
                color="white" if count > counts.max() / 2 else "black")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(ticks, class_names, fontsize=8)
    ax.set(xlabel=tr("predicted class"), ylabel=tr("true class"))
    return ax


def plot_per_class_accuracy(ax: Axes, accuracies: torch.Tensor, class_names: Sequence[str]) -> Axes:
    """Horizontal bars: the share (%) of each true class that the model got right."""
    values = 100 * accuracies.cpu().numpy()
    ax.barh(np.arange(len(class_names)), values, color="tab:blue")
    for i, value in enumerate(values):
        ax.text(value - 1, i, f"{value:.1f}", ha="right", va="center", color="white", fontsize=8)
    ax.set_yticks(np.arange(len(class_names)), class_names, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel=tr("accuracy (%)"), xlim=(0, 100))
    return ax


def plot_misclassified(fig: matplotlib.figure.Figure, images: torch.Tensor, predicted: Sequence[int],
                       labels: Sequence[int], class_names: Sequence[str],
                       cols: int = 6) -> matplotlib.figure.Figure:
    """A grid of images (N, 1, 28, 28) in [0, 1], each titled with its predicted and true class."""
    rows = max(1, -(-len(images) // cols))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(images[i].squeeze(0).cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(tr("said {predicted}\nis {true}", predicted=class_names[int(predicted[i])],
                            true=class_names[int(labels[i])]), fontsize=8, color="tab:red")
    return fig


# --- lessons 05-06: mini-batches --------------------------------------------------------------------
BASIN_COLORS = {0: "tab:green", 1: "tab:red", -1: "0.5"}  # global minimum, another minimum, neither


def plot_gradient_cost(ax: Axes, rows: Sequence[int], seconds: Sequence[float]) -> Axes:
    """Seconds per gradient against the number of rows, log-log, each point labelled in ms."""
    ax.loglog(rows, seconds, "o-", color="tab:blue")
    for n, s in zip(rows, seconds, strict=True):
        ax.annotate(f"{1000 * s:.0f} ms", (n, s), textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.set(xlabel=tr("rows in the batch"), ylabel=tr("seconds per gradient (forward + backward)"))
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_gradient_cloud(ax: Axes, cloud, color: str = "tab:red", label: str | None = None) -> Axes:
    """Mini-batch gradients as dots, their theoretical 2-standard-deviation ellipse, and ∇L as an arrow."""
    g = cloud.gradients
    ax.plot(g[:, 0], g[:, 1], ".", color=color, alpha=0.35, markersize=4,
            label=label or tr("{count} mini-batch gradients, B = {batch_size}", count=len(g),
                              batch_size=cloud.batch_size))
    ellipse = covariance_ellipse(cloud.full_gradient, cloud.covariance)
    ax.plot(ellipse[:, 0], ellipse[:, 1], color=color, linewidth=1.2, label=tr("2 std of the theory"))
    ax.annotate("", xy=tuple(cloud.full_gradient), xytext=(0, 0),
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.8})
    ax.plot([], [], color="black", label=tr("full-batch gradient ∇L"))
    ax.plot(0, 0, "+", color="black", markersize=9)
    ax.set(xlabel="∂L/∂w", ylabel="∂L/∂b")
    return ax


def plot_gradient_variance(ax: Axes, batch_sizes: Sequence[int], measured: Sequence[float],
                           theory: Sequence[float]) -> Axes:
    """Measured E‖g_B − ∇L‖² (dots), the theory tr Σ/B·(m − B)/(m − 1) (line) and tr Σ/B (dashed), log-log."""
    batch_sizes = np.asarray(batch_sizes, dtype=float)
    ax.loglog(batch_sizes, theory, "-", color="tab:blue", label=tr("theory, without replacement"))
    ax.loglog(batch_sizes, theory[0] * batch_sizes[0] / batch_sizes, "--", color="0.5", linewidth=1,
              label="1/B")
    ax.loglog(batch_sizes, measured, "o", color="tab:red", label=tr("measured"))
    ax.set(xlabel=tr("batch size B"), ylabel=tr("variance of the batch gradient"))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_escape_finals(ax: Axes, result, label: str | None = None) -> Axes:
    """Where the runs of an escape experiment stopped (before settling), coloured by the minimum they settle in."""
    for basin in (0, 1, -1):
        chosen = result.finals[result.basin == basin] if basin >= 0 else result.finals[result.basin < 0]
        if len(chosen):
            name = (tr("settles in the global minimum ({count})", count=len(chosen)) if basin == 0 else
                    tr("settles in the local minimum ({count})", count=len(chosen)) if basin == 1 else
                    tr("left the region ({count})", count=len(chosen)))
            ax.plot(chosen[:, 0], chosen[:, 1], ".", color=BASIN_COLORS[basin], alpha=0.6, markersize=5,
                    label=name)
    ax.set_title(label or tr("B = {batch_size}, lr = {lr:g}, {steps} steps", batch_size=result.batch_size,
                             lr=result.lr, steps=result.num_steps), fontsize=9)
    return ax


def plot_throughput(ax: Axes, batch_sizes: Sequence[int], samples_per_second: Sequence[float],
                    label: str | None = None, color: str | None = None) -> Axes:
    """Training throughput (samples per second) against the batch size, log-log."""
    ax.loglog(batch_sizes, samples_per_second, "o-", color=color, label=label)
    ax.set(xlabel=tr("batch size"), ylabel=tr("samples per second (training steps)"))
    ax.grid(True, which="major", alpha=0.3)
    return ax


def __getattr__(name: str) -> Any:
    """``LiveCurve`` moved to :mod:`lessons_src.widgets` (a live display); the old import path still works."""
    if name == "LiveCurve":
        from lessons_src.widgets import LiveCurve

        return LiveCurve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- the learning rate: range test and schedules ---------------------------------------------------
def plot_range_test(ax: Axes, result: RangeTest, *, label: str | None = None, color: str | None = None) -> Axes:
    """The raw and smoothed losses against lr (log axis), with the steepest point and the minimum marked."""
    line, = ax.plot(result.lrs, result.smoothed, color=color, label=label or tr("smoothed loss"))
    ax.plot(result.lrs, result.losses, color=line.get_color(), alpha=0.25, lw=0.8)
    lowest = int(np.argmin(result.smoothed))
    ax.plot(result.min_loss_lr, result.smoothed[lowest], "v", color=line.get_color())
    steep = result.steepest_lr
    ax.plot(steep, np.interp(np.log(steep), np.log(result.lrs), result.smoothed), "o", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel(tr("learning rate (log scale)"))
    ax.set_ylabel(tr("training loss"))
    ax.set_ylim(bottom=0, top=min(float(np.nanmax(result.smoothed)), 2.5 * float(result.smoothed[0])) * 1.05)
    return ax


def plot_schedules(ax: Axes, schedules: Sequence[Schedule], steps_per_epoch: int | None = None) -> Axes:
    """Each schedule's lr against the update number (epochs on the axis when ``steps_per_epoch`` is given)."""
    for schedule in schedules:
        x = np.arange(schedule.total_steps)
        ax.plot(x / steps_per_epoch if steps_per_epoch else x, schedule.curve(), label=schedule.name)
    ax.set_xlabel(tr("epoch") if steps_per_epoch else tr("update"))
    ax.set_ylabel(tr("learning rate"))
    ax.legend(fontsize="small")
    return ax


# --- weight decay, initialization and clipping -----------------------------------------------------
def running_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of each ``window`` consecutive values (len(values) − window + 1 of them); a NaN or inf spoils only
    the windows that contain it (a running sum would carry it into every later window)."""
    if window < 1:
        raise ValueError(tr("window must be >= 1, got {window}", window=window))
    values = np.asarray(values, dtype=float)
    if len(values) < window:
        raise ValueError(tr("window must be at most the number of values ({count}), got {window}", count=len(values),
                            window=window))
    return np.lib.stride_tricks.sliding_window_view(values, window).mean(axis=1)


def plot_step_series(ax: Axes, values: Sequence[float], *, window: int = 1, label: str | None = None,
                     color: str | None = None, log: bool = False) -> Axes:
    """Per-step values (a History's ``step_loss`` or ``grad_norm``) against the step, as a running mean over
    ``window`` steps (plotted at the window's last step); a log y-axis with ``log=True``."""
    smoothed = running_mean(values, window)
    ax.plot(np.arange(window, len(values) + 1), smoothed, label=label, color=color, lw=1.2)
    ax.set_xlabel(tr("step"))
    if log:
        ax.set_yscale("log")
    return ax


def plot_layer_stats(ax: Axes, stats: dict[str, Sequence[Any]], field: str, *, ylabel: str | None = None) -> Axes:
    """One line per initialization scheme: ``field`` of each layer's :class:`lessons_src.init_stats.LayerStats`
    against the layer's position (1 = first linear layer), on a log axis; a line of one of ``SCHEMES`` is named
    as :func:`scheme_name` names it, any other by its key."""
    for scheme, layers in stats.items():
        ax.plot(np.arange(1, len(layers) + 1), [getattr(layer, field) for layer in layers], "o-",
                label=scheme_name(scheme) if scheme in SCHEMES else scheme)
    ax.set(xlabel=tr("linear layer"), ylabel=ylabel or field.replace("_", " "), yscale="log")
    return ax

