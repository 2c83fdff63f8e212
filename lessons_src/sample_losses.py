"""Losses written as averages over samples: L(w) = (1/m)·Σᵢ ℓ(w; sampleᵢ) for two parameters.

A :class:`SampleLoss` gives the loss and gradient of any subset of its samples, so one problem runs
as gradient descent (every sample per step), mini-batch SGD (B samples) or SGD (one sample). Two
problems: logistic regression on one feature of scikit-learn's breast-cancer data (real data, one
minimum) and lesson 01's two-minima surface written as the average of seeded, tilted copies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from lessons_src.language import tr
from lessons_src.surfaces import Surface, get_surface
from lessons_src.validation import as_int, as_point, as_real


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
            raise ValueError(tr("idx must select at least one sample, got an empty batch"))
        return tuple(column[idx] for column in self.data)

    def sample_losses(self, w: Any, idx: Any = None) -> np.ndarray:
        """ℓ(w; sampleᵢ) for the samples ``idx`` (default: all), shape (B,)."""
        w1, w2 = as_point("w", w)
        return np.asarray(self.sample_loss_fn(w1, w2, *self._batch(idx)), dtype=float)

    def sample_grads(self, w: Any, idx: Any = None) -> np.ndarray:
        """∇ℓ(w; sampleᵢ) for the samples ``idx`` (default: all), shape (B, 2)."""
        w1, w2 = as_point("w", w)
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


def _newton_minimum(grad: Callable, hessian: Callable, start: Sequence[float],
                    num_steps: int = 50) -> tuple[float, float]:
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
        raise ValueError(tr("{name} must be one of {choices}, got {value}", name="feature", choices=names,
                            value=repr(feature)))
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
MAX_SAMPLES = 1_000_000  # the most tilted samples one problem holds


def tilted_two_minima(num_samples: int = 256, spread: float = 3.0, seed: int = 0) -> SampleLoss:
    """Lesson 01's two-minima surface as the average of ``num_samples`` tilted copies.

    Sample i adds its own linear term aᵢ·w1 + cᵢ·w2 to the double well, with aᵢ = 0.25 + spread·zᵢ
    and cᵢ = spread·z′ᵢ, where z and z′ are seeded normal draws shifted and scaled to mean 0 and
    standard deviation 1 exactly. So the average of the samples' losses *is* the surface
    ``get_surface("two_minima")``, and a batch's gradient is ∇L plus (ā_B − 0.25, c̄_B).
    """
    num_samples = as_int("num_samples", num_samples, low=2, high=MAX_SAMPLES)
    spread = as_real("spread", spread, low=0.0)
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(num_samples, 2, generator=generator, dtype=torch.float64).numpy()
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    tilt, slope = TWO_MINIMA_TILT + spread * z[:, 0], spread * z[:, 1]
    tilt, slope = tilt - (tilt.mean() - TWO_MINIMA_TILT), slope - slope.mean()  # exact means after rounding
    for array in (tilt, slope):
        array.setflags(write=False)
    title = f"Two minima from {num_samples} tilted samples (spread {spread:g})"
    return SampleLoss("tilted_two_minima", title, (tilt, slope), _tilted_sample_loss, _tilted_sample_grad,
                      get_surface("two_minima"))
