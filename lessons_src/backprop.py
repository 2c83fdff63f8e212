"""Backpropagation by hand for two small sigmoid classifiers, and a way to compare the result.

Conventions: ``X`` is (m, n) with one sample per row, weights are column matrices without biases,
labels ``y`` are floats in {0, 1} with the shape of the output, and the loss is binary cross-entropy
SUMMED over samples (and outputs): L = −Σ [y·ln σ + (1 − y)·ln(1 − σ)]. With a sum there is no
1/m in the gradients; PyTorch's ``nn.BCELoss()`` averages by default, so compare with
``nn.BCELoss(reduction="sum")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lessons_src.language import tr
from lessons_src.validation import require_matrix


@dataclass(frozen=True)
class Comparison:
    """How close two tensors are: bit-for-bit equal, equal within tolerance, largest difference."""

    exact: bool
    allclose: bool
    max_abs_diff: float

    def __bool__(self) -> bool:
        return self.allclose

    def __repr__(self) -> str:
        return (f"Comparison(exact={self.exact}, allclose={self.allclose}, "
                f"max_abs_diff={self.max_abs_diff:.3g})")


def compare(a: torch.Tensor, b: torch.Tensor, *, rtol: float = 1e-5, atol: float = 1e-6) -> Comparison:
    """Compare two tensors of the same shape (for example a hand-written and an autograd gradient)."""
    if not isinstance(a, torch.Tensor):
        raise ValueError(tr("{name} must be a torch.Tensor, got {type}", name="a", type=type(a).__name__))
    if not isinstance(b, torch.Tensor):
        raise ValueError(tr("{name} must be a torch.Tensor, got {type}", name="b", type=type(b).__name__))
    if a.shape != b.shape:
        raise ValueError(tr("b must have the shape of a {want}, got {shape}", want=tuple(a.shape),
                            shape=tuple(b.shape)))
    a, b = a.detach(), b.detach().to(a.device)
    diff = (a.double() - b.double()).abs()
    return Comparison(
        exact=bool(torch.equal(a, b)),
        allclose=bool(torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol)),
        max_abs_diff=float(diff.max()) if diff.numel() else 0.0,
    )


def bce_sum(sigma: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over all entries: −Σ [y·ln σ + (1 − y)·ln(1 − σ)] (a scalar)."""
    if sigma.shape != y.shape:
        raise ValueError(tr("y must have the shape of sigma {want}, got {shape}", want=tuple(sigma.shape),
                            shape=tuple(y.shape)))
    return -(y * torch.log(sigma) + (1 - y) * torch.log(1 - sigma)).sum()


def logistic_forward(X: torch.Tensor, w: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Logistic regression forward pass: z = Xw (m, k), σ = sigmoid(z) (m, k), loss = BCE sum."""
    require_matrix("X", X)
    require_matrix("w", w, rows=X.shape[1])
    require_matrix("y", y, rows=X.shape[0], cols=w.shape[1])
    z = X @ w
    sigma = torch.sigmoid(z)
    return {"z": z, "sigma": sigma, "loss": bce_sum(sigma, y)}


def logistic_backward(X: torch.Tensor, y: torch.Tensor, forward: dict[str, torch.Tensor]) -> torch.Tensor:
    """∂L/∂w = Xᵀ(σ − y), shape (n, k), from the ``forward`` dict of :func:`logistic_forward`."""
    require_matrix("X", X)
    require_matrix("y", y, rows=X.shape[0], cols=forward["sigma"].shape[1])
    return X.T @ (forward["sigma"] - y)


def two_layer_forward(X: torch.Tensor, w01: torch.Tensor, w12: torch.Tensor,
                      y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Two sigmoid layers without biases: z1 = X w01 (m, h), σ1, z2 = σ1 w12 (m, k), σ2, BCE sum."""
    require_matrix("X", X)
    require_matrix("w01", w01, rows=X.shape[1])
    require_matrix("w12", w12, rows=w01.shape[1])
    require_matrix("y", y, rows=X.shape[0], cols=w12.shape[1])
    z1 = X @ w01
    sigma1 = torch.sigmoid(z1)
    z2 = sigma1 @ w12
    sigma2 = torch.sigmoid(z2)
    return {"z1": z1, "sigma1": sigma1, "z2": z2, "sigma2": sigma2, "loss": bce_sum(sigma2, y)}


def two_layer_backward(X: torch.Tensor, y: torch.Tensor, w12: torch.Tensor,
                       forward: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Gradients {"w01": (n, h), "w12": (h, k)} of the BCE sum, reusing the ``forward`` tensors."""
    sigma1, sigma2 = forward["sigma1"], forward["sigma2"]
    require_matrix("X", X, rows=sigma1.shape[0])
    require_matrix("y", y, rows=sigma2.shape[0], cols=sigma2.shape[1])
    require_matrix("w12", w12, rows=sigma1.shape[1], cols=sigma2.shape[1])
    delta2 = sigma2 - y                                   # ∂L/∂z2
    delta1 = (delta2 @ w12.T) * sigma1 * (1 - sigma1)     # ∂L/∂z1 = ∂L/∂σ1 ⊙ σ1(1 − σ1)
    return {"w01": X.T @ delta1, "w12": sigma1.T @ delta2}
