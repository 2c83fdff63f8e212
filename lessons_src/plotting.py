"""Drawing functions: each takes an ``ax`` (or a ``fig``), draws, and returns it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.figure
import torch


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


def _arrow(ax: matplotlib.axes.Axes, start: tuple[float, float], end: tuple[float, float], color: str,
           linestyle: str = "-") -> None:
    """Draw an arrow between two node centres, stopping short of the node boxes."""
    ax.annotate("", xy=end, xytext=start, arrowprops={
        "arrowstyle": "-|>", "color": color, "lw": 1.6, "linestyle": linestyle,
        "shrinkA": 17, "shrinkB": 17})


def plot_computation_graph(ax: matplotlib.axes.Axes) -> matplotlib.axes.Axes:
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
