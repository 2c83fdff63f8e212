"""The landscape's pure functions against plain oracles: the naive loop, numpy's SVD, torch's Hessian."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lessons_src.landscape import (
    PlaneEvaluator,
    combine,
    filter_normalize,
    filter_normalized_direction,
    flatten,
    get_weights,
    hessian_vector_product,
    hvp_finite_difference,
    interpolate,
    interpolation_points,
    linear_layers,
    losses_at,
    random_direction,
    span_box,
    top_hessian_eigenvalue,
    train_recording,
    trajectory_pca,
    unflatten,
)
from lessons_src.models import TutorialMLP
from lessons_src.training import TensorLoader


def small_mlp(seed: int = 0, widths=(12, 8, 6, 3)) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers += [nn.ReLU()] if i else []
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


def data(n: int = 50, features: int = 12, classes: int = 3, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=generator), torch.randint(0, classes, (n,), generator=generator)


def test_factored_plane_equals_the_naive_loop():
    model, (X, y) = small_mlp(), data()
    w = get_weights(model)
    d1, d2 = filter_normalized_direction(w, 1), filter_normalized_direction(w, 2)
    coeffs = np.array([[0.0, 0.0], [0.5, -0.3], [-1.0, 1.0], [2.0, 0.1]])
    fast_loss, fast_acc = PlaneEvaluator(model, w, [d1, d2], X, y).evaluate(coeffs)
    slow_loss, slow_acc = losses_at(model, [combine(w, [d1, d2], c) for c in coeffs], X, y)
    np.testing.assert_allclose(fast_loss, slow_loss, rtol=1e-5)
    np.testing.assert_allclose(fast_acc, slow_acc)


def test_factored_plane_equals_the_naive_loop_on_the_tutorial_mlp_with_biases_moving():
    model = TutorialMLP()
    X, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    w = get_weights(model)
    d1, d2 = random_direction(w, 0), random_direction(w, 1)  # biases move too
    coeffs = np.array([[0.01, 0.02], [-0.03, 0.0]])
    fast, _ = PlaneEvaluator(model, w, [d1, d2], X, y).evaluate(coeffs)
    slow, _ = losses_at(model, [combine(w, [d1, d2], c) for c in coeffs], X, y)
    np.testing.assert_allclose(fast, slow, rtol=1e-4)


def test_the_slice_centre_is_the_model_loss_and_the_model_keeps_its_weights():
    model, (X, y) = small_mlp(), data()
    w = get_weights(model)
    grid = PlaneEvaluator(model, w, [filter_normalized_direction(w, s) for s in (0, 1)], X, y).grid(1.0, 5)
    expected = nn.functional.cross_entropy(model(X), y).item()
    assert grid.loss.shape == (5, 5) and grid.centre_loss == pytest.approx(expected, rel=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(w, get_weights(model), strict=True))


def test_interpolation_is_batched_and_matches_the_points():
    start, end = small_mlp(0), small_mlp(1)
    X, y = data()
    ts = np.array([-0.5, 0.0, 0.25, 0.5, 1.0, 1.5])
    fast, _ = interpolate(start, get_weights(start), get_weights(end), ts, X, y)
    slow, _ = losses_at(start, interpolation_points(get_weights(start), get_weights(end), ts), X, y)
    np.testing.assert_allclose(fast, slow, rtol=1e-5)
    assert fast[4] == pytest.approx(nn.functional.cross_entropy(end(X), y).item(), rel=1e-5)


def test_filter_normalization_gives_each_row_its_weights_row_norm_and_zero_biases():
    model = small_mlp()
    w = get_weights(model)
    d = filter_normalize(random_direction(w, 3), w)
    for dt, wt in zip(d, w, strict=True):
        if wt.dim() == 1:
            assert torch.count_nonzero(dt) == 0
        else:
            torch.testing.assert_close(dt.norm(dim=1), wt.norm(dim=1))


def test_filter_normalization_treats_a_conv_output_channel_as_one_filter():
    w = [torch.randn(4, 3, 5, 5)]
    d = filter_normalize(random_direction(w, 0), w)
    torch.testing.assert_close(d[0].flatten(1).norm(dim=1), w[0].flatten(1).norm(dim=1))


def test_random_directions_are_seeded():
    w = get_weights(small_mlp())
    assert all(torch.equal(a, b) for a, b in zip(random_direction(w, 5), random_direction(w, 5), strict=True))
    assert not torch.equal(random_direction(w, 5)[0], random_direction(w, 6)[0])


def test_flatten_and_unflatten_are_inverse():
    w = get_weights(small_mlp())
    back = unflatten(flatten(w), w)
    assert all(torch.equal(a, b) for a, b in zip(w, back, strict=True))
    with pytest.raises(ValueError, match="vector must have"):
        unflatten(torch.zeros(3), w)


def test_trajectory_pca_agrees_with_numpy_svd():
    generator = torch.Generator().manual_seed(0)
    snapshots = torch.randn(9, 40, generator=generator, dtype=torch.float64).cumsum(0)
    pca = trajectory_pca(snapshots, k=2)
    offsets = (snapshots - snapshots[-1]).numpy()
    centred = offsets - offsets.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(pca.explained, s[:2] ** 2 / (s**2).sum(), rtol=1e-8)
    for k in range(2):  # a singular vector is defined up to its sign
        got = pca.directions[k].numpy()
        np.testing.assert_allclose(abs(got @ vt[k]), 1.0, rtol=1e-8)
    np.testing.assert_allclose(pca.coords, offsets @ pca.directions.numpy().T)
    assert np.allclose(pca.coords[-1], 0)


def test_hvp_matches_the_full_hessian_and_finite_differences():
    model, (X, y) = small_mlp(widths=(4, 5, 3)).double(), data(features=4)
    X = X.double()  # float64: a small ε keeps the finite difference on one side of every ReLU kink
    w = get_weights(model)
    names = [n for n, _ in model.named_parameters()]

    def loss_of(vector):
        params = dict(zip(names, unflatten(vector, w), strict=True))
        return nn.functional.cross_entropy(torch.func.functional_call(model, params, (X,)), y)

    H = torch.autograd.functional.hessian(loss_of, flatten(w))
    v = random_direction(w, 0)
    hv = flatten(hessian_vector_product(model, w, X, y, v))
    torch.testing.assert_close(hv, H @ flatten(v), rtol=1e-8, atol=1e-10)
    fd = flatten(hvp_finite_difference(model, w, X, y, v, eps=1e-6))
    torch.testing.assert_close(fd, hv, rtol=1e-4, atol=1e-6)


def test_power_iteration_finds_the_largest_eigenvalue_of_the_hessian():
    model, (X, y) = small_mlp(widths=(4, 5, 3)).double(), data(features=4)
    X = X.double()
    w = get_weights(model)
    names = [n for n, _ in model.named_parameters()]

    def loss_of(vector):
        params = dict(zip(names, unflatten(vector, w), strict=True))
        return nn.functional.cross_entropy(torch.func.functional_call(model, params, (X,)), y)

    eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flatten(w)))
    largest = eigenvalues[eigenvalues.abs().argmax()].item()
    result = top_hessian_eigenvalue(model, w, X, y, num_iterations=1000, tol=1e-10)
    assert result.converged and result.eigenvalue == pytest.approx(largest, rel=1e-3)
    # a finite-difference estimate of vᵀHv along the eigenvector agrees too
    v = result.vector
    fd = flatten(hvp_finite_difference(model, w, X, y, v, eps=1e-6))
    assert float(fd @ flatten(v)) == pytest.approx(largest, rel=1e-4)


def test_train_recording_keeps_the_start_every_kth_step_and_the_end():
    model, (X, y) = small_mlp(), data(n=50)
    start = flatten(get_weights(model))
    run = train_recording(model, TensorLoader(X, y, 8), nn.CrossEntropyLoss(),
                          torch.optim.SGD(model.parameters(), lr=0.1), 2, every=5)
    assert list(run.steps) == [0, 5, 10, 14] and len(run.train_loss) == 14
    assert torch.equal(run.snapshots[0], start) and torch.equal(run.snapshots[-1], flatten(get_weights(model)))


def test_bad_input_names_the_argument_the_range_and_the_remedy():
    model, (X, y) = small_mlp(), data()
    w = get_weights(model)
    ev = PlaneEvaluator(model, w, [random_direction(w, 0), random_direction(w, 1)], X, y)
    with pytest.raises(ValueError, match=r"resolution must be an int in \[2, 61\], got 500; a finer slice"):
        ev.grid(1.0, 500)
    with pytest.raises(ValueError, match="span must be a finite number > 0, got -1"):
        ev.grid(-1, 5)
    with pytest.raises(ValueError, match=r"coeffs must have shape \(points, 2\)"):
        ev.evaluate(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="direction must hold one tensor per parameter"):
        filter_normalize(random_direction(w[:2], 0), w)
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2))
    with pytest.raises(ValueError, match="model must be Flatten, then Linear layers.*use losses_at"):
        linear_layers(conv)
    with pytest.raises(ValueError, match="span's box must have a_min < a_max"):
        span_box((1, 0, 0, 1))
    with pytest.raises(ValueError, match=r"snapshots must have shape \(T ≥ 3, n\)"):
        trajectory_pca(torch.zeros(2, 5))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_plane_is_evaluated_on_the_models_device():
    model, (X, y) = small_mlp().cuda(), data()
    w = get_weights(model)
    ev = PlaneEvaluator(model, w, [random_direction(w, 0), random_direction(w, 1)], X, y)
    assert ev.first.device.type == "cuda"
    slow, _ = losses_at(model, [combine(w, [random_direction(w, 0), random_direction(w, 1)], (0.1, 0.2))], X, y)
    assert ev.evaluate(np.array([[0.1, 0.2]]))[0][0] == pytest.approx(slow[0], rel=1e-4)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), seed=st.integers(0, 1000), scale=st.floats(1e-3, 1e3))
def test_filter_normalization_holds_for_every_shape_and_scale(rows, cols, seed, scale):
    weights = [scale * torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed)), torch.randn(rows)]
    d = filter_normalize(random_direction(weights, seed + 1), weights)
    torch.testing.assert_close(d[0].norm(dim=1), weights[0].norm(dim=1))
    assert torch.count_nonzero(d[1]) == 0
    # the same direction normalized to weights scaled by c is c times as long: slices ignore a layer's scale
    scaled = filter_normalize(random_direction(weights, seed + 1), [3 * w for w in weights])
    torch.testing.assert_close(scaled[0], 3 * d[0])


def test_training_that_blows_up_says_so():
    model, (X, y) = small_mlp(), data()
    with pytest.raises(ValueError, match="lower the lr"):
        train_recording(model, TensorLoader(X * 1e6, y, 10), nn.CrossEntropyLoss(),
                        torch.optim.SGD(model.parameters(), lr=1e6), 2, every=1)
