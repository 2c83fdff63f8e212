"""Mini-batches: losses written as averages over samples, and what sampling a batch does to a step.

A :class:`SampleLoss` is a two-parameter loss L(w) = (1/m)·Σᵢ ℓ(w; sampleᵢ) that can also give the
gradient of any subset of its samples, so the same problem runs as gradient descent (the whole
data set per step), mini-batch SGD (B samples) or SGD (one sample). Batches are drawn exactly as
``DataLoader(..., shuffle=True, generator=torch.Generator().manual_seed(seed))`` draws them (the
tests compare with a real ``DataLoader``), so every path and every noise cloud is reproducible.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lessons_src.descent import DescentPath, validate_hyper_parameters
from lessons_src.surfaces import Surface, get_surface


# --- arguments ------------------------------------------------------------------------------------
def _check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int, or a ValueError naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _as_point(w: Any) -> np.ndarray:
    point = np.asarray(w, dtype=float)
    if point.shape != (2,) or not np.all(np.isfinite(point)):
        raise ValueError(f"w must be two finite numbers (w1, w2), got {w!r}")
    return point


# --- batch size, epochs and iterations --------------------------------------------------------------
def batches_per_epoch(num_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """Iterations in one epoch, ``len(DataLoader)``: ⌈m / B⌉, or ⌊m / B⌋ with ``drop_last``."""
    num_samples = _check_int("num_samples", num_samples, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    return num_samples // batch_size if drop_last else math.ceil(num_samples / batch_size)


def epoch_batches(num_samples: int, batch_size: int, generator: torch.Generator, *,
                  drop_last: bool = False) -> list[np.ndarray]:
    """One epoch of index batches, drawn from ``generator`` exactly as a shuffling DataLoader draws them.

    A ``DataLoader(dataset, batch_size, shuffle=True, generator=generator)`` takes, at each
    ``iter()``, one int64 from the generator (a seed for worker processes), then a permutation for
    the epoch, then one more permutation of which it keeps nothing; the batches are consecutive
    slices of the first permutation.
    """
    num_samples = _check_int("num_samples", num_samples, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    torch.empty((), dtype=torch.int64).random_(generator=generator)   # the loader's base seed
    order = torch.randperm(num_samples, generator=generator).numpy()
    torch.randperm(num_samples, generator=generator)                   # the sampler's empty remainder
    stop = batches_per_epoch(num_samples, batch_size, drop_last) * batch_size
    return [order[start:start + batch_size] for start in range(0, min(stop, num_samples), batch_size)]


def batch_stream(num_samples: int, batch_size: int, num_batches: int, *, seed: int = 0,
                 drop_last: bool = False) -> list[np.ndarray]:
    """The first ``num_batches`` index batches of a shuffling DataLoader seeded ``seed``, epoch after epoch."""
    num_batches = _check_int("num_batches", num_batches, 0)
    if drop_last and batch_size > num_samples:
        raise ValueError(f"batch_size must be <= num_samples with drop_last=True, got {batch_size} > {num_samples}")
    generator = torch.Generator().manual_seed(seed)
    batches: list[np.ndarray] = []
    while len(batches) < num_batches:
        batches += epoch_batches(num_samples, batch_size, generator, drop_last=drop_last)
    return batches[:num_batches]


# --- a loss that is an average over samples -------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SampleLoss:
    """L(w) = (1/m)·Σᵢ ℓ(w1, w2; sampleᵢ) for two parameters, with the gradient of any batch of samples.

    ``data`` holds one float64 array (m,) per column of the samples; ``sample_loss_fn(w1, w2, *data)``
    and ``sample_grad_fn(w1, w2, *data)`` broadcast, so they evaluate one sample, a batch, a grid of
    points or many runs at once. ``surface`` is the averaged loss, for drawing and for its minima.
    """

    name: str
    title: str
    data: tuple[np.ndarray, ...]
    sample_loss_fn: Callable[..., Any]
    sample_grad_fn: Callable[..., tuple[Any, Any]]
    surface: Surface

    @property
    def num_samples(self) -> int:
        return len(self.data[0])

    def _batch(self, idx: Any) -> tuple[np.ndarray, ...]:
        if idx is None:
            return self.data
        idx = np.asarray(idx)
        if idx.size == 0:
            raise ValueError("idx must select at least one sample, got an empty batch")
        return tuple(column[idx] for column in self.data)

    def sample_losses(self, w: Any, idx: Any = None) -> np.ndarray:
        """ℓ(w; sampleᵢ) for the samples ``idx`` (default: all), shape (B,)."""
        w1, w2 = _as_point(w)
        return np.asarray(self.sample_loss_fn(w1, w2, *self._batch(idx)), dtype=float)

    def sample_grads(self, w: Any, idx: Any = None) -> np.ndarray:
        """∇ℓ(w; sampleᵢ) for the samples ``idx`` (default: all), shape (B, 2)."""
        w1, w2 = _as_point(w)
        g1, g2 = self.sample_grad_fn(w1, w2, *self._batch(idx))
        return np.column_stack(np.broadcast_arrays(g1, g2)).astype(float)

    def batch_grad(self, w: Any, idx: Any = None) -> np.ndarray:
        """The mini-batch gradient (1/B)·Σ_{i ∈ batch} ∇ℓ(w; sampleᵢ), shape (2,); all samples by default."""
        return self.sample_grads(w, idx).mean(axis=0)

    def loss(self, w: Any) -> float:
        """L(w), the mean over all samples."""
        return float(self.sample_losses(w).mean())

    def grad(self, w: Any) -> np.ndarray:
        """∇L(w), the full-batch gradient, shape (2,)."""
        return self.batch_grad(w)

    def gradient_covariance(self, w: Any) -> np.ndarray:
        """Σ = (1/m)·Σᵢ (gᵢ − ḡ)(gᵢ − ḡ)ᵀ of the per-sample gradients at ``w``, shape (2, 2)."""
        grads = self.sample_grads(w)
        centred = grads - grads.mean(axis=0)
        return centred.T @ centred / len(grads)


def _newton_minimum(grad: Callable, hessian: Callable, start: Sequence[float], num_steps: int = 50) -> tuple[float, float]:
    """A minimum found by Newton's method w ← w − H⁻¹∇L (for a convex, smooth loss)."""
    w = np.asarray(start, dtype=float)
    for _ in range(num_steps):
        w = w - np.linalg.solve(np.asarray(hessian(*w)), np.asarray(grad(*w)))
    return float(w[0]), float(w[1])


# --- real data: logistic regression on one feature of the breast-cancer data --------------------------
BREAST_CANCER_FEATURE = "mean radius"


@lru_cache(maxsize=8)
def breast_cancer_feature(feature: str = BREAST_CANCER_FEATURE) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled breast-cancer data: one feature standardized (m,) and y = 1 for benign (m,)."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = list(bunch.feature_names)
    if feature not in names:
        raise ValueError(f"feature must be one of {names}, got {feature!r}")
    x = bunch.data[:, names.index(feature)]
    x = (x - x.mean()) / x.std()
    y = bunch.target.astype(float)
    for array in (x, y):
        array.setflags(write=False)
    return x, y


def _logistic_sample_loss(w, b, x, y):
    """Binary cross-entropy of σ(w·x + b) against y, written stably: log(1 + e^z) − y·z."""
    z = w * x + b
    return np.logaddexp(0.0, z) - y * z


def _logistic_sample_grad(w, b, x, y):
    error = 1.0 / (1.0 + np.exp(-(w * x + b))) - y   # σ(z) − y
    return error * x, error


@lru_cache(maxsize=8)
def breast_cancer_logistic(feature: str = BREAST_CANCER_FEATURE) -> SampleLoss:
    """Logistic regression p(benign) = σ(w·x + b) on one standardized feature: a loss over (w, b), m = 569."""
    x, y = breast_cancer_feature(feature)

    def loss_fn(w, b):
        w, b = np.asarray(w, dtype=float), np.asarray(b, dtype=float)
        if w.ndim == 0 and b.ndim == 0:
            return float(np.mean(_logistic_sample_loss(w, b, x, y)))
        total = np.zeros(np.broadcast(w, b).shape)
        for xi, yi in zip(x, y, strict=True):   # one sample at a time keeps a 120×120 grid small
            total = total + _logistic_sample_loss(w, b, xi, yi)
        return total / len(x)

    def grad_fn(w, b):
        w, b = np.asarray(w, dtype=float), np.asarray(b, dtype=float)
        g1, g2 = _logistic_sample_grad(w[..., None], b[..., None], x, y)   # samples on the last axis
        if w.ndim == 0 and b.ndim == 0:
            return float(g1.mean()), float(g2.mean())
        return g1.mean(axis=-1), g2.mean(axis=-1)

    def hessian_fn(w, b):
        p = 1.0 / (1.0 + np.exp(-(w * x + b)))
        s = p * (1 - p)
        return ((float(np.mean(s * x * x)), float(np.mean(s * x))), (float(np.mean(s * x)), float(np.mean(s))))

    minimum = _newton_minimum(grad_fn, hessian_fn, (0.0, 0.0))
    surface = Surface(
        "breast_cancer", f"Breast cancer, logistic regression on '{feature}'",
        "mean BCE of σ(w·x + b)", loss_fn, grad_fn, hessian_fn, minima=(minimum,),
        w1_range=(-7.0, 1.0), w2_range=(-3.0, 3.0), start=(0.0, -2.5), lr=1.0, num_steps=100)
    return SampleLoss("breast_cancer", surface.title, (x, y), _logistic_sample_loss,
                      _logistic_sample_grad, surface)


# --- a toy with two minima, as an average of per-sample losses ------------------------------------
def _tilted_sample_loss(w1, w2, tilt, slope):
    """Lesson 01's double well with the sample's own linear tilt: (w1² − 1)² + (w2 − w1/2)² + a·w1 + c·w2."""
    return (w1**2 - 1) ** 2 + (w2 - 0.5 * w1) ** 2 + tilt * w1 + slope * w2


def _tilted_sample_grad(w1, w2, tilt, slope):
    return 4 * w1 * (w1**2 - 1) - (w2 - 0.5 * w1) + tilt, 2 * (w2 - 0.5 * w1) + slope


TWO_MINIMA_TILT = 0.25  # the average tilt: the tilt of the course's "two_minima" surface


def tilted_two_minima(num_samples: int = 256, spread: float = 3.0, seed: int = 0) -> SampleLoss:
    """Lesson 01's two-minima surface as the average of ``num_samples`` tilted copies.

    Sample i adds its own linear term aᵢ·w1 + cᵢ·w2 to the double well, with aᵢ = 0.25 + spread·zᵢ
    and cᵢ = spread·z′ᵢ, where z and z′ are seeded normal draws shifted and scaled to mean 0 and
    standard deviation 1 exactly. So the average of the samples' losses *is* the surface
    ``get_surface("two_minima")``, and a batch's gradient is ∇L plus (ā_B − 0.25, c̄_B).
    """
    num_samples = _check_int("num_samples", num_samples, 2)
    if not (isinstance(spread, (int, float)) and math.isfinite(spread) and spread >= 0):
        raise ValueError(f"spread must be a finite number >= 0, got {spread!r}")
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(num_samples, 2, generator=generator, dtype=torch.float64).numpy()
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    tilt, slope = TWO_MINIMA_TILT + spread * z[:, 0], spread * z[:, 1]
    tilt, slope = tilt - (tilt.mean() - TWO_MINIMA_TILT), slope - slope.mean()  # exact means after rounding
    for array in (tilt, slope):
        array.setflags(write=False)
    return SampleLoss("tilted_two_minima", f"Two minima from {num_samples} tilted samples (spread {spread:g})",
                      (tilt, slope), _tilted_sample_loss, _tilted_sample_grad, get_surface("two_minima"))


# --- GD, mini-batch SGD and SGD on a SampleLoss ---------------------------------------------------------
def sgd_path(problem: SampleLoss, start: Any, lr: float, batch_size: int, num_steps: int, *,
             seed: int = 0, drop_last: bool = False) -> DescentPath:
    """``num_steps`` of w ← w − lr·g_B, each g_B the mean gradient of the next batch of a shuffling loader.

    ``batch_size >= m`` (every sample in every batch) is plain gradient descent; ``batch_size = 1``
    is SGD in the strict sense. The batches are those of
    ``DataLoader(..., batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))``.
    ``losses`` are the full loss L(w) at every point. Divergence is reported as ``run_descent`` does.
    """
    validate_hyper_parameters(lr, num_steps)
    batch_size = _check_int("batch_size", batch_size, 1)
    w = _as_point(start)
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
    """``num_starts`` seeded points drawn uniformly over the surface's drawn region, shape (n, 2)."""
    num_starts = _check_int("num_starts", num_starts, 1)
    u = torch.rand(num_starts, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).numpy()
    low = np.array([surface.w1_range[0], surface.w2_range[0]])
    high = np.array([surface.w1_range[1], surface.w2_range[1]])
    return low + u * (high - low)


def run_escape_experiment(problem: SampleLoss, starts: Any, lr: float, batch_size: int, num_steps: int, *,
                          seed: int = 0, settle_steps: int = 500) -> EscapeResult:
    """Run mini-batch SGD from every start at once, then let each run settle, and see which minimum it found.

    Every run reshuffles the samples each epoch (``drop_last=False``); all runs' shuffles come from
    one generator seeded ``seed``, so the whole experiment is reproducible. ``batch_size >= m`` is
    plain GD. After ``num_steps`` noisy steps each run takes ``settle_steps`` steps of full-batch GD
    with the same lr, so that it comes to rest in whichever valley the noise left it.
    """
    validate_hyper_parameters(lr, num_steps)
    batch_size = _check_int("batch_size", batch_size, 1)
    settle_steps = _check_int("settle_steps", settle_steps, 0)
    w = np.array(starts, dtype=float, ndmin=2)
    if w.ndim != 2 or w.shape[1] != 2 or not np.all(np.isfinite(w)):
        raise ValueError(f"starts must be finite points of shape (n, 2), got shape {np.shape(starts)}")
    starts, m, surface = w.copy(), problem.num_samples, problem.surface
    alive = np.array([surface.in_region(p) for p in w])
    generator = torch.Generator().manual_seed(seed)
    order, position = None, m
    for _ in range(num_steps):
        if batch_size >= m:
            idx = None   # every sample: the full gradient
        else:
            if position >= m:   # a new epoch: every run gets its own permutation
                order = np.argsort(torch.rand(len(w), m, generator=generator, dtype=torch.float64).numpy(), axis=1)
                position = 0
            idx, position = order[:, position:position + batch_size], position + batch_size
        w = _step_alive(problem, w, alive, lr, idx)
    finals = w.copy()
    for _ in range(settle_steps):
        w = _step_alive(problem, w, alive, lr, None)
    minima = np.array(surface.minima)
    distances = np.linalg.norm(w[:, None, :] - minima[None, :, :], axis=2)
    basin = np.where(alive & (distances.min(axis=1) < 0.01), distances.argmin(axis=1), -1)
    return EscapeResult(batch_size, lr, num_steps, starts, finals, w, basin)


def _step_alive(problem: SampleLoss, w: np.ndarray, alive: np.ndarray, lr: float, idx: np.ndarray) -> np.ndarray:
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
    inside = np.all(np.isfinite(stepped), axis=1) & np.all((stepped >= low - pad) & (stepped <= high + pad), axis=1)
    alive &= inside
    return np.where(alive[:, None], stepped, w)


# --- the noise of a mini-batch gradient ---------------------------------------------------------------
def minibatch_gradients(problem: SampleLoss, w: Any, batch_size: int, num_batches: int, *,
                        seed: int = 0) -> np.ndarray:
    """The gradients at ``w`` of the first ``num_batches`` batches of a shuffling, seeded loader with
    ``drop_last=True`` (every batch holds exactly B samples), shape (num_batches, 2)."""
    batch_size = _check_int("batch_size", batch_size, 1)
    if batch_size > problem.num_samples:
        raise ValueError(f"batch_size must be <= the {problem.num_samples} samples, got {batch_size}")
    point = _as_point(w)
    batches = np.array(batch_stream(problem.num_samples, batch_size, num_batches, seed=seed, drop_last=True))
    if len(batches) == 0:
        return np.zeros((0, 2))
    per_sample = problem.sample_grads(point)            # (m, 2), computed once
    return per_sample[batches].mean(axis=1)             # (num_batches, B, 2) → (num_batches, 2)


def gradient_noise(gradients: np.ndarray, full_gradient: Any) -> float:
    """The measured variance of a mini-batch gradient: mean of ‖g_B − ∇L‖² over the batches."""
    gradients = np.asarray(gradients, dtype=float)
    if gradients.ndim != 2 or len(gradients) == 0:
        raise ValueError(f"gradients must have shape (num_batches >= 1, d), got {gradients.shape}")
    return float(np.mean(np.sum((gradients - np.asarray(full_gradient, dtype=float)) ** 2, axis=1)))


def finite_population_factor(num_samples: int, batch_size: int) -> float:
    """(m − B)/(m − 1): how much less a batch drawn without replacement varies than B independent draws."""
    num_samples = _check_int("num_samples", num_samples, 2)
    batch_size = _check_int("batch_size", batch_size, 1)
    if batch_size > num_samples:
        raise ValueError(f"batch_size must be <= num_samples, got {batch_size} > {num_samples}")
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
        raise ValueError(f"x and y must be two equally long 1-D arrays of positive numbers, got {x.shape} and {y.shape}")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def covariance_ellipse(center: Any, covariance: Any, num_std: float = 2.0, num_points: int = 100) -> np.ndarray:
    """Points (num_points, 2) on the ellipse {center + num_std·L·u : |u| = 1}, where covariance = L·Lᵀ."""
    eigenvalues, vectors = np.linalg.eigh(np.asarray(covariance, dtype=float))
    angles = np.linspace(0, 2 * np.pi, num_points)
    circle = np.column_stack([np.cos(angles), np.sin(angles)])
    return np.asarray(center, dtype=float) + num_std * (circle * np.sqrt(np.maximum(eigenvalues, 0))) @ vectors.T


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
        """The share of mini-batch gradients whose step −g_B still lowers L to first order (g_B·∇L > 0)."""
        return float(np.mean(self.gradients @ self.full_gradient > 0))


def noise_cloud(problem: SampleLoss, w: Any, batch_size: int, num_batches: int = 200, *,
                seed: int = 0) -> NoiseCloud:
    """The gradients of ``num_batches`` seeded mini-batches of size ``batch_size`` at ``w``, with the theory."""
    point = _as_point(w)
    gradients = minibatch_gradients(problem, point, batch_size, num_batches, seed=seed)
    full = problem.grad(point)
    covariance = minibatch_covariance(problem, point, batch_size)
    return NoiseCloud(point, batch_size, full, gradients, covariance,
                      gradient_noise(gradients, full) if len(gradients) else 0.0,
                      float(np.trace(covariance)), batches_per_epoch(problem.num_samples, batch_size, True))


# --- how long a gradient takes -------------------------------------------------------------------------
def gradient_seconds(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn: Callable, *,
                     repeats: int = 3, min_seconds: float = 0.0, threads: int | None = None) -> float:
    """The fastest forward + backward pass over all of X (seconds), out of at least ``repeats`` passes
    and of as many more as fit in ``min_seconds`` (the minimum filters out moments when the machine is busy).

    ``threads`` sets ``torch.set_num_threads`` for the measurement only (None: leave it as it is).
    """
    repeats = _check_int("repeats", repeats, 1)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(_check_int("threads", threads, 1))
    try:
        best, count, begin = math.inf, 0, time.perf_counter()
        while count < repeats or time.perf_counter() - begin < min_seconds:
            model.zero_grad()
            start = time.perf_counter()
            loss_fn(model(X), y).backward()
            best, count = min(best, time.perf_counter() - start), count + 1
    finally:
        torch.set_num_threads(before)
        model.zero_grad()
    return best


def training_throughput(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn: Callable,
                        batch_size: int, *, min_seconds: float = 0.3, lr: float = 0.01) -> float:
    """Samples per second of SGD steps (forward, backward, step) on consecutive batches of X, y.

    One warm-up step, then steps until ``min_seconds`` have passed (at least three). The model's
    weights change: pass a copy if they matter.
    """
    batch_size = _check_int("batch_size", batch_size, 1)
    if batch_size > len(X):
        raise ValueError(f"batch_size must be <= len(X) = {len(X)}, got {batch_size}")
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    starts = range(0, len(X) - batch_size + 1, batch_size)

    def step(i: int) -> None:
        start = starts[i % len(starts)]
        optimizer.zero_grad()
        loss_fn(model(X[start:start + batch_size]), y[start:start + batch_size]).backward()
        optimizer.step()

    step(0)
    steps, begin = 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - begin < min_seconds:
        step(steps + 1)
        steps += 1
    return steps * batch_size / (time.perf_counter() - begin)


THROUGHPUT_RECORD = Path(__file__).resolve().parents[1] / "bench" / "minibatch_throughput.json"


def throughput_record(path: str | Path = THROUGHPUT_RECORD) -> dict:
    """The throughput numbers ``bench/minibatch_throughput.py`` recorded: machine, torch, and one entry
    per thread count in ``runs`` (each with ``batch_size`` and ``samples_per_second`` lists)."""
    return json.loads(Path(path).read_text())
