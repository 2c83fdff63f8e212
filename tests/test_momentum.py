"""Lessons 03-04: hand-written momentum and Nesterov equal torch.optim; rates on a quadratic; widgets."""

from __future__ import annotations

import copy
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lessons_src.checks import (
    check_adam_step,
    check_equivalent_lr,
    check_fastest_momentum,
)
from lessons_src.descent import (
    COMPARISON_SETTINGS,
    OPTIMIZER_NAMES,
    averaged_momentum_step,
    critical_momentum,
    distances_to,
    empirical_rate,
    first_steps,
    gd_rate,
    lookahead_nesterov_step,
    make_torch_optimizer,
    momentum_rate,
    momentum_step,
    nesterov_step,
    run_descent,
    run_torch_optimizer,
    velocity_momentum_step,
)
from lessons_src.models import SourceModel
from lessons_src.plotting import plot_distance_curve, plot_rate_vs_momentum
from lessons_src.readouts import describe_rates
from lessons_src.surfaces import SURFACES, get_surface
from lessons_src.widgets import MomentumExplorer, OptimizerComparison

NAMES = sorted(SURFACES)
RAVINE = get_surface("ravine")


def hand_run(surface, start, num_steps, step, record=lambda w, state: w):
    """Run ``step(w, state, grad) -> (w, state)`` from ``start`` with run_descent's stopping rule.

    ``record(w, state)`` is the point stored for each step (Nesterov's look-ahead form stores
    w + γ·v). Returns (points, diverged_at).
    """
    w, state = np.array(start, dtype=float), np.zeros(2)
    points = [record(w, state)]
    for k in range(1, num_steps + 1):
        w, state = step(w, state, surface.grad(w))
        point = record(w, state)
        if not (np.all(np.isfinite(point)) and surface.in_region(point)):
            return np.array(points), k
        points.append(point)
    return np.array(points), None


def a_start(surface, u: float, v: float) -> tuple[float, float]:
    (lo1, hi1), (lo2, hi2) = surface.w1_range, surface.w2_range
    return (lo1 + u * (hi1 - lo1), lo2 + v * (hi2 - lo2))


runs = st.fixed_dictionaries({
    "name": st.sampled_from(NAMES), "u": st.floats(0.05, 0.95), "v": st.floats(0.05, 0.95),
    "lr_share": st.floats(0.02, 1.0), "momentum": st.floats(0.0, 0.95),
    "num_steps": st.integers(0, 60)})


# --- hand-written rules against torch.optim ----------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(run=runs)
def test_velocity_form_momentum_equals_torch_sgd(run):
    surface = SURFACES[run["name"]]
    start, lr, gamma = a_start(surface, run["u"], run["v"]), run["lr_share"] * surface.lr, run["momentum"]
    points, diverged_at = hand_run(surface, start, run["num_steps"],
                                   lambda w, v, g: velocity_momentum_step(w, v, g, lr, gamma))
    torch_path = run_torch_optimizer(surface, start, "momentum", lr, run["num_steps"], momentum=gamma)
    assert torch_path.diverged_at == diverged_at
    np.testing.assert_allclose(torch_path.points, points, rtol=1e-9, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(run=runs)
def test_lookahead_nesterov_equals_torch_nesterov(run):
    surface = SURFACES[run["name"]]
    start, lr, gamma = a_start(surface, run["u"], run["v"]), run["lr_share"] * surface.lr, run["momentum"]
    points, diverged_at = hand_run(
        surface, start, run["num_steps"],
        lambda w, v, g: lookahead_nesterov_step(w, v, surface.grad, lr, gamma),
        record=lambda w, v: w + gamma * v)  # PyTorch's iterate is the look-ahead point
    torch_path = run_torch_optimizer(surface, start, "nesterov", lr, run["num_steps"], momentum=gamma)
    assert torch_path.diverged_at == diverged_at
    np.testing.assert_allclose(torch_path.points, points, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(run_descent(surface, start, lr, run["num_steps"], momentum=gamma,
                                           nesterov=True).points, torch_path.points, rtol=1e-9, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(run=runs)
def test_pytorch_form_is_the_velocity_form_with_v_equal_minus_lr_b(run):
    surface = SURFACES[run["name"]]
    w_velocity = w_torch = np.array(a_start(surface, run["u"], run["v"]))
    v, b = np.zeros(2), np.zeros(2)
    lr, gamma = run["lr_share"] * surface.lr, run["momentum"]
    for _ in range(min(run["num_steps"], 20)):
        w_velocity, v = velocity_momentum_step(w_velocity, v, surface.grad(w_velocity), lr, gamma)
        w_torch, b = momentum_step(w_torch, b, surface.grad(w_torch), lr, gamma)
        np.testing.assert_allclose(v, -lr * b, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(w_velocity, w_torch, rtol=1e-9, atol=1e-12)
        if not surface.in_region(w_velocity):
            break  # far outside, the gradients overflow


@settings(max_examples=30, deadline=None)
@given(run=runs, beta=st.floats(0.0, 0.95))
def test_averaged_form_with_lr_equals_pytorch_form_with_lr_times_one_minus_beta(run, beta):
    surface = SURFACES[run["name"]]
    start, lr = a_start(surface, run["u"], run["v"]), run["lr_share"] * surface.lr
    points, diverged_at = hand_run(surface, start, run["num_steps"],
                                   lambda w, m, g: averaged_momentum_step(w, m, g, lr, beta))
    reference = run_descent(surface, start, lr * (1 - beta), run["num_steps"], momentum=beta)
    assert reference.diverged_at == diverged_at
    np.testing.assert_allclose(reference.points, points, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.99])
def test_averaged_form_takes_a_step_one_minus_beta_times_smaller(beta):
    g, lr = np.array([2.0, -1.0]), 0.1
    w_avg = w_torch = np.zeros(2)
    m, b = np.zeros(2), np.zeros(2)
    for _ in range(int(60 / (1 - beta))):
        new_avg, m = averaged_momentum_step(w_avg, m, g, lr, beta)
        new_torch, b = momentum_step(w_torch, b, g, lr, beta)
        step_avg, step_torch = new_avg - w_avg, new_torch - w_torch
        w_avg, w_torch = new_avg, new_torch
    np.testing.assert_allclose(step_torch, step_avg / (1 - beta), rtol=1e-9)
    np.testing.assert_allclose(step_torch, -lr * g / (1 - beta), rtol=1e-6)


def source_network():
    generator = torch.Generator().manual_seed(0)
    X = torch.rand(500, 20, generator=generator, dtype=torch.float64) * 100
    X = (X - X.mean(0)) / X.std(0)
    y = torch.randint(0, 3, (500,), generator=generator)
    torch.manual_seed(0)
    return SourceModel().double(), X, y


@pytest.mark.parametrize("nesterov", [False, True])
def test_hand_written_momentum_equals_torch_sgd_on_the_source_network(nesterov):
    model, X, y = source_network()
    hand, reference = copy.deepcopy(model), copy.deepcopy(model)
    states = [torch.zeros_like(p) for p in hand.parameters()]
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9, nesterov=nesterov)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(8):
        for m in (hand, reference):
            m.zero_grad()
            loss_fn(m(X), y).backward()
        with torch.no_grad():
            for i, p in enumerate(hand.parameters()):
                if nesterov:
                    new_p, states[i] = nesterov_step(p, states[i], p.grad, 0.1, 0.9)
                else:
                    new_p, states[i] = velocity_momentum_step(p, states[i], p.grad, 0.1, 0.9)
                p.copy_(new_p)
        optimizer.step()
        for a, b in zip(hand.parameters(), reference.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_run_descent_with_nesterov_takes_nesterov_steps():
    w, b, points = np.array(RAVINE.start), np.zeros(2), [np.array(RAVINE.start)]
    for _ in range(50):
        w, b = nesterov_step(w, b, RAVINE.grad(w), 0.02, 0.9)
        points.append(w)
    np.testing.assert_array_equal(points, run_descent(RAVINE, RAVINE.start, 0.02, 50, momentum=0.9,
                                                      nesterov=True).points)


def test_step_rules_work_on_tensors():
    w, g = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    new_w, v = velocity_momentum_step(w, torch.zeros(2), g, 0.1, 0.9)
    torch.testing.assert_close(v, -0.1 * g)
    torch.testing.assert_close(new_w, w - 0.1 * g)


# --- run_torch_optimizer ----------------------------------------------------------------------
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_every_optimizer_runs_on_every_surface_preset(name):
    for surface in SURFACES.values():
        preset = COMPARISON_SETTINGS[surface.name]
        path = run_torch_optimizer(surface, surface.start, name, preset["lr"][name], 30)
        assert path.num_steps == 30 and not path.diverged
        assert path.final_loss < surface.loss(surface.start)


def test_sgd_is_plain_gradient_descent():
    np.testing.assert_allclose(run_torch_optimizer(RAVINE, RAVINE.start, "sgd", 0.05, 40).points,
                               run_descent(RAVINE, RAVINE.start, 0.05, 40).points, rtol=0, atol=1e-12)


def test_first_steps_of_adam_and_rmsprop():
    lr = 0.05
    adam = run_torch_optimizer(RAVINE, RAVINE.start, "adam", lr, 1)
    rmsprop = run_torch_optimizer(RAVINE, RAVINE.start, "rmsprop", lr, 1)
    np.testing.assert_allclose(np.abs(np.diff(adam.points, axis=0)), lr, rtol=1e-6)
    np.testing.assert_allclose(np.abs(np.diff(rmsprop.points, axis=0)), 10 * lr, rtol=1e-6)
    assert np.all(np.sign(np.diff(adam.points, axis=0)) == -np.sign(RAVINE.grad(RAVINE.start)))


def test_optimizer_settings_are_passed_to_torch():
    plain = run_torch_optimizer(RAVINE, RAVINE.start, "adam", 0.1, 20)
    other = run_torch_optimizer(RAVINE, RAVINE.start, "adam", 0.1, 20, betas=(0.5, 0.9))
    assert not np.allclose(plain.points, other.points)
    assert make_torch_optimizer("momentum", [torch.zeros(2, requires_grad=True)], 0.1).defaults["momentum"] == 0.9
    assert make_torch_optimizer("nesterov", [torch.zeros(2, requires_grad=True)], 0.1).defaults["nesterov"]


def test_run_torch_optimizer_reports_divergence_like_run_descent():
    for name in ("sgd", "momentum", "nesterov"):
        path = run_torch_optimizer(RAVINE, RAVINE.start, name, 5.0, 100)
        assert path.diverged and np.isfinite(path.points).all()
        assert len(path.points) == path.diverged_at
    outside = run_torch_optimizer(RAVINE, (99.0, 0.0), "adam", 0.1, 10)
    assert outside.diverged_at == 0


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(OPTIMIZER_NAMES), lr=st.floats(0.001, 5.0), cut=st.integers(0, 40))
def test_first_steps_equals_a_shorter_run(name, lr, cut):
    long = run_torch_optimizer(RAVINE, RAVINE.start, name, lr, 40)
    short = run_torch_optimizer(RAVINE, RAVINE.start, name, lr, cut)
    cut_path = first_steps(long, cut)
    np.testing.assert_array_equal(cut_path.points, short.points)
    assert cut_path.diverged_at == short.diverged_at


# --- rates on a quadratic ---------------------------------------------------------------------
def test_momentum_rate_without_momentum_is_gd_rate():
    for lr in (0.001, 0.05, 0.09, 0.2):
        assert momentum_rate(lr, 0.0, RAVINE.curvatures()) == pytest.approx(gd_rate(lr, RAVINE.curvatures()))


@pytest.mark.parametrize("surface_name", ["ravine", "source_quadratic"])
@pytest.mark.parametrize("lr_share, momentum", [(0.2, 0.0), (0.5, 0.0), (0.2, 0.5), (0.5, 0.9),
                                                (0.2, 0.95), (1.0, 0.3), (0.5, "critical")])
def test_theoretical_rate_matches_the_measured_rate(surface_name, lr_share, momentum):
    surface = get_surface(surface_name)
    lr, lams = lr_share * surface.max_stable_lr(), surface.curvatures()
    if momentum == "critical":
        momentum = critical_momentum(lr, lams[0])
    path = run_descent(surface, surface.start, lr, 800, momentum=momentum)
    measured = empirical_rate(path, surface.global_minimum)
    assert measured == pytest.approx(momentum_rate(lr, momentum, lams), rel=0.01)


def test_rate_above_one_means_divergence():
    lams = RAVINE.curvatures()
    lr = 2 * (1 + 0.5) / lams[-1] * 1.05  # just past momentum's limit 2(1 + γ)/λmax
    assert momentum_rate(lr, 0.5, lams) > 1
    assert run_descent(RAVINE, RAVINE.start, lr, 500, momentum=0.5).diverged
    assert momentum_rate(lr * 0.9, 0.5, lams) < 1
    assert not run_descent(RAVINE, RAVINE.start, lr * 0.9, 500, momentum=0.5).diverged


@settings(max_examples=30, deadline=None)
@given(lr_share=st.floats(0.01, 1.0), name=st.sampled_from(["ravine", "source_quadratic"]))
def test_critical_momentum_is_the_fastest_momentum(lr_share, name):
    lams = get_surface(name).curvatures()
    lr = lr_share * 4 / (math.sqrt(lams[-1]) + math.sqrt(lams[0])) ** 2  # at most Polyak's lr
    best = critical_momentum(lr, lams[0])
    assert momentum_rate(lr, best, lams) == pytest.approx(1 - math.sqrt(lr * lams[0]))
    grid = np.linspace(0, 0.999, 1000)
    # at critical damping the discriminant is 0 ± rounding, and its square root is ±1e-8
    assert momentum_rate(lr, best, lams) <= min(momentum_rate(lr, g, lams) for g in grid) + 1e-7


def test_polyak_parameters_give_the_sqrt_kappa_rate():
    lams = RAVINE.curvatures()
    kappa = lams[-1] / lams[0]
    lr = 4 / (math.sqrt(lams[-1]) + math.sqrt(lams[0])) ** 2
    expected = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    assert momentum_rate(lr, expected**2, lams) == pytest.approx(expected)
    assert critical_momentum(lr, lams[0]) == pytest.approx(expected**2)


@pytest.mark.parametrize("call, argument", [
    (lambda: gd_rate(-0.1, [1.0]), "lr"),
    (lambda: gd_rate(0.1, []), "eigenvalues"),
    (lambda: gd_rate(0.1, [1.0, -2.0]), "eigenvalues"),
    (lambda: momentum_rate(0.1, 1.0, [1.0]), "momentum"),
    (lambda: momentum_rate(math.nan, 0.5, [1.0]), "lr"),
    (lambda: critical_momentum(0.0, 1.0), "lr"),
    (lambda: critical_momentum(0.1, 0.0), "lam_min"),
    (lambda: critical_momentum(0.1, math.inf), "lam_min"),
    (lambda: critical_momentum(2.0, 1.0), "lr \\* lam_min"),
    (lambda: empirical_rate(run_descent(RAVINE, RAVINE.start, 0.05, 100), (0, 0), window=0), "window"),
    (lambda: empirical_rate(run_descent(RAVINE, RAVINE.start, 0.05, 10), (0, 0)), "path"),
    (lambda: run_torch_optimizer(RAVINE, RAVINE.start, "lbfgs", 0.1, 10), "name"),
    (lambda: run_torch_optimizer(RAVINE, RAVINE.start, "adam", 0.0, 10), "lr"),
    (lambda: run_torch_optimizer(RAVINE, RAVINE.start, "adam", 0.1, -1), "num_steps"),
    (lambda: run_torch_optimizer(RAVINE, RAVINE.start, "momentum", 0.1, 5, momentum=1.2), "momentum"),
    (lambda: run_torch_optimizer(RAVINE, (1.0,), "sgd", 0.1, 5), "start"),
    (lambda: make_torch_optimizer("adagrad", [torch.zeros(2, requires_grad=True)], 0.1), "name"),
    (lambda: first_steps(run_descent(RAVINE, RAVINE.start, 0.05, 5), -1), "num_steps"),
])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=f"^{argument} must"):
        call()


def test_distances_to():
    path = run_descent(RAVINE, (3.0, 4.0), 0.05, 3)
    assert distances_to(path, (0, 0))[0] == pytest.approx(5.0)
    assert distances_to(path, (0, 0)).shape == (4,)


# --- plotting --------------------------------------------------------------------------------
def test_plot_distance_curve_and_rate_plot_return_their_axes():
    fig, (ax1, ax2) = plt.subplots(1, 2)
    path = run_descent(RAVINE, RAVINE.start, 0.05, 30, momentum=0.5)
    assert plot_distance_curve(ax1, path, (0, 0), label="m") is ax1
    np.testing.assert_allclose(ax1.lines[0].get_ydata(), distances_to(path, (0, 0)))
    assert plot_rate_vs_momentum(ax2, 0.02, RAVINE.curvatures()) is ax2
    assert ax2.lines[-1].get_xdata()[0] == pytest.approx(critical_momentum(0.02, 0.5))


# --- the momentum explorer, headless ------------------------------------------------------------
@pytest.fixture
def explorer(make_explorer):
    return make_explorer(MomentumExplorer)


def test_explorer_shows_the_pure_results(explorer, drawn):
    e = explorer
    lr, gamma, steps = e.lr_slider.value, e.momentum_slider.value, e.steps_slider.value
    np.testing.assert_array_equal(drawn(e.lines["gd"]), run_descent(RAVINE, RAVINE.start, lr, steps).points)
    np.testing.assert_array_equal(drawn(e.lines["momentum"]),
                                  run_descent(RAVINE, RAVINE.start, lr, steps, momentum=gamma).points)


def test_explorer_sliders_recompute_paths_distances_and_pixels(explorer, drawn, pixels):
    e = explorer
    before = pixels(e.fig)
    e.lr_slider.value, e.momentum_slider.value, e.steps_slider.value = 0.02, 0.5, 150
    expected = run_descent(RAVINE, RAVINE.start, 0.02, 150, momentum=0.5)
    np.testing.assert_array_equal(drawn(e.lines["momentum"]), expected.points)
    np.testing.assert_allclose(e.distance_lines["momentum"].get_ydata(),
                               np.maximum(distances_to(expected, (0, 0)), 1e-8))
    rate = momentum_rate(0.02, 0.5, RAVINE.curvatures())
    np.testing.assert_allclose(e.theory_lines["momentum"].get_ydata()[:5],
                               distances_to(expected, (0, 0))[0] * rate ** np.arange(5))
    assert f"{rate:.4f}" in e.rates_readout.value
    assert e.ax_distance.get_xlim() == (0, 200)
    assert not np.array_equal(before, pixels(e.fig))


def test_button_snaps_momentum_to_critical_damping(explorer, drawn):
    e = explorer
    e.lr_slider.value = 0.02
    e.snap_button.click()
    assert e.momentum_slider.value == pytest.approx(critical_momentum(0.02, 0.5))
    assert f"{critical_momentum(0.02, 0.5):.4f}" in e.rates_readout.value
    np.testing.assert_array_equal(drawn(e.lines["momentum"]), e.compute().paths["momentum"].points)
    gd, heavy = e.paths
    assert heavy.distance_to((0, 0)) < gd.distance_to((0, 0)) / 100


def test_huge_lr_shows_the_diverged_state(explorer, pixels):
    e = explorer
    e.lr_slider.value = 10**e.lr_slider.max  # a log slider's max is an exponent
    gd, heavy = e.paths
    assert gd.diverged and heavy.diverged
    assert f"diverged at step {heavy.diverged_at}" in e.readout.value
    assert f"momentum diverged at step {heavy.diverged_at}" in e.diverged_text.get_text()
    assert e.end_markers["momentum"].get_marker() == "x"
    assert "≥ 1" in e.rates_readout.value
    pixels(e.fig)  # draws without error
    e.snap_button.click()  # γ* still defined at the largest lr
    e.lr_slider.value = 0.02
    assert e.diverged_text.get_text() == "" and e.end_markers["gd"].get_marker() == "s"


def test_explorer_zero_steps_and_surface_switch(explorer, drawn, pixels):
    e = explorer
    e.steps_slider.value = 0
    assert drawn(e.lines["momentum"]).tolist() == [list(RAVINE.start)]
    pixels(e.fig)
    e.surface_picker.value = "source_quadratic"
    quadratic = get_surface("source_quadratic")
    assert e.lr_slider.value == pytest.approx(quadratic.lr, rel=0.05)
    np.testing.assert_array_equal(drawn(e.lines["gd"])[0], quadratic.start)
    assert e.ax_contour.get_xlim() == quadratic.w1_range
    pixels(e.fig)


def test_explorer_rejects_a_surface_without_rates():
    with pytest.raises(ValueError, match="surface must be one of"):
        MomentumExplorer("rosenbrock")


def test_describe_rates_names_gamma_star():
    text = describe_rates(RAVINE, 0.02, 0.9)
    assert "γ*" in text and "0.8100" in text and "0.9487" in text


# --- the optimizer comparison, headless ---------------------------------------------------------
@pytest.fixture
def comparison(make_explorer):
    return make_explorer(OptimizerComparison, "ravine", selected=("sgd", "adam"))


def assert_shows_pure_paths(c):
    surface = c.surface
    for name in OPTIMIZER_NAMES:
        assert c.lines[name].get_visible() == (name in c.selected)
    for name in c.selected:
        expected = run_torch_optimizer(surface, surface.start, name, num_steps=c.steps_slider.value,
                                       **c.settings(name))
        np.testing.assert_array_equal(np.column_stack(c.lines[name].get_data()), expected.points)


def test_picker_overlays_the_chosen_paths(comparison, pixels):
    c = comparison
    assert c.selected == ("sgd", "adam")
    assert_shows_pure_paths(c)
    before = pixels(c.fig)
    c.checkboxes["nesterov"].value = True
    c.checkboxes["rmsprop"].value = True
    c.checkboxes["sgd"].value = False
    assert c.selected == ("nesterov", "rmsprop", "adam")
    assert_shows_pure_paths(c)
    assert "Nesterov" in c.readout.value and "SGD" not in c.readout.value
    assert not np.array_equal(before, pixels(c.fig))


def test_lr_momentum_and_steps_controls(comparison):
    c = comparison
    c.checkboxes["momentum"].value = True
    c.lr_sliders["adam"].value = 0.05
    c.momentum_slider.value = 0.5
    c.steps_slider.value = 37
    assert c.settings("momentum") == {"lr": c.lr_sliders["momentum"].value, "momentum": 0.5}
    assert c.settings("adam") == {"lr": 0.05}
    assert_shows_pure_paths(c)
    assert c.paths["adam"].num_steps == 37


def test_huge_lr_shows_divergence_without_error(comparison, drawn, pixels):
    c = comparison
    c.lr_sliders["sgd"].value = 10 ** c.lr_sliders["sgd"].max
    assert c.paths["sgd"].diverged
    assert f"diverged at step {c.paths['sgd'].diverged_at}" in c.readout.value
    assert np.isfinite(drawn(c.lines["sgd"])).all()
    pixels(c.fig)


@pytest.mark.parametrize("name", NAMES)
def test_switching_surface_resets_the_presets(comparison, name, pixels):
    c = comparison
    c.surface_picker.value = name
    preset = COMPARISON_SETTINGS[name]
    assert c.steps_slider.value == preset["num_steps"]
    for optimizer, lr in preset["lr"].items():
        assert c.lr_sliders[optimizer].value == pytest.approx(lr, rel=0.06)
    assert_shows_pure_paths(c)
    pixels(c.fig)


def test_nothing_ticked(comparison, pixels):
    c = comparison
    for box in c.checkboxes.values():
        box.value = False
    assert c.paths == {} and "tick at least one" in c.readout.value
    pixels(c.fig)


def test_comparison_rejects_unknown_optimizers():
    with pytest.raises(ValueError, match="selected must"):
        OptimizerComparison(selected=("sgd", "lion"))


def test_widgets_build_their_layout():
    e, c = MomentumExplorer("source_quadratic"), OptimizerComparison("two_minima")
    assert e.widget.children and c.widget.children


# --- self-checks ------------------------------------------------------------------------------
def adam_step(w, grad, m, s, t, lr, betas=(0.9, 0.999), eps=1e-8):
    m = betas[0] * m + (1 - betas[0]) * grad
    s = betas[1] * s + (1 - betas[1]) * grad**2
    m_hat, s_hat = m / (1 - betas[0] ** t), s / (1 - betas[1] ** t)
    return w - lr * m_hat / (np.sqrt(s_hat) + eps), m, s


def adam_without_bias_correction(w, grad, m, s, t, lr, betas=(0.9, 0.999), eps=1e-8):
    m = betas[0] * m + (1 - betas[0]) * grad
    s = betas[1] * s + (1 - betas[1]) * grad**2
    return w - lr * m / (np.sqrt(s) + eps), m, s


def adam_returning_corrected_averages(w, grad, m, s, t, lr, betas=(0.9, 0.999), eps=1e-8):
    m = (betas[0] * m + (1 - betas[0]) * grad) / (1 - betas[0] ** t)
    s = (betas[1] * s + (1 - betas[1]) * grad**2) / (1 - betas[1] ** t)
    return w - lr * m / (np.sqrt(s) + eps), m, s


def test_check_adam_step_accepts_adam_and_diagnoses_the_usual_slips():
    assert check_adam_step(adam_step) and "torch.optim.Adam" in repr(check_adam_step(adam_step))
    assert "bias correction" in repr(check_adam_step(adam_without_bias_correction))
    assert "steps 1 to 1 agree" in repr(check_adam_step(adam_returning_corrected_averages))
    def adam_uphill(w, grad, m, s, t, lr):
        new_w, m, s = adam_step(w, grad, m, s, t, lr)
        return 2 * w - new_w, m, s

    assert "uphill" in repr(check_adam_step(adam_uphill))
    assert "tuple (w, m, s)" in repr(check_adam_step(lambda w, g, m, s, t, lr: w))
    assert "no answer yet" in repr(check_adam_step(...)) and "Hint" not in repr(check_adam_step(...))


def test_check_fastest_momentum():
    best = critical_momentum(0.05, 0.5)
    assert check_fastest_momentum(best) and check_fastest_momentum(round(best, 3))
    for wrong in (0.9, 0.5, 0.0, best - 0.05, 1.5, "a lot", [0.7, 0.7], ...):
        assert not check_fastest_momentum(wrong)


def test_check_equivalent_lr():
    assert check_equivalent_lr(0.05)
    assert not check_equivalent_lr(0.5) and not check_equivalent_lr(5.0)


def test_the_two_forms_drift_apart_when_lr_changes_between_steps():
    w_velocity = w_torch = np.array(RAVINE.start)
    v, b = np.zeros(2), np.zeros(2)
    for lr in [0.05] * 5 + [0.01] * 5:  # a schedule: the old velocity keeps the old lr, the buffer does not
        w_velocity, v = velocity_momentum_step(w_velocity, v, RAVINE.grad(w_velocity), lr, 0.9)
        w_torch, b = momentum_step(w_torch, b, RAVINE.grad(w_torch), lr, 0.9)
    assert not np.allclose(w_velocity, w_torch)
