"""Hand-written update rules and the loop that runs them on a 2-D surface."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from lessons_src.language import tr
from lessons_src.surfaces import Surface
from lessons_src.validation import MAX_STEPS, as_int, as_point, as_real, validate_hyperparameters


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


def _run_arguments(start: Any, lr: Any, num_steps: Any, momentum: Any) -> tuple[np.ndarray, float, int, float]:
    """(start, lr, num_steps, momentum) checked and converted, or a ValueError naming the first bad one."""
    validate_hyperparameters(lr=lr, num_steps=num_steps, momentum=momentum)
    return as_point("start", start), float(lr), int(num_steps), float(momentum)


def run_descent(surface: Surface, start: Any, lr: float, num_steps: int, *,
                momentum: float = 0.0, nesterov: bool = False) -> DescentPath:
    """Run ``num_steps`` (at most ``validation.MAX_STEPS``) of gradient descent, optionally with momentum.

    Stops early, with ``diverged_at`` set, when a point is NaN/inf or leaves the region around the
    surface (its drawn region widened by its own size on every side); a start outside that region
    gives ``diverged_at == 0``.
    """
    w, lr, num_steps, momentum = _run_arguments(start, lr, num_steps, momentum)
    if not surface.in_region(w):
        return DescentPath(w[None, :], np.array([math.nan]), diverged_at=0)
    step_rule = nesterov_step if nesterov else momentum_step
    buffer = np.zeros(2)
    points, losses = [w], [surface.loss(w)]
    for step in range(1, num_steps + 1):
        w, buffer = step_rule(w, buffer, surface.grad(w), lr, momentum)
        if not (np.all(np.isfinite(w)) and surface.in_region(w)):
            return DescentPath(np.array(points), np.array(losses), diverged_at=step)
        points.append(w)
        losses.append(surface.loss(w))
    return DescentPath(np.array(points), np.array(losses))


# --- lessons 03-04: momentum in two forms, Nesterov, torch.optim, and rates on a quadratic ------------
def velocity_momentum_step(w: Any, velocity: Any, grad: Any, lr: float,
                       momentum: float) -> tuple[Any, Any]:
    """The source tutorials' velocity form: v ← γ·v − η·g, w ← w + v. Returns (new w, new v); arrays or tensors."""
    velocity = momentum * velocity - lr * grad
    return w + velocity, velocity


def averaged_momentum_step(w: Any, average: Any, grad: Any, lr: float,
                           beta: float) -> tuple[Any, Any]:
    """Momentum as a moving average: m ← β·m + (1 − β)·g, w ← w − lr·m. Returns (new w, new m)."""
    average = beta * average + (1 - beta) * grad
    return w - lr * average, average


def nesterov_step(w: Any, buffer: Any, grad: Any, lr: float, momentum: float) -> tuple[Any, Any]:
    """PyTorch's Nesterov momentum: b ← μ·b + g, w ← w − lr·(g + μ·b). Returns (new w, new b)."""
    buffer = momentum * buffer + grad
    return w - lr * (grad + momentum * buffer), buffer


def lookahead_nesterov_step(w: Any, velocity: Any, grad_fn, lr: float,
                            momentum: float) -> tuple[Any, Any]:
    """Nesterov's look-ahead form: v ← γ·v − η·∇L(w + γ·v), w ← w + v. Returns (new w, new v)."""
    velocity = momentum * velocity - lr * grad_fn(w + momentum * velocity)
    return w + velocity, velocity


@dataclass(frozen=True)
class SurfaceRuns:
    """Paths on one surface, by name, and the number of steps they were asked for: what a view draws."""

    surface: Surface
    num_steps: int
    paths: dict[str, DescentPath]


STEP_COUNTS = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)  # round numbers of steps


def round_up_steps(num_steps: int) -> int:
    """The first round number of steps ≥ ``num_steps`` (10, 20, 50, 100, ...; itself beyond 5000)."""
    return next((count for count in STEP_COUNTS if count >= num_steps), int(num_steps))


def first_steps(path: DescentPath, num_steps: int) -> DescentPath:
    """The path cut after ``num_steps`` steps: exactly what a run of ``num_steps`` would return."""
    num_steps = as_int("num_steps", num_steps)
    keep = num_steps + 1
    diverged_at = path.diverged_at if path.diverged and path.diverged_at <= num_steps else None
    return DescentPath(path.points[:keep], path.losses[:keep], diverged_at=diverged_at)


OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "rmsprop", "adam")
OPTIMIZER_LABELS = {"sgd": "SGD", "momentum": "momentum", "nesterov": "Nesterov",
                    "rmsprop": "RMSprop", "adam": "Adam"}
DEFAULT_MOMENTUM = 0.9  # γ for "momentum" and "nesterov" unless momentum= is given
# Learning rates that make each optimizer move sensibly on each surface, and a number of steps.
COMPARISON_SETTINGS = {
    "source_quadratic": {"num_steps": 100, "lr": {"sgd": 0.05, "momentum": 0.005, "nesterov": 0.005,
                                                 "rmsprop": 0.3, "adam": 0.5}},
    "ravine": {"num_steps": 100, "lr": {"sgd": 0.09, "momentum": 0.02, "nesterov": 0.02,
                                         "rmsprop": 0.1, "adam": 0.2}},
    "rosenbrock": {"num_steps": 200, "lr": {"sgd": 0.0012, "momentum": 0.0012, "nesterov": 0.0012,
                                             "rmsprop": 0.05, "adam": 0.2}},
    "two_minima": {"num_steps": 100, "lr": {"sgd": 0.05, "momentum": 0.05, "nesterov": 0.05,
                                             "rmsprop": 0.03, "adam": 0.1}},
}


def make_torch_optimizer(name: str, params, lr: float, **settings):
    """The ``torch.optim`` optimizer called ``name`` (one of OPTIMIZER_NAMES) over ``params``."""
    if name not in OPTIMIZER_NAMES:
        raise ValueError(tr("{name} must be one of {choices}, got {value}", name="name", choices=list(OPTIMIZER_NAMES),
                            value=repr(name)))
    settings.setdefault("foreach", False)  # the one-tensor-at-a-time loop: fastest for tiny tensors
    if name in ("momentum", "nesterov"):
        settings.setdefault("momentum", DEFAULT_MOMENTUM)
        # torch refuses Nesterov without momentum; with γ = 0 it is plain gradient descent anyway
        nesterov = name == "nesterov" and settings["momentum"] > 0
        return torch.optim.SGD(params, lr=lr, nesterov=nesterov, **settings)
    optimizer_class = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}[name]
    return optimizer_class(params, lr=lr, **settings)


def run_torch_optimizer(surface: Surface, start: Any, name: str, lr: float, num_steps: int,
                        **settings) -> DescentPath:
    """Step a 2-element float64 parameter with ``torch.optim``'s ``name`` optimizer from ``start``.

    ``settings`` go to the optimizer (``momentum=``, ``betas=``, ``alpha=``, ...). The gradient put
    into ``.grad`` is the surface's hand-written ∇L (equal to autograd, and cheaper than a backward
    pass). Divergence is reported exactly as :func:`run_descent` does.
    """
    if name not in OPTIMIZER_NAMES:
        raise ValueError(tr("{name} must be one of {choices}, got {value}", name="name", choices=list(OPTIMIZER_NAMES),
                            value=repr(name)))
    w, lr, num_steps, _ = _run_arguments(start, lr, num_steps, settings.get("momentum", 0.0))
    if "momentum" in settings:
        settings["momentum"] = float(settings["momentum"])
    if not surface.in_region(w):
        return DescentPath(w[None, :], np.array([math.nan]), diverged_at=0)
    param = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    optimizer = make_torch_optimizer(name, [param], lr, **settings)
    points, diverged_at = [w], None
    for step in range(1, num_steps + 1):
        param.grad = torch.tensor(surface.grad_fn(*w.tolist()), dtype=torch.float64)
        optimizer.step()
        w = param.detach().numpy().copy()
        if not (np.all(np.isfinite(w)) and surface.in_region(w)):
            diverged_at = step
            break
        points.append(w)
    points = np.array(points)
    losses = np.asarray(surface.loss_fn(points[:, 0], points[:, 1]), dtype=float)  # all at once
    return DescentPath(points, losses, diverged_at=diverged_at)


@lru_cache(maxsize=256)
def _kept_torch_run(surface: Surface, name: str, lr: float, num_steps: int, momentum: float | None) -> DescentPath:
    settings = {} if momentum is None else {"momentum": momentum}
    path = run_torch_optimizer(surface, surface.start, name, lr, num_steps, **settings)
    for array in (path.points, path.losses):
        array.setflags(write=False)  # shared by every later request
    return path


def compare_optimizers(surface: Surface, settings: dict[str, dict[str, float]], num_steps: int) -> SurfaceRuns:
    """Each optimizer in ``settings`` (name → its ``lr`` and, optionally, ``momentum``) from the surface's
    start for ``num_steps`` steps.

    Runs are kept (the last 256), each to the next round number of steps, so asking again, or for
    fewer steps, cuts a kept run instead of recomputing it (what an explorer's steps slider does).
    """
    validate_hyperparameters(num_steps=num_steps)
    paths = {}
    for name, given in settings.items():
        momentum = given.get("momentum")
        run = _kept_torch_run(surface, name, float(given["lr"]), round_up_steps(num_steps),
                              None if momentum is None else float(momentum))
        paths[name] = first_steps(run, num_steps)
    return SurfaceRuns(surface, int(num_steps), paths)


def _as_eigenvalues(eigenvalues: Any) -> np.ndarray:
    lams = np.atleast_1d(np.asarray(eigenvalues, dtype=float))
    if lams.ndim != 1 or lams.size == 0 or not np.all(np.isfinite(lams)) or np.any(lams <= 0):
        raise ValueError(tr("eigenvalues must be finite numbers > 0, got {value}", value=repr(eigenvalues)))
    return lams


def gd_rate(lr: float, eigenvalues: Any) -> float:
    """Per-step factor by which GD shrinks the distance to a quadratic's minimum: max |1 − lr·λ|."""
    validate_hyperparameters(lr=lr)
    return float(np.max(np.abs(1 - float(lr) * _as_eigenvalues(eigenvalues))))


def momentum_rate(lr: float, momentum: float, eigenvalues: Any) -> float:
    """Heavy-ball momentum's per-step factor on a quadratic: the largest |z| solving
    z² − (1 + γ − η·λ)·z + γ = 0 over the eigenvalues λ (complex roots have |z| = √γ)."""
    validate_hyperparameters(lr=lr, momentum=momentum)
    lr, momentum = float(lr), float(momentum)
    trace = 1 + momentum - lr * _as_eigenvalues(eigenvalues)
    root = np.sqrt((trace**2 - 4 * momentum).astype(complex))
    return float(np.max(np.maximum(np.abs(trace + root), np.abs(trace - root))) / 2)


def critical_momentum(lr: float, lam_min: float) -> float:
    """γ* = (1 − √(lr·λmin))²: critical damping of the flattest direction, the fastest γ for this lr
    (while lr·λmax ≤ (1 + √γ*)²)."""
    validate_hyperparameters(lr=lr)
    lr, lam_min = float(lr), as_real("lam_min", lam_min, low=0.0, low_open=True)
    if lr * lam_min > 1:
        raise ValueError(tr("lr * lam_min must be <= 1, got lr={lr}, lam_min={lam_min}", lr=repr(lr),
                            lam_min=repr(lam_min)))
    return (1 - math.sqrt(lr * lam_min)) ** 2


def theory_distances(initial_distance: float, rate: float, num_steps: int) -> np.ndarray:
    """d₀·rᵗ for t = 0..num_steps, the distance a constant per-step rate predicts, shape (num_steps + 1,)."""
    with np.errstate(over="ignore", divide="ignore"):
        return initial_distance * rate ** np.arange(as_int("num_steps", num_steps, high=MAX_STEPS) + 1)


@dataclass(frozen=True)
class MomentumRuns:
    """Plain GD (key ``"gd"``) and heavy-ball momentum (key ``"momentum"``) from the start of a quadratic
    surface: their paths, their per-step rates, and the distances (num_steps + 1,) those rates predict."""

    surface: Surface
    num_steps: int
    lr: float
    momentum: float
    paths: dict[str, DescentPath]
    rates: dict[str, float]
    theory: dict[str, np.ndarray]


def momentum_runs(surface: Surface, lr: float, momentum: float, num_steps: int) -> MomentumRuns:
    """GD and heavy-ball momentum from ``surface.start``, and the theory of their rates on a quadratic."""
    validate_hyperparameters(lr=lr, momentum=momentum, num_steps=num_steps)
    lr, momentum, num_steps = float(lr), float(momentum), int(num_steps)
    paths = {"gd": run_descent(surface, surface.start, lr, num_steps),
             "momentum": run_descent(surface, surface.start, lr, num_steps, momentum=momentum)}
    lams = surface.curvatures()
    rates = {"gd": gd_rate(lr, lams), "momentum": momentum_rate(lr, momentum, lams)}
    start_distance = float(np.linalg.norm(np.asarray(surface.start) - surface.global_minimum))
    theory = {key: theory_distances(start_distance, rate, num_steps) for key, rate in rates.items()}
    return MomentumRuns(surface, num_steps, lr, momentum, paths, rates, theory)


def distances_to(path: DescentPath, point: Any) -> np.ndarray:
    """Euclidean distance from every point of ``path`` to ``point``, shape (k+1,)."""
    return np.linalg.norm(path.points - np.asarray(point, dtype=float), axis=1)


def empirical_rate(path: DescentPath, minimum: Any, window: int = 10) -> float:
    """The measured per-step shrink factor of the distance to ``minimum`` over the second half of
    ``path``: the ratio of the largest distances in its last and middle ``window`` steps, per step."""
    window = as_int("window", window, low=1)
    distances = distances_to(path, minimum)
    resolved = np.flatnonzero(distances > 1e-12 * max(1.0, float(np.abs(minimum).max())))
    end = int(resolved[-1]) + 1 if resolved.size else 0  # beyond it the distance is rounding noise
    if end < 4 * window:
        raise ValueError(tr("path must have at least {count} resolved steps for window={window}, got {end}",
                            count=4 * window, window=window, end=end))
    middle = end // 2
    late, early = distances[end - window:end].max(), distances[middle - window:middle].max()
    return float((late / early) ** (1 / (end - middle)))
