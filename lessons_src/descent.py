"""Hand-written update rules and the loop that runs them on a 2-D surface."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lessons_src.surfaces import Surface


@dataclass(frozen=True)
class DescentPath:
    """Where a descent went: ``points`` (k+1, 2) and ``losses`` (k+1,) for steps 0..k.

    ``diverged_at`` is the step whose point was NaN/inf or left the region around the surface;
    that point is not stored, so every stored point can be drawn.
    """

    points: np.ndarray
    losses: np.ndarray
    diverged_at: int | None = None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def num_steps(self) -> int:
        """Steps taken successfully (the number of stored points minus one)."""
        return len(self.points) - 1

    @property
    def final_point(self) -> np.ndarray:
        return self.points[-1]

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])

    def distance_to(self, point: Any) -> float:
        """Euclidean distance from the last point to ``point``."""
        return float(np.linalg.norm(self.final_point - np.asarray(point, dtype=float)))


def gd_step(w: np.ndarray, grad: np.ndarray, lr: float) -> np.ndarray:
    """One gradient-descent step: w − lr·∇L(w)."""
    return w - lr * grad


def momentum_step(w: np.ndarray, buffer: np.ndarray, grad: np.ndarray, lr: float,
                  momentum: float) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's momentum: b ← μ·b + g, w ← w − lr·b. Returns (new w, new b)."""
    buffer = momentum * buffer + grad
    return w - lr * buffer, buffer


def validate_hyper_parameters(lr: float, num_steps: int, momentum: float = 0.0) -> None:
    """Raise ValueError naming the first argument outside its allowed range."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 0:
        raise ValueError(f"num_steps must be an int >= 0, got {num_steps!r}")
    if not (isinstance(momentum, (int, float)) and 0.0 <= momentum < 1.0):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")


def _as_start(start: Any) -> np.ndarray:
    w = np.asarray(start, dtype=float)
    if w.shape != (2,) or not np.all(np.isfinite(w)):
        raise ValueError(f"start must be two finite numbers (w1, w2), got {start!r}")
    return w


def run_descent(surface: Surface, start: Any, lr: float, num_steps: int, *,
                momentum: float = 0.0, nesterov: bool = False) -> DescentPath:
    """Run ``num_steps`` of gradient descent (optionally with momentum) from ``start``.

    Stops early, with ``diverged_at`` set, when a point is NaN/inf or leaves the region around the
    surface (its drawn region widened by its own size on every side); a start outside that region
    gives ``diverged_at == 0``.
    """
    validate_hyper_parameters(lr, num_steps, momentum)
    w = _as_start(start)
    if not surface.in_region(w):
        return DescentPath(w[None, :], np.array([math.nan]), diverged_at=0)
    buffer = np.zeros(2)
    points, losses = [w], [surface.loss(w)]
    for step in range(1, num_steps + 1):
        grad = surface.grad(w)
        if nesterov:
            # PyTorch's Nesterov: b ← μb + g, then step along g + μb
            buffer = momentum * buffer + grad
            w = w - lr * (grad + momentum * buffer)
        else:
            w, buffer = momentum_step(w, buffer, grad, lr, momentum)
        if not (np.all(np.isfinite(w)) and surface.in_region(w)):
            return DescentPath(np.array(points), np.array(losses), diverged_at=step)
        points.append(w)
        losses.append(surface.loss(w))
    return DescentPath(np.array(points), np.array(losses))
