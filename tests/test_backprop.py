"""Hand-written backprop equals autograd; compare(); SourceModel; the lesson's self-checks; the graph."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lessons_src.backprop import (
    Comparison,
    bce_sum,
    compare,
    logistic_backward,
    logistic_forward,
    two_layer_backward,
    two_layer_forward,
)
from lessons_src.checks import (
    CheckResult,
    check_mean_bce_gradient,
    check_mse_gradient,
    check_tanh_hidden_gradient,
)
from lessons_src.models import SourceModel
from lessons_src.plotting import plot_computation_graph

sizes = st.integers(min_value=1, max_value=7)


def random_problem(seed: int, m: int, n: int, h: int, k: int) -> dict[str, torch.Tensor]:
    """Seeded float64 X (m, n), 0/1 labels y (m, k) and weights w01 (n, h), w12 (h, k)."""
    generator = torch.Generator().manual_seed(seed)
    return {
        "X": torch.randn(m, n, generator=generator, dtype=torch.float64),
        "y": torch.randint(0, 2, (m, k), generator=generator).double(),
        "w01": torch.randn(n, h, generator=generator, dtype=torch.float64),
        "w12": torch.randn(h, k, generator=generator, dtype=torch.float64),
    }


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=sizes, n=sizes, k=st.integers(1, 3))
def test_logistic_backward_equals_autograd(seed, m, n, k):
    p = random_problem(seed, m, n, k, k)
    w = p["w01"].requires_grad_(True)
    forward = logistic_forward(p["X"], w, p["y"])
    forward["loss"].backward()
    assert compare(logistic_backward(p["X"], p["y"], forward), w.grad).allclose


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=sizes, n=sizes, h=sizes, k=st.integers(1, 3))
def test_two_layer_backward_equals_autograd(seed, m, n, h, k):
    p = random_problem(seed, m, n, h, k)
    w01, w12 = p["w01"].requires_grad_(True), p["w12"].requires_grad_(True)
    forward = two_layer_forward(p["X"], w01, w12, p["y"])
    forward["loss"].backward()
    grads = two_layer_backward(p["X"], p["y"], w12, forward)
    assert compare(grads["w01"], w01.grad).allclose
    assert compare(grads["w12"], w12.grad).allclose


def test_bce_sum_matches_pytorch_sum_reduction():
    p = random_problem(1, 9, 3, 1, 1)
    sigma = torch.sigmoid(p["X"] @ p["w01"])
    expected = nn.BCELoss(reduction="sum")(sigma, p["y"])
    assert compare(bce_sum(sigma, p["y"]), expected).allclose


def test_forward_passes_return_every_node_with_its_shape():
    p = random_problem(2, 5, 4, 3, 2)
    forward = two_layer_forward(p["X"], p["w01"], p["w12"], p["y"])
    assert {key: tuple(t.shape) for key, t in forward.items()} == {
        "z1": (5, 3), "sigma1": (5, 3), "z2": (5, 2), "sigma2": (5, 2), "loss": ()}
    assert set(logistic_forward(p["X"], p["w01"], p["y"][:, :1].repeat(1, 3))) == {"z", "sigma", "loss"}


def test_compare_reports_exact_close_and_difference():
    a = torch.tensor([1.0, 2.0, 3.0])
    same, near, far = compare(a, a.clone()), compare(a, a + 1e-7), compare(a, a + 0.5)
    assert same == Comparison(exact=True, allclose=True, max_abs_diff=0.0) and bool(same)
    assert not near.exact and near.allclose and 0 < near.max_abs_diff < 1e-6
    assert not far.exact and not far.allclose and not far and far.max_abs_diff == pytest.approx(0.5)
    assert repr(far) == "Comparison(exact=False, allclose=False, max_abs_diff=0.5)"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: compare(torch.zeros(2, 1), torch.zeros(1, 2)), "b must have the shape of a"),
        (lambda: compare([1.0], torch.zeros(1)), "a must be a torch.Tensor"),
        (lambda: logistic_forward(torch.zeros(4), torch.zeros(4, 1), torch.zeros(4, 1)), "X must be a 2-D"),
        (lambda: logistic_forward(torch.zeros(4, 3), torch.zeros(2, 1), torch.zeros(4, 1)), "w must be"),
        (lambda: logistic_forward(torch.zeros(4, 3), torch.zeros(3, 1), torch.zeros(4)), "y must be"),
        (lambda: two_layer_forward(torch.zeros(4, 3), torch.zeros(3, 2), torch.zeros(5, 1),
                                   torch.zeros(4, 1)), "w12 must be"),
        (lambda: two_layer_forward(torch.zeros(4, 3), torch.zeros(2, 2), torch.zeros(2, 1),
                                   torch.zeros(4, 1)), "w01 must be"),
        (lambda: bce_sum(torch.full((3, 1), 0.5), torch.zeros(3)), "y must have the shape of sigma"),
    ],
)
def test_bad_shapes_raise_value_errors_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_backward_rejects_labels_of_the_wrong_shape():
    p = random_problem(3, 6, 2, 3, 1)
    forward = two_layer_forward(p["X"], p["w01"], p["w12"], p["y"])
    with pytest.raises(ValueError, match="y must be"):
        two_layer_backward(p["X"], p["y"].reshape(-1), p["w12"], forward)
    with pytest.raises(ValueError, match="w12 must be"):
        two_layer_backward(p["X"], p["y"], p["w12"].T, forward)


def test_source_model_shapes_and_layers():
    model = SourceModel()
    logits = model(torch.rand(500, 20) * 100)
    assert logits.shape == (500, 3)
    assert [tuple(p.shape) for p in model.parameters()] == [(13, 20), (13,), (8, 13), (8,), (3, 8), (3,)]
    assert SourceModel(in_features=5, out_features=2)(torch.zeros(4, 5)).shape == (4, 2)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_source_model_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="in_features must be an int >= 1"):
        SourceModel(in_features=bad)


def mse_right(X, y, w):
    return 2 / X.shape[0] * X.T @ (X @ w - y)


def mean_bce_right(X, y, w):
    return X.T @ (torch.sigmoid(X @ w) - y) / X.shape[0]


def tanh_right(X, y, w01, w12):
    a1 = torch.tanh(X @ w01)
    return X.T @ (((torch.sigmoid(a1 @ w12) - y) @ w12.T) * (1 - a1**2))


def raises(*args):
    raise ZeroDivisionError("oops")


@pytest.mark.parametrize(
    ("check", "right", "wrongs"),
    [
        (check_mse_gradient, mse_right,
         [lambda X, y, w: X.T @ (X @ w - y),                      # forgot 2/m
          lambda X, y, w: 2 / X.shape[0] * (X @ w - y).T @ X]),   # transposed
        (check_mean_bce_gradient, mean_bce_right,
         [lambda X, y, w: X.T @ (torch.sigmoid(X @ w) - y)]),          # the summed version
        (check_tanh_hidden_gradient, tanh_right,
         [lambda X, y, w01, w12: X.T @ (((torch.sigmoid(torch.tanh(X @ w01) @ w12) - y) @ w12.T)
                                        * torch.sigmoid(X @ w01) * (1 - torch.sigmoid(X @ w01)))]),
    ],
)
def test_gradient_checks_accept_right_and_reject_wrong(check, right, wrongs):
    ok = check(right)
    assert isinstance(ok, CheckResult) and ok and repr(ok).startswith("✓")
    for wrong in wrongs:
        bad = check(wrong)
        assert not bad and repr(bad).startswith("✗") and "Hint" in repr(bad)
    assert "no answer yet" in repr(check(...)) and not check(None)
    assert not check(3.0) and "expected a function" in repr(check(3.0))
    crashed = check(raises)
    assert not crashed and "ZeroDivisionError: oops" in repr(crashed)
    assert "expected shape" in repr(check(lambda *args: torch.zeros(1, 1, 1)))
    returned_dots, returned_none = check(lambda *args: ...), check(lambda *args: None)
    assert not returned_dots and "no answer yet" in repr(returned_dots)
    assert not returned_none and "returned None" in repr(returned_none)


def test_computation_graph_draws_every_node_and_both_directions():
    fig, ax = plt.subplots()
    assert plot_computation_graph(ax) is ax
    texts = " ".join(t.get_text() for t in ax.texts)
    for node in ("$X$", "z^{(1)}", r"\sigma^{(2)}", "$L$", "$y$", r"w^{(0\to1)}", r"w^{(1\to2)}"):
        assert node in texts
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["forward: values", "backward: gradients"]
    plt.close(fig)
