"""Losses over samples: the breast-cancer logistic regression against torch and scikit-learn, and
the tilted samples whose average is lesson 01's two-minima surface."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lessons_src.minibatch import random_starts
from lessons_src.sample_losses import breast_cancer_feature, tilted_two_minima
from lessons_src.surfaces import get_surface


def test_breast_cancer_data_is_standardized_and_labelled():
    x, y = breast_cancer_feature()
    assert x.shape == y.shape == (569,)
    assert abs(x.mean()) < 1e-12 and abs(x.std() - 1) < 1e-12
    assert set(np.unique(y)) == {0.0, 1.0} and y.sum() == 357   # 357 benign tumours
    assert not x.flags.writeable


def test_breast_cancer_loss_and_gradients_match_torch(cancer):
    x, y = (torch.tensor(a) for a in cancer.data)
    for w in ([0.0, -2.5], [-3.0, 0.5], [1.5, 2.0]):
        param = torch.tensor(w, dtype=torch.float64, requires_grad=True)
        per_sample = torch.nn.functional.binary_cross_entropy_with_logits(param[0] * x + param[1], y,
                                                                          reduction="none")
        np.testing.assert_allclose(cancer.sample_losses(w), per_sample.detach().numpy(), rtol=1e-12, atol=1e-14)
        per_sample.mean().backward()
        np.testing.assert_allclose(cancer.grad(w), param.grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(cancer.surface.grad(w), param.grad.numpy(), rtol=1e-10, atol=1e-14)
        assert math.isclose(cancer.loss(w), cancer.surface.loss(w), rel_tol=1e-12)
        hessian = torch.autograd.functional.hessian(
            lambda p: torch.nn.functional.binary_cross_entropy_with_logits(p[0] * x + p[1], y),
            torch.tensor(w, dtype=torch.float64))
        np.testing.assert_allclose(cancer.surface.hessian(w), hessian.numpy(), rtol=1e-10, atol=1e-15)


def test_breast_cancer_surface_grid_and_vectorized_gradient(cancer):
    W, B, L = cancer.surface.grid(12)
    for i, j in ((0, 0), (5, 7), (11, 3)):
        assert math.isclose(L[i, j], cancer.loss((W[i, j], B[i, j])), rel_tol=1e-12)
    g1, g2 = cancer.surface.grad_fn(W, B)
    np.testing.assert_allclose([g1[5, 7], g2[5, 7]], cancer.grad((W[5, 7], B[5, 7])), rtol=1e-12)


def test_breast_cancer_minimum_matches_scikit_learn(cancer):
    from sklearn.linear_model import LogisticRegression

    x, y = cancer.data
    fitted = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(x[:, None], y)
    np.testing.assert_allclose(cancer.surface.global_minimum, [fitted.coef_[0, 0], fitted.intercept_[0]], atol=1e-4)
    assert np.linalg.norm(cancer.grad(cancer.surface.global_minimum)) < 1e-12


def test_tilted_samples_average_to_the_two_minima_surface(wells):
    surface = get_surface("two_minima")
    tilt, slope = wells.data
    assert wells.num_samples == 256 and wells.surface is surface
    assert math.isclose(tilt.mean(), 0.25, abs_tol=1e-15) and abs(slope.mean()) < 1e-15
    assert math.isclose(tilt.std(), 3.0, rel_tol=1e-12) and math.isclose(slope.std(), 3.0, rel_tol=1e-12)
    for w in random_starts(surface, 10, seed=4):
        assert math.isclose(wells.loss(w), surface.loss(w), rel_tol=1e-12, abs_tol=1e-12)
        np.testing.assert_allclose(wells.grad(w), surface.grad(w), atol=1e-12)
        idx = np.arange(10)   # a batch's gradient is ∇L shifted by its mean tilt and slope
        np.testing.assert_allclose(wells.batch_grad(w, idx),
                                   surface.grad(w) + [tilt[idx].mean() - 0.25, slope[idx].mean()], atol=1e-12)


def test_tilted_two_minima_is_seeded():
    a, b, c = tilted_two_minima(seed=0), tilted_two_minima(seed=0), tilted_two_minima(seed=1)
    np.testing.assert_array_equal(a.data[0], b.data[0])
    assert not np.allclose(a.data[0], c.data[0])


def test_sample_gradients_match_autograd(wells):
    w = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    tilt, slope = (torch.tensor(a[:5]) for a in wells.data)
    losses = wells.sample_loss_fn(w[0], w[1], tilt, slope)
    for i in range(5):
        (grad,) = torch.autograd.grad(losses[i], w, retain_graph=True)
        np.testing.assert_allclose(wells.sample_grads(w.detach().numpy(), [i])[0], grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="idx"):
        wells.batch_grad([0.0, 0.0], [])


@pytest.mark.parametrize("call, name", [
    (lambda: tilted_two_minima(spread=-1.0), "spread"),
    (lambda: tilted_two_minima(spread=math.nan), "spread"),
    (lambda: tilted_two_minima(num_samples=1), "num_samples"),
    (lambda: tilted_two_minima(num_samples=10**9), "num_samples"),
    (lambda: breast_cancer_feature("no such feature"), "feature"),
])
def test_bad_arguments_raise_a_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        call()
