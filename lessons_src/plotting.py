"""Drawing functions: each takes an ``ax`` (or a ``fig``), draws, and returns it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.figure
import numpy as np
import torch
from matplotlib.axes import Axes


def plot_image_grid(fig: matplotlib.figure.Figure, images: torch.Tensor,
                    row_titles: Sequence[str]) -> matplotlib.figure.Figure:
    """Draw images of shape (rows, cols, H, W) or (rows, cols, 1, H, W) as a grid, one title per row."""
    images = images.squeeze(2) if images.dim() == 5 else images
    rows, cols = images.shape[:2]
    if len(row_titles) != rows:
        raise ValueError(f"row_titles must have {rows} entries, got {len(row_titles)}")
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
    ax.plot([], [], color=FORWARD_COLOR, label="forward: values")
    ax.plot([], [], color=BACKWARD_COLOR, label="backward: gradients")
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
            label="minimum")
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
    ax.set(xlabel="step", ylabel="L(w) − L(w*)")
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
