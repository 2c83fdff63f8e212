"""Surfaces: hand-written gradients and Hessians equal autograd. Descent: the η·λmax threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lessons_src.descent import gd_step, momentum_step, run_descent
from lessons_src.surfaces import SURFACES, get_surface

NAMES = sorted(SURFACES)


def autograd_grad_and_hessian(surface, w):
    point = torch.tensor(w, dtype=torch.float64, requires_grad=True)

    def loss(p):
        return surface.loss_fn(p[0], p[1])

    (grad,) = torch.autograd.grad(loss(point), point)
    hessian = torch.autograd.functional.hessian(loss, point.detach())
    return grad.numpy(), hessian.numpy()


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(u=st.floats(0, 1), v=st.floats(0, 1))
def test_analytic_gradient_and_hessian_equal_autograd(name, u, v):
    surface = SURFACES[name]
    w = (surface.w1_range[0] + u * (surface.w1_range[1] - surface.w1_range[0]),
         surface.w2_range[0] + v * (surface.w2_range[1] - surface.w2_range[0]))
    grad, hessian = autograd_grad_and_hessian(surface, w)
    np.testing.assert_allclose(surface.grad(w), grad, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(surface.hessian(w), hessian, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_minima_are_stationary_points_with_positive_curvature(name):
    surface = SURFACES[name]
    for minimum in surface.minima:
        np.testing.assert_allclose(surface.grad(minimum), 0, atol=1e-9)
        assert (np.linalg.eigvalsh(surface.hessian(minimum)) > 0).all()
    assert all(surface.loss(m) >= surface.min_loss for m in surface.minima)


def test_source_quadratic_minimum_and_threshold():
    surface = get_surface("source_quadratic")
    assert surface.loss((1, 1)) == 0
    np.testing.assert_allclose(surface.curvatures(), [12 - math.sqrt(128), 12 + math.sqrt(128)])
    assert surface.max_stable_lr() == pytest.approx(2 / (12 + math.sqrt(128)))


@pytest.mark.parametrize("name", NAMES)
def test_grid_is_cached_and_read_only(name):
    surface = SURFACES[name]
    W1, W2, L = surface.grid(50)
    assert surface.grid(50)[2] is L and L.shape == (50, 50)
    assert not L.flags.writeable
    np.testing.assert_allclose(L[7, 11], surface.loss((W1[7, 11], W2[7, 11])))


def test_get_surface_names_the_choices():
    with pytest.raises(ValueError, match="surface must be one of"):
        get_surface("bowl")


def test_gd_step_and_momentum_step():
    w, g = np.array([10.0, 7.5]), np.array([5.0, 5.0])
    np.testing.assert_array_equal(gd_step(w, g, 1.0), [5.0, 2.5])  # the source tutorials' A → A'
    w1, b1 = momentum_step(w, np.zeros(2), g, 0.1, 0.9)
    np.testing.assert_allclose(b1, g)
    w2, b2 = momentum_step(w1, b1, g, 0.1, 0.9)
    np.testing.assert_allclose(b2, 1.9 * g)
    np.testing.assert_allclose(w2, w - 0.1 * g - 0.1 * 1.9 * g)


@pytest.mark.parametrize("name", ["source_quadratic", "ravine"])
@pytest.mark.parametrize("factor", [0.5, 0.95])
def test_below_the_threshold_converges(name, factor):
    surface = SURFACES[name]
    path = run_descent(surface, surface.start, factor * surface.max_stable_lr(), 3000)
    assert not path.diverged
    assert path.distance_to(surface.global_minimum) < 1e-4


@pytest.mark.parametrize("name", ["source_quadratic", "ravine"])
@pytest.mark.parametrize("factor", [1.05, 2.0])
def test_above_the_threshold_diverges_and_says_when(name, factor):
    surface = SURFACES[name]
    path = run_descent(surface, surface.start, factor * surface.max_stable_lr(), 3000)
    assert path.diverged and 1 <= path.diverged_at <= 3000
    assert path.num_steps == path.diverged_at - 1 == len(path.losses) - 1
    assert np.isfinite(path.points).all() and all(surface.in_region(p) for p in path.points)


def test_two_minima_start_decides_the_minimum():
    surface = get_surface("two_minima")
    right = run_descent(surface, (0.5, 1.5), 0.05, 300)
    left = run_descent(surface, (-0.3, 1.5), 0.05, 300)
    assert right.distance_to(surface.minima[1]) < 1e-3
    assert left.distance_to(surface.minima[0]) < 1e-3


def test_zero_steps_is_just_the_start():
    surface = get_surface("ravine")
    path = run_descent(surface, (1.0, 2.0), 0.1, 0)
    assert path.points.tolist() == [[1.0, 2.0]] and not path.diverged


def test_start_far_outside_is_reported_not_raised():
    path = run_descent(get_surface("source_quadratic"), (1e300, -1e300), 0.01, 10)
    assert path.diverged_at == 0 and path.num_steps == 0


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"lr": 0}, "lr"), ({"lr": -0.1}, "lr"), ({"lr": math.nan}, "lr"), ({"lr": math.inf}, "lr"),
     ({"num_steps": -1}, "num_steps"), ({"num_steps": 2.5}, "num_steps"),
     ({"start": (math.nan, 0)}, "start"), ({"start": (math.inf, 0)}, "start"),
     ({"start": (1, 2, 3)}, "start"), ({"momentum": 1.0}, "momentum"), ({"momentum": -0.1}, "momentum")],
)
def test_bad_input_names_the_argument(kwargs, argument):
    call = {"start": (0.0, 0.0), "lr": 0.01, "num_steps": 5} | kwargs
    with pytest.raises(ValueError, match=rf"^{argument} must"):
        run_descent(get_surface("source_quadratic"), **call)


def test_every_surface_s_shown_title_is_its_title_in_english_and_translated_in_the_editions():
    from lessons_src.language import current_language, use_language

    before = current_language()
    try:
        use_language("en")
        assert all(surface.shown_title == surface.title for surface in SURFACES.values())
        use_language("zh")
        assert all(surface.shown_title != surface.title for surface in SURFACES.values())
    finally:
        use_language(before)
