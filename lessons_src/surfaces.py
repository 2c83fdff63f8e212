"""Two-weight loss surfaces with hand-written gradients and Hessians.

Each loss is written with arithmetic only, so the same function evaluates Python floats, NumPy
grids and PyTorch tensors; the tests check every hand-written gradient and Hessian against
``torch.autograd``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from lessons_src.language import tr

Pair = tuple[float, float]


@dataclass(frozen=True)
class Surface:
    """A loss L(w1, w2) with its gradient, Hessian, minima and a region to draw."""

    name: str
    title: str
    formula: str
    loss_fn: Callable[[Any, Any], Any]
    grad_fn: Callable[[float, float], Pair]
    hessian_fn: Callable[[float, float], tuple[Pair, Pair]]
    minima: tuple[Pair, ...]  # the global minimum first
    w1_range: Pair
    w2_range: Pair
    start: Pair
    lr: float  # a learning rate that makes good progress from ``start`` ...
    num_steps: int  # ... in this many steps

    def loss(self, w: Any) -> float:
        """L(w) for one point ``w = (w1, w2)``."""
        w1, w2 = w
        return float(self.loss_fn(float(w1), float(w2)))

    def grad(self, w: Any) -> np.ndarray:
        """∇L(w), shape (2,)."""
        w1, w2 = w
        return np.array(self.grad_fn(float(w1), float(w2)))

    def hessian(self, w: Any) -> np.ndarray:
        """The 2×2 matrix of second derivatives at ``w``."""
        w1, w2 = w
        return np.array(self.hessian_fn(float(w1), float(w2)))

    @property
    def shown_title(self) -> str:
        """The title in the language in use (``title`` is the English; a test keeps the two in step)."""
        titles = {"source_quadratic": tr("The source tutorials' quadratic"), "ravine": tr("An ill-conditioned ravine"),
                  "rosenbrock": tr("Rosenbrock's banana"), "two_minima": tr("Two minima")}
        return titles.get(self.name, self.title)

    @property
    def global_minimum(self) -> np.ndarray:
        """The lowest point, shape (2,)."""
        return np.array(self.minima[0])

    @property
    def min_loss(self) -> float:
        """L at the global minimum."""
        return self.loss(self.minima[0])

    def curvatures(self, w: Any | None = None) -> np.ndarray:
        """Eigenvalues of the Hessian at ``w`` (default: the global minimum), ascending."""
        return np.linalg.eigvalsh(self.hessian(self.global_minimum if w is None else w))

    def max_stable_lr(self) -> float:
        """2 / λmax at the global minimum: plain gradient descent converges there for lr below it."""
        return 2.0 / float(self.curvatures()[-1])

    def in_region(self, w: Any, margin: float = 1.0) -> bool:
        """Whether ``w`` lies inside the drawn region widened by ``margin`` times its size."""
        (lo1, hi1), (lo2, hi2) = self.w1_range, self.w2_range
        pad1, pad2 = margin * (hi1 - lo1), margin * (hi2 - lo2)
        return lo1 - pad1 <= w[0] <= hi1 + pad1 and lo2 - pad2 <= w[1] <= hi2 + pad2

    def grid(self, n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(W1, W2, L) on an n×n grid over the drawn region; cached, so redraws never recompute."""
        return _grid(self, n)


@lru_cache(maxsize=32)
def _grid(surface: Surface, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w1 = np.linspace(*surface.w1_range, n)
    w2 = np.linspace(*surface.w2_range, n)
    W1, W2 = np.meshgrid(w1, w2)
    L = surface.loss_fn(W1, W2)
    for array in (W1, W2, L):
        array.setflags(write=False)
    return W1, W2, L


# --- the source tutorials' quadratic: squared errors of w1·x1 + w2·x2 on two examples ----------------------
# L = (2 − w1 − w2)² + (4 − 3·w1 − w2)²: targets 2 and 4 for inputs (1, 1) and (3, 1).
def _source_loss(w1, w2):
    return (2 - w1 - w2) ** 2 + (4 - 3 * w1 - w2) ** 2


def _source_grad(w1, w2):
    r1, r2 = 2 - w1 - w2, 4 - 3 * w1 - w2
    return (-2 * r1 - 6 * r2, -2 * r1 - 2 * r2)


def _source_hessian(w1, w2):
    return ((20.0, 8.0), (8.0, 4.0))


# --- an ill-conditioned ravine: a quadratic bowl curving 40 times more sharply across than along ---
_RAVINE_EIGS = (0.5, 20.0)
_RAVINE_ANGLE = math.radians(30)
_c, _s = math.cos(_RAVINE_ANGLE), math.sin(_RAVINE_ANGLE)
_A11 = _RAVINE_EIGS[0] * _c**2 + _RAVINE_EIGS[1] * _s**2
_A22 = _RAVINE_EIGS[0] * _s**2 + _RAVINE_EIGS[1] * _c**2
_A12 = (_RAVINE_EIGS[0] - _RAVINE_EIGS[1]) * _c * _s


def _ravine_loss(w1, w2):
    return 0.5 * (_A11 * w1**2 + 2 * _A12 * w1 * w2 + _A22 * w2**2)


def _ravine_grad(w1, w2):
    return (_A11 * w1 + _A12 * w2, _A12 * w1 + _A22 * w2)


def _ravine_hessian(w1, w2):
    return ((_A11, _A12), (_A12, _A22))


# --- Rosenbrock's banana valley ---------------------------------------------------------------
def _rosenbrock_loss(w1, w2):
    return (1 - w1) ** 2 + 100 * (w2 - w1**2) ** 2


def _rosenbrock_grad(w1, w2):
    return (-2 * (1 - w1) - 400 * w1 * (w2 - w1**2), 200 * (w2 - w1**2))


def _rosenbrock_hessian(w1, w2):
    return ((2 - 400 * (w2 - w1**2) + 800 * w1**2, -400 * w1), (-400 * w1, 200.0))


# --- two minima: a tilted double well; the start decides which valley GD ends in ----------------
_TILT = 0.25


def _two_minima_loss(w1, w2):
    return (w1**2 - 1) ** 2 + _TILT * w1 + (w2 - 0.5 * w1) ** 2


def _two_minima_grad(w1, w2):
    return (4 * w1 * (w1**2 - 1) + _TILT - (w2 - 0.5 * w1), 2 * (w2 - 0.5 * w1))


def _two_minima_hessian(w1, w2):
    return ((12 * w1**2 - 4 + 0.5, -1.0), (-1.0, 2.0))


def _two_minima_points() -> tuple[Pair, Pair]:
    """Both minima: roots of 4w1³ − 4w1 + tilt = 0 on the valley floor w2 = w1/2 (global first)."""
    roots = sorted(r.real for r in np.roots([4, 0, -4, _TILT]) if abs(r.imag) < 1e-12)
    low, high = roots[0], roots[-1]  # the middle root is the saddle between them
    return (float(low), float(low / 2)), (float(high), float(high / 2))


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface("source_quadratic", "The source tutorials' quadratic", "(2 − w1 − w2)² + (4 − 3·w1 − w2)²",
                _source_loss, _source_grad, _source_hessian, minima=((1.0, 1.0),),
                w1_range=(-10.0, 10.0), w2_range=(-10.0, 10.0), start=(-8.0, 9.0), lr=0.05, num_steps=60),
        Surface("ravine", "An ill-conditioned ravine", "½ wᵀAw, eigenvalues 0.5 and 20",
                _ravine_loss, _ravine_grad, _ravine_hessian, minima=((0.0, 0.0),),
                w1_range=(-4.0, 4.0), w2_range=(-4.0, 4.0), start=(-3.5, -1.0), lr=0.09, num_steps=60),
        Surface("rosenbrock", "Rosenbrock's banana", "(1 − w1)² + 100·(w2 − w1²)²",
                _rosenbrock_loss, _rosenbrock_grad, _rosenbrock_hessian, minima=((1.0, 1.0),),
                w1_range=(-2.0, 2.0), w2_range=(-1.0, 3.0), start=(-1.2, 1.0), lr=0.0012, num_steps=1000),
        Surface("two_minima", "Two minima", "(w1² − 1)² + 0.25·w1 + (w2 − w1/2)²",
                _two_minima_loss, _two_minima_grad, _two_minima_hessian, minima=_two_minima_points(),
                w1_range=(-2.0, 2.0), w2_range=(-2.0, 2.0), start=(0.5, 1.5), lr=0.05, num_steps=60),
    )
}


# The quadratic surfaces, on which the rates of GD and momentum follow from the Hessian's eigenvalues.
QUADRATIC_SURFACES = ("ravine", "source_quadratic")


def get_surface(name: str) -> Surface:
    """The surface called ``name``; a clear error lists the names there are."""
    if name not in SURFACES:
        raise ValueError(tr("{name} must be one of {choices}, got {value}", name="surface", choices=sorted(SURFACES),
                            value=repr(name)))
    return SURFACES[name]
