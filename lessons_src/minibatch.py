"""What sampling a mini-batch does to a step: paths, escapes from a local minimum, gradient noise.

Every function takes a :class:`~lessons_src.sample_losses.SampleLoss` and draws its batches from
the course's one seeded order (:mod:`lessons_src.batches`), so a path, an escape count or a noise
cloud is the same on every run, and the same as a ``DataLoader`` with ``sampler=EpochSampler(...)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lessons_src.batches import batch_stream, batches_per_epoch
from lessons_src.descent import DescentPath
from lessons_src.language import tr
from lessons_src.sample_losses import SampleLoss
from lessons_src.surfaces import Surface
from lessons_src.training import epoch_order
from lessons_src.validation import MAX_STEPS, as_int, as_point, validate_hyperparameters

MAX_RUNS = 10_000  # the most runs (starts) one escape experiment steps at once
MAX_NOISE_BATCHES = 10_000  # the most batches one noise cloud draws (10 000 × 569 × 2 floats ≈ 90 MB)


# --- GD, mini-batch SGD and SGD on a SampleLoss --------------------------------------------------
def sgd_path(problem: SampleLoss, start: Any, lr: float, batch_size: int, num_steps: int, *,
             seed: int = 0, drop_last: bool = False) -> DescentPath:
    """``num_steps`` (at most ``MAX_STEPS``) of w ← w − lr·g_B, g_B the mean gradient of the next batch.

    ``batch_size >= m`` (every sample in every batch) is plain gradient descent; ``batch_size = 1``
    is SGD in the strict sense. The batches are those of :func:`~lessons_src.batches.batch_stream`,
    i.e. of ``DataLoader(..., batch_size, sampler=EpochSampler(m, seed=seed))``. ``losses`` are the
    full loss L(w) at every point. Divergence is reported as ``run_descent`` does.
    """
    validate_hyperparameters(lr=lr, num_steps=num_steps, batch_size=batch_size)
    lr, batch_size, w = float(lr), int(batch_size), as_point("start", start)
    surface = problem.surface
    if not surface.in_region(w):
        return DescentPath(w[None, :], np.array([math.nan]), diverged_at=0)
    batches = batch_stream(problem.num_samples, batch_size, num_steps, seed=seed, drop_last=drop_last)
    points = [w]
    for step, idx in enumerate(batches, start=1):
        w = w - lr * problem.batch_grad(w, idx)   # w_{t+1} = w_t − η·g_B(w_t)
        if not (np.all(np.isfinite(w)) and surface.in_region(w)):
            points = np.array(points)
            return DescentPath(points, _losses(problem, points), diverged_at=step)
        points.append(w)
    points = np.array(points)
    return DescentPath(points, _losses(problem, points))


def _losses(problem: SampleLoss, points: np.ndarray) -> np.ndarray:
    return np.array([problem.loss(p) for p in points])


# --- does noise help to escape a local minimum? ---------------------------------------------------
@dataclass(frozen=True)
class EscapeResult:
    """Where many runs of one method ended: ``settled`` is each run's final point after noise-free GD.

    ``basin`` holds, per run, the index of the minimum it settled in (0 is the global one), or −1
    for a run that left the region (diverged) or did not settle within 0.01 of a minimum.
    """

    batch_size: int
    lr: float
    num_steps: int
    starts: np.ndarray
    finals: np.ndarray
    settled: np.ndarray
    basin: np.ndarray

    @property
    def num_runs(self) -> int:
        return len(self.basin)

    @property
    def counts(self) -> dict[str, int]:
        """How many runs settled in the global minimum, in another one, or nowhere."""
        return {"global": int(np.sum(self.basin == 0)), "local": int(np.sum(self.basin > 0)),
                "neither": int(np.sum(self.basin < 0))}

    @property
    def fraction_global(self) -> float:
        return self.counts["global"] / self.num_runs


def random_starts(surface: Surface, num_starts: int, seed: int = 0) -> np.ndarray:
    """``num_starts`` (at most ``MAX_RUNS``) seeded points drawn uniformly over the surface's region, (n, 2)."""
    num_starts = as_int("num_starts", num_starts, low=1, high=MAX_RUNS)
    generator = torch.Generator().manual_seed(seed)
    u = torch.rand(num_starts, 2, generator=generator, dtype=torch.float64).numpy()
    low = np.array([surface.w1_range[0], surface.w2_range[0]])
    high = np.array([surface.w1_range[1], surface.w2_range[1]])
    return low + u * (high - low)


def run_escape_experiment(problem: SampleLoss, starts: Any, lr: float, batch_size: int, num_steps: int, *,
                          seed: int = 0, settle_steps: int = 500) -> EscapeResult:
    """Run mini-batch SGD from every start at once, let each run settle, and see which minimum it found.

    Every run reshuffles the samples each epoch (``drop_last=False``) in the course's seeded order:
    with n runs, run r's epoch e is ``epoch_order(m, e·n + r, seed=seed)``, so no two runs share a
    shuffle and the whole experiment is reproducible. ``batch_size >= m`` is plain GD. After
    ``num_steps`` noisy steps each run takes ``settle_steps`` steps of full-batch GD with the same
    lr, so that it comes to rest in whichever valley the noise left it. Both step counts are at
    most ``MAX_STEPS``, the number of starts at most ``MAX_RUNS``.
    """
    validate_hyperparameters(lr=lr, num_steps=num_steps, batch_size=batch_size)
    lr, num_steps, batch_size = float(lr), int(num_steps), int(batch_size)
    settle_steps = as_int("settle_steps", settle_steps, high=MAX_STEPS, remedy=tr("settle in fewer steps"))
    w = _as_starts(starts)
    starts, m, surface = w.copy(), problem.num_samples, problem.surface
    alive = np.array([surface.in_region(p) for p in w])
    epoch, order, position = 0, None, m
    for _ in range(num_steps):
        if batch_size >= m:
            idx = None   # every sample: the full gradient
        else:
            if position >= m:   # a new epoch: every run gets its own order
                order = np.stack([epoch_order(m, epoch * len(w) + r, seed=seed).numpy() for r in range(len(w))])
                epoch, position = epoch + 1, 0
            idx, position = order[:, position:position + batch_size], position + batch_size
        w = _step_alive(problem, w, alive, lr, idx)
    finals = w.copy()
    for _ in range(settle_steps):
        w = _step_alive(problem, w, alive, lr, None)
    minima = np.array(surface.minima)
    distances = np.linalg.norm(w[:, None, :] - minima[None, :, :], axis=2)
    basin = np.where(alive & (distances.min(axis=1) < 0.01), distances.argmin(axis=1), -1)
    return EscapeResult(batch_size, lr, num_steps, starts, finals, w, basin)


# Lesson 06's escape table as measured: of 400 runs from ``random_starts(two_minima, 400, seed=0)``,
# how many settle in the global minimum after 500 steps (shuffles seeded 1), by lr and batch size.
# The lesson quotes these numbers; its check and a unit test compare a fresh run with them.
ESCAPE_TABLE_GLOBAL_COUNTS = {
    0.02: {256: 206, 64: 206, 16: 207, 4: 204, 1: 203},
    0.05: {256: 206, 64: 206, 16: 205, 4: 205, 1: 255},
    0.1: {256: 208, 64: 208, 16: 203, 4: 209, 1: 259},
}


def _as_starts(starts: Any) -> np.ndarray:
    """Finite points of shape (n, 2), 1 <= n <= MAX_RUNS, as a float array; else a ValueError."""
    try:
        w = np.array(starts, dtype=float, ndmin=2)
    except (TypeError, ValueError):
        w = np.full((1, 3), np.nan)
    if w.ndim != 2 or w.shape[1] != 2 or not 1 <= len(w) <= MAX_RUNS or not np.all(np.isfinite(w)):
        raise ValueError(tr("starts must be 1 to {max_runs} finite points of shape (n, 2), got shape {shape}",
                            max_runs=MAX_RUNS, shape=np.shape(starts)))
    return w


def _step_alive(problem: SampleLoss, w: np.ndarray, alive: np.ndarray, lr: float,
                idx: np.ndarray | None) -> np.ndarray:
    """One step for every run still in the region (n, 2), on the batches ``idx`` (n, B) or, for None,
    on all samples (the surface's gradient, the same mean); a run that leaves the region stops."""
    if idx is None:
        grads = np.column_stack(problem.surface.grad_fn(w[:, 0], w[:, 1]))
    else:
        columns = tuple(column[idx] for column in problem.data)   # each (n, B)
        g1, g2 = problem.sample_grad_fn(w[:, :1], w[:, 1:], *columns)
        grads = np.column_stack([np.broadcast_to(g1, idx.shape).mean(axis=1),
                                 np.broadcast_to(g2, idx.shape).mean(axis=1)])
    stepped = w - lr * grads
    low = np.array([problem.surface.w1_range[0], problem.surface.w2_range[0]])
    high = np.array([problem.surface.w1_range[1], problem.surface.w2_range[1]])
    pad = high - low
    in_box = (stepped >= low - pad) & (stepped <= high + pad)
    inside = np.all(np.isfinite(stepped), axis=1) & np.all(in_box, axis=1)
    alive &= inside
    return np.where(alive[:, None], stepped, w)


# --- the noise of a mini-batch gradient ----------------------------------------------------------
def minibatch_gradients(problem: SampleLoss, w: Any, batch_size: int, num_batches: int, *,
                        seed: int = 0) -> np.ndarray:
    """The gradients at ``w`` of the first ``num_batches`` (at most ``MAX_NOISE_BATCHES``) batches of the
    seeded order with ``drop_last=True`` (every batch holds exactly B samples), shape (num_batches, 2)."""
    batch_size = as_int("batch_size", batch_size, low=1, high=problem.num_samples,
                        remedy=tr("a batch holds at most the {num_samples} samples",
                                  num_samples=problem.num_samples))
    num_batches = as_int("num_batches", num_batches, high=MAX_NOISE_BATCHES, remedy=tr("draw fewer batches"))
    point = as_point("w", w)
    batches = np.array(batch_stream(problem.num_samples, batch_size, num_batches, seed=seed, drop_last=True))
    if len(batches) == 0:
        return np.zeros((0, 2))
    per_sample = problem.sample_grads(point)            # (m, 2), computed once
    return per_sample[batches].mean(axis=1)             # (num_batches, B, 2) → (num_batches, 2)


def gradient_noise(gradients: np.ndarray, full_gradient: Any) -> float:
    """The measured variance of a mini-batch gradient: mean of ‖g_B − ∇L‖² over the batches."""
    gradients = np.asarray(gradients, dtype=float)
    if gradients.ndim != 2 or len(gradients) == 0:
        raise ValueError(tr("gradients must have shape (num_batches >= 1, d), got {shape}", shape=gradients.shape))
    return float(np.mean(np.sum((gradients - np.asarray(full_gradient, dtype=float)) ** 2, axis=1)))


def finite_population_factor(num_samples: int, batch_size: int) -> float:
    """(m − B)/(m − 1): how much less a batch drawn without replacement varies than B independent draws."""
    num_samples = as_int("num_samples", num_samples, low=2)
    batch_size = as_int("batch_size", batch_size, low=1, high=num_samples)
    return (num_samples - batch_size) / (num_samples - 1)


def minibatch_covariance(problem: SampleLoss, w: Any, batch_size: int) -> np.ndarray:
    """Cov(g_B) = Σ/B·(m − B)/(m − 1) for a batch of B distinct samples drawn at random, shape (2, 2)."""
    factor = finite_population_factor(problem.num_samples, batch_size)
    return problem.gradient_covariance(w) / batch_size * factor


def minibatch_variance(problem: SampleLoss, w: Any, batch_size: int) -> float:
    """E‖g_B − ∇L‖² = tr(Σ)/B·(m − B)/(m − 1): the theory that :func:`gradient_noise` measures."""
    return float(np.trace(minibatch_covariance(problem, w, batch_size)))


def log_log_slope(x: Any, y: Any) -> float:
    """The least-squares slope of log y against log x (−1 for y ∝ 1/x)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError(tr("x and y must be two equally long 1-D arrays of positive numbers, got {x_shape} and "
                            "{y_shape}", x_shape=x.shape, y_shape=y.shape))
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def covariance_ellipse(center: Any, covariance: Any, num_std: float = 2.0, num_points: int = 100) -> np.ndarray:
    """Points (num_points, 2) on the ellipse {center + num_std·L·u : |u| = 1}, where covariance = L·Lᵀ."""
    eigenvalues, vectors = np.linalg.eigh(np.asarray(covariance, dtype=float))
    angles = np.linspace(0, 2 * np.pi, num_points)
    circle = np.column_stack([np.cos(angles), np.sin(angles)])
    scaled = circle * np.sqrt(np.maximum(eigenvalues, 0))
    return np.asarray(center, dtype=float) + num_std * scaled @ vectors.T


@dataclass(frozen=True)
class NoiseCloud:
    """Everything the noise-cloud explorer shows for one point and one batch size."""

    w: np.ndarray                 # the point (2,)
    batch_size: int
    full_gradient: np.ndarray     # ∇L(w) (2,)
    gradients: np.ndarray         # one row per mini-batch (num_batches, 2)
    covariance: np.ndarray        # the theory Cov(g_B) (2, 2)
    measured_variance: float      # mean ‖g_B − ∇L‖²
    theory_variance: float        # tr Cov(g_B)
    iterations_per_epoch: int     # ⌊m / B⌋ (drop_last=True)

    @property
    def share_downhill(self) -> float:
        """The share of batch gradients whose step −g_B still lowers L to first order (g_B·∇L > 0)."""
        return float(np.mean(self.gradients @ self.full_gradient > 0))


def noise_cloud(problem: SampleLoss, w: Any, batch_size: int, num_batches: int = 200, *,
                seed: int = 0) -> NoiseCloud:
    """The gradients of ``num_batches`` seeded mini-batches of size ``batch_size`` at ``w``, with the theory."""
    point = as_point("w", w)
    gradients = minibatch_gradients(problem, point, batch_size, num_batches, seed=seed)
    full = problem.grad(point)
    covariance = minibatch_covariance(problem, point, batch_size)
    return NoiseCloud(point, batch_size, full, gradients, covariance,
                      gradient_noise(gradients, full) if len(gradients) else 0.0,
                      float(np.trace(covariance)), batches_per_epoch(problem.num_samples, batch_size, True))


@dataclass(frozen=True)
class VarianceCurve:
    """The variance of a batch gradient against the batch size at one point, measured and in theory."""

    batch_sizes: np.ndarray   # (k,)
    measured: np.ndarray      # mean ‖g_B − ∇L‖² over the seeded batches (k,)
    theory: np.ndarray        # tr Σ/B·(m − B)/(m − 1) (k,)


def variance_curve(problem: SampleLoss, w: Any, batch_sizes: Any, num_batches: int = 200, *,
                   seed: int = 0) -> VarianceCurve:
    """Measured and theoretical variance of the batch gradient at ``w`` for every size in ``batch_sizes``."""
    sizes = np.array([as_int("batch_sizes", b, low=1) for b in batch_sizes])
    measured = [noise_cloud(problem, w, int(b), num_batches, seed=seed).measured_variance for b in sizes]
    theory = [minibatch_variance(problem, w, int(b)) for b in sizes]
    return VarianceCurve(sizes, np.array(measured), np.array(theory))


# What lesson 06's noise-cloud explorer offers: batch sizes (569, the whole breast-cancer set), points.
NOISE_CLOUD_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 569)
NOISE_CLOUD_POINTS = {"start": ("at the start (0, −2.5)", (0.0, -2.5)),
                      "near": ("near the minimum, at (−3.5, 0.6)", (-3.5, 0.6))}
