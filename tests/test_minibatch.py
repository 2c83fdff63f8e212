"""Lessons 05-06: paths of GD, mini-batch SGD and SGD against a DataLoader loop, escapes from a local
minimum, the noise of a batch gradient, and the noise-cloud explorer."""

from __future__ import annotations

import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lessons_src import checks, plotting
from lessons_src.descent import run_descent
from lessons_src.minibatch import (
    ESCAPE_TABLE_GLOBAL_COUNTS,
    MAX_NOISE_BATCHES,
    MAX_RUNS,
    NOISE_CLOUD_POINTS,
    EscapeResult,
    covariance_ellipse,
    finite_population_factor,
    gradient_noise,
    log_log_slope,
    minibatch_covariance,
    minibatch_gradients,
    minibatch_variance,
    noise_cloud,
    random_starts,
    run_escape_experiment,
    sgd_path,
    variance_curve,
)
from lessons_src.readouts import describe_cloud
from lessons_src.surfaces import get_surface
from lessons_src.training import EpochSampler
from lessons_src.validation import MAX_STEPS
from lessons_src.widgets import NoiseCloudExplorer


def seeded_loader(problem, batch_size: int, seed: int, drop_last: bool = False) -> DataLoader:
    """A real DataLoader over the problem's samples, in the course's seeded order."""
    x, y = (torch.tensor(a) for a in problem.data)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, sampler=EpochSampler(len(x), seed=seed),
                      drop_last=drop_last)


@pytest.mark.parametrize("call, name", [
    (lambda: finite_population_factor(10, 11), "batch_size"),
    (lambda: finite_population_factor(1, 1), "num_samples"),
    (lambda: random_starts(get_surface("two_minima"), 0), "num_starts"),
    (lambda: random_starts(get_surface("two_minima"), MAX_RUNS + 1), "num_starts"),
    (lambda: log_log_slope([1, 2], [1, -1]), "x and y"),
    (lambda: gradient_noise(np.zeros((0, 2)), np.zeros(2)), "gradients"),
])
def test_bad_arguments_raise_a_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        call()


# --- GD, mini-batch SGD and SGD ---------------------------------------------------------------------
def torch_loop_path(problem, start, lr, batch_size, num_steps, seed, drop_last=False) -> np.ndarray:
    """The reference: a real DataLoader and torch.optim.SGD on a 2-element float64 parameter."""
    loader = seeded_loader(problem, batch_size, seed, drop_last)
    param = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=lr)
    points = [param.detach().numpy().copy()]
    while len(points) <= num_steps:
        for xb, yb in loader:
            optimizer.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(param[0] * xb + param[1], yb).backward()
            optimizer.step()
            points.append(param.detach().numpy().copy())
            if len(points) > num_steps:
                break
    return np.array(points)


@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (32, False), (32, True), (100, False), (569, False)])
def test_sgd_path_is_a_dataloader_loop_with_torch_optim(cancer, batch_size, drop_last):
    path = sgd_path(cancer, (0.0, -2.5), 1.0, batch_size, 40, seed=5, drop_last=drop_last)
    expected = torch_loop_path(cancer, (0.0, -2.5), 1.0, batch_size, 40, seed=5, drop_last=drop_last)
    np.testing.assert_allclose(path.points, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(path.losses, [cancer.loss(p) for p in path.points])


def test_full_batch_sgd_is_gradient_descent(cancer):
    path = sgd_path(cancer, cancer.surface.start, 1.0, 569, 60, seed=3)
    gd = run_descent(cancer.surface, cancer.surface.start, 1.0, 60)
    np.testing.assert_allclose(path.points, gd.points, atol=1e-12)
    np.testing.assert_allclose(path.points, sgd_path(cancer, cancer.surface.start, 1.0, 1000, 60, seed=9).points,
                               atol=1e-12)


def test_smaller_batches_make_noisier_paths(cancer):
    increases = {b: int(np.sum(np.diff(sgd_path(cancer, cancer.surface.start, 1.0, b, 100).losses) > 0))
                 for b in (569, 32, 1)}
    assert increases[569] == 0 and increases[1] > increases[32] > 0
    same, other = (sgd_path(cancer, cancer.surface.start, 1.0, 1, 50, seed=s).points for s in (0, 1))
    np.testing.assert_array_equal(same, sgd_path(cancer, cancer.surface.start, 1.0, 1, 50, seed=0).points)
    assert not np.allclose(same, other)


def test_sgd_path_reports_divergence_and_bad_arguments(cancer):
    path = sgd_path(cancer, (0.0, -2.5), 500.0, 1, 50)
    assert path.diverged and np.isfinite(path.points).all() and len(path.points) == path.diverged_at
    assert sgd_path(cancer, (99.0, 0.0), 1.0, 4, 5).diverged_at == 0
    with pytest.raises(ValueError, match="batch_size"):
        sgd_path(cancer, (0.0, 0.0), 1.0, 0, 5)
    with pytest.raises(ValueError, match="lr"):
        sgd_path(cancer, (0.0, 0.0), -1.0, 4, 5)
    with pytest.raises(ValueError, match="start must"):
        sgd_path(cancer, (0.0, np.nan), 1.0, 4, 5)


# --- escaping a local minimum ------------------------------------------------------------------------
def test_escape_experiment_is_reproducible(wells):
    starts = random_starts(wells.surface, 30, seed=2)
    first, again = (run_escape_experiment(wells, starts, 0.05, 1, 200, seed=4) for _ in range(2))
    for field in ("finals", "settled", "basin"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    other = run_escape_experiment(wells, starts, 0.05, 1, 200, seed=5)
    assert not np.array_equal(first.finals, other.finals)
    gd = [run_escape_experiment(wells, starts, 0.05, 256, 200, seed=s).finals for s in (0, 1)]
    np.testing.assert_array_equal(*gd)   # the full batch has nothing to shuffle


def test_escape_runs_match_single_gradient_descent_runs(wells):
    surface = wells.surface
    starts = random_starts(surface, 5, seed=1)
    result = run_escape_experiment(wells, starts, 0.05, 256, 100, settle_steps=0)
    for start, final in zip(starts, result.finals, strict=True):
        np.testing.assert_allclose(final, run_descent(surface, start, 0.05, 100).final_point, atol=1e-12)


def test_gradient_descent_never_leaves_the_local_minimum(wells):
    local = np.tile(wells.surface.minima[1], (20, 1))
    result = run_escape_experiment(wells, local, 0.05, 256, 300)
    assert result.counts == {"global": 0, "local": 20, "neither": 0} and result.fraction_global == 0


def test_escape_result_counts_and_runs_that_leave_the_region(wells):
    result = run_escape_experiment(wells, [[0.5, 0.5], [-0.5, 0.5]], 5.0, 1, 50)
    assert isinstance(result, EscapeResult) and result.num_runs == 2
    assert result.counts["neither"] == 2 and np.all(result.basin == -1)
    with pytest.raises(ValueError, match="starts"):
        run_escape_experiment(wells, np.zeros((3, 3)), 0.05, 1, 10)
    with pytest.raises(ValueError, match="settle_steps"):
        run_escape_experiment(wells, np.zeros((3, 2)), 0.05, 1, 10, settle_steps=-1)


def test_each_run_reshuffles_in_its_own_epoch_of_the_seeded_order(wells):
    """Run r's epoch e is epoch e·n + r of the order: so one run alone follows a DataLoader's batches."""
    start = np.array([[-1.5, 0.5]])
    alone = run_escape_experiment(wells, start, 0.05, 16, 40, seed=3, settle_steps=0)
    param = torch.tensor(start[0], requires_grad=True)
    optimizer, steps = torch.optim.SGD([param], lr=0.05), 0
    loader = seeded_loader(wells, 16, seed=3)
    while steps < 40:
        for tilt, slope in loader:
            if steps == 40:
                break
            optimizer.zero_grad()
            wells.sample_loss_fn(param[0], param[1], tilt, slope).mean().backward()
            optimizer.step()
            steps += 1
    np.testing.assert_allclose(alone.finals[0], param.detach().numpy(), atol=1e-12)


def test_the_escape_table_is_the_one_the_lesson_quotes(wells):
    starts = random_starts(wells.surface, 400, seed=0)
    counts = {lr: {b: run_escape_experiment(wells, starts, lr, b, 500, seed=1).counts["global"] for b in row}
              for lr, row in ESCAPE_TABLE_GLOBAL_COUNTS.items()}
    assert counts == ESCAPE_TABLE_GLOBAL_COUNTS


# --- the noise of a mini-batch -------------------------------------------------------------------------
def test_minibatch_gradients_are_those_of_a_dataloader_with_autograd(cancer):
    loader = seeded_loader(cancer, 16, seed=2, drop_last=True)
    expected = []
    while len(expected) < 50:
        for xb, yb in loader:
            param = torch.tensor([0.0, -2.5], dtype=torch.float64, requires_grad=True)
            torch.nn.functional.binary_cross_entropy_with_logits(param[0] * xb + param[1], yb).backward()
            expected.append(param.grad.numpy())
    got = minibatch_gradients(cancer, (0.0, -2.5), 16, 50, seed=2)
    np.testing.assert_allclose(got, np.array(expected[:50]), rtol=1e-10, atol=1e-14)


def test_batch_gradients_are_unbiased(cancer):
    w = (0.0, -2.5)
    grads = minibatch_gradients(cancer, w, 8, 2000, seed=1)
    standard_error = np.sqrt(np.diag(minibatch_covariance(cancer, w, 8)) / len(grads))
    assert np.all(np.abs(grads.mean(axis=0) - cancer.grad(w)) < 4 * standard_error)


@pytest.mark.parametrize("w", [(0.0, -2.5), (-3.5, 0.6)])
def test_variance_falls_like_one_over_the_batch_size(cancer, w):
    sizes = np.array([1, 2, 4, 8, 16, 32, 64])
    measured = np.array([noise_cloud(cancer, w, int(b), 400, seed=3).measured_variance for b in sizes])
    theory = np.array([minibatch_variance(cancer, w, int(b)) for b in sizes])
    np.testing.assert_allclose(measured, theory, rtol=0.2)
    assert -1.1 < log_log_slope(sizes, measured) < -0.9
    scaled = measured * sizes
    assert scaled.max() / scaled.min() < 1.5


def test_finite_population_factor_and_the_whole_data_set(cancer):
    assert finite_population_factor(569, 1) == 1.0 and finite_population_factor(569, 569) == 0.0
    assert math.isclose(finite_population_factor(101, 51), 0.5)
    w = (0.0, -2.5)
    one = minibatch_variance(cancer, w, 1)
    assert math.isclose(one, np.trace(cancer.gradient_covariance(w)))
    assert math.isclose(minibatch_variance(cancer, w, 100), one / 100 * (569 - 100) / 568)
    cloud = noise_cloud(cancer, w, 569, 20)
    assert cloud.measured_variance < 1e-25 and cloud.theory_variance == 0.0 and cloud.iterations_per_epoch == 1
    with pytest.raises(ValueError, match="batch_size"):
        noise_cloud(cancer, w, 570)


def test_noise_cloud_fields(cancer):
    cloud = noise_cloud(cancer, (0.0, -2.5), 4, 100, seed=0)
    assert cloud.gradients.shape == (100, 2) and cloud.iterations_per_epoch == 142
    np.testing.assert_array_equal(cloud.gradients, minibatch_gradients(cancer, (0.0, -2.5), 4, 100, seed=0))
    np.testing.assert_allclose(cloud.full_gradient, cancer.grad((0.0, -2.5)))
    assert math.isclose(cloud.measured_variance, gradient_noise(cloud.gradients, cloud.full_gradient))
    assert cloud.share_downhill == np.mean(cloud.gradients @ cloud.full_gradient > 0)
    far, near = (noise_cloud(cancer, w, 16, 200).share_downhill for w in ((0.0, -2.5), (-3.5, 0.6)))
    assert far > 0.95 and near < 0.8


def test_covariance_ellipse_lies_at_two_standard_deviations():
    cov, centre = np.array([[2.0, 0.6], [0.6, 0.5]]), np.array([1.0, -2.0])
    points = covariance_ellipse(centre, cov, num_std=2.0, num_points=50)
    d = points - centre
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d), 4.0)


def test_log_log_slope():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert math.isclose(log_log_slope(x, 3 / x), -1.0)
    assert math.isclose(log_log_slope(x, x**0.5), 0.5)


def test_variance_curve_is_a_noise_cloud_per_batch_size(cancer):
    curve = variance_curve(cancer, (0.0, -2.5), [1, 8, 64], 50, seed=2)
    assert curve.batch_sizes.tolist() == [1, 8, 64]
    for b, measured, theory in zip(curve.batch_sizes, curve.measured, curve.theory, strict=True):
        assert measured == noise_cloud(cancer, (0.0, -2.5), int(b), 50, seed=2).measured_variance
        assert theory == minibatch_variance(cancer, (0.0, -2.5), int(b))


def test_noise_clouds_have_a_bound(cancer):
    with pytest.raises(ValueError, match="^num_batches must be an int in"):
        noise_cloud(cancer, (0.0, -2.5), 4, MAX_NOISE_BATCHES + 1)
    with pytest.raises(ValueError, match="^num_steps must be an int in"):
        sgd_path(cancer, (0.0, -2.5), 1.0, 4, MAX_STEPS + 1)


# --- plotting --------------------------------------------------------------------------------------------
def test_plotting_functions_draw_and_return_the_axes(cancer, wells):
    fig, axes = plt.subplots(1, 5)
    cloud = noise_cloud(cancer, (0.0, -2.5), 4, 50)
    assert plotting.plot_gradient_cloud(axes[0], cloud) is axes[0]
    np.testing.assert_array_equal(np.column_stack(axes[0].lines[0].get_data()), cloud.gradients)
    assert plotting.plot_gradient_variance(axes[1], [1, 2, 4], [1.0, 0.5, 0.25], [1.0, 0.5, 0.25]) is axes[1]
    assert axes[1].get_xscale() == "log"
    result = run_escape_experiment(wells, random_starts(wells.surface, 10), 0.05, 16, 20)
    assert plotting.plot_escape_finals(axes[2], result) is axes[2]
    assert sum(len(line.get_xdata()) for line in axes[2].lines) == 10
    assert plotting.plot_throughput(axes[3], [1, 4], [10.0, 30.0]) is axes[3]
    assert plotting.plot_gradient_cost(axes[4], [128, 60000], [0.01, 2.0]) is axes[4]


# --- the noise-cloud explorer, headless ----------------------------------------------------------------
@pytest.fixture
def explorer(make_explorer):
    return make_explorer(NoiseCloudExplorer)


def test_explorer_shows_the_pure_result(explorer, cancer, drawn):
    e = explorer
    assert e.batch_slider.value == 16 and e.batch_slider.description == "batch size"
    expected = noise_cloud(cancer, NOISE_CLOUD_POINTS["start"][1], 16, 200, seed=0)
    np.testing.assert_array_equal(drawn(e.cloud_dots), expected.gradients)
    np.testing.assert_allclose(np.column_stack(e.ellipse_line.get_data()),
                               covariance_ellipse(expected.full_gradient, expected.covariance))
    assert "35 iterations per epoch" in e.readout.value


def test_batch_size_slider_redraws_cloud_marker_and_pixels(explorer, cancer, drawn, pixels):
    e = explorer
    before, limits = pixels(e.fig), (e.ax_cloud.get_xlim(), e.ax_cloud.get_ylim())
    e.batch_slider.value = 2
    expected = noise_cloud(cancer, e.w, 2, 200)
    np.testing.assert_array_equal(drawn(e.cloud_dots), expected.gradients)
    assert list(e.current_marker.get_xdata()) == [2]
    assert e.current_marker.get_ydata()[0] == pytest.approx(expected.measured_variance)
    assert (e.ax_cloud.get_xlim(), e.ax_cloud.get_ylim()) == limits   # fixed axes: a blit
    assert not np.array_equal(before, pixels(e.fig))
    assert e.batch_text.get_text().startswith("B = 2")


def test_smaller_batch_spreads_the_drawn_cloud(explorer, drawn):
    e = explorer
    spread = {}
    for b in (1, 64):
        e.batch_slider.value = b
        spread[b] = drawn(e.cloud_dots).std(axis=0).sum()
    assert spread[1] > 4 * spread[64]


def test_whole_data_set_batch_has_no_noise(explorer, drawn, pixels):
    e = explorer
    e.batch_slider.value = 569
    assert len(e.current_marker.get_xdata()) == 0
    assert "variance 0" in e.readout.value
    assert not nested_nowrap(e.readout.value), "a nowrap part inside another cannot wrap in a narrow window"
    np.testing.assert_allclose(drawn(e.cloud_dots), np.tile(e.cloud.full_gradient, (200, 1)), atol=1e-14)
    pixels(e.fig)


def nested_nowrap(html: str) -> bool:
    """Does a nowrap span open while another is still open?"""
    depth = 0
    for tag in re.findall(r"<span style='white-space:nowrap'>|<span[^>]*>|</span>", html):
        if "nowrap" in tag and depth:
            return True
        depth += 1 if tag.startswith("<span") else -1
    return False


def test_point_picker_moves_to_the_minimum(explorer, cancer, drawn, pixels):
    e = explorer
    start_limits = e.ax_cloud.get_xlim()
    e.point_picker.value = "near"
    np.testing.assert_array_equal(e.w, NOISE_CLOUD_POINTS["near"][1])
    np.testing.assert_array_equal(drawn(e.cloud_dots), noise_cloud(cancer, e.w, 16, 200).gradients)
    assert e.ax_cloud.get_xlim() != start_limits
    assert describe_cloud(e.cloud, 569) == e.readout.value
    pixels(e.fig)


def test_explorer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        NoiseCloudExplorer(batch_size=3)
    with pytest.raises(ValueError, match="point"):
        NoiseCloudExplorer(point="nowhere")
    with pytest.raises(ValueError, match="num_batches"):
        NoiseCloudExplorer(num_batches=1)


def test_the_largest_batch_size_offered_is_the_whole_data_set(explorer, cancer):
    assert max(explorer.batch_slider.options) == cancer.num_samples


def test_explorer_widget_holds_the_controls(explorer):
    children = explorer.widget.children
    assert explorer.batch_slider in children[0].children[0].children


# --- self-checks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("check, right, wrong", [
    (checks.check_steps_with_and_without_drop_last, (48, 45), (45, 48)),
    (checks.check_batch_size_for_third_std, 72, 24),
])
def test_number_checks_accept_right_and_reject_wrong(check, right, wrong):
    assert check(right) and "✓" in repr(check(right))
    assert not check(wrong) and "Hint" in repr(check(wrong))
    assert not check(...) and "no answer yet" in repr(check(...))


def loader_from_frame(frame, label, batch_size, *, ddof=0, standardize=True):
    features = frame.drop(columns=label)
    if standardize:
        features = (features - features.mean()) / features.std(ddof=ddof)
    X = torch.tensor(features.to_numpy(), dtype=torch.float32)
    y = torch.tensor(frame[label].to_numpy(), dtype=torch.float32)
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True)


def test_loader_check_accepts_a_right_function_and_explains_wrong_ones():
    assert checks.check_loader_from_frame(loader_from_frame)
    assert checks.check_loader_from_frame(lambda f, label, b: loader_from_frame(f, label, b, ddof=1))

    def keeps_float64(frame, label, batch_size):
        X = torch.tensor(frame.drop(columns=label).to_numpy())
        return DataLoader(TensorDataset(X, torch.tensor(frame[label].to_numpy())), batch_size=batch_size)

    def drops_last(frame, label, batch_size):
        return DataLoader(loader_from_frame(frame, label, batch_size).dataset, batch_size=batch_size, drop_last=True)

    def label_among_features(frame, label, batch_size):
        X = torch.tensor(frame.to_numpy(), dtype=torch.float32)
        return DataLoader(TensorDataset(X[:, 1:], X[:, 0]), batch_size=batch_size)

    def not_standardized(frame, label, batch_size):
        return loader_from_frame(frame, label, batch_size, standardize=False)

    def crashes(frame, label, batch_size):
        raise KeyError("target")

    for wrong, words in ((keeps_float64, "float64"), (drops_last, "5 batches"),
                         (label_among_features, "standard deviations"), (not_standardized, "mean 0"),
                         (crashes, "KeyError"), (..., "no answer")):
        result = checks.check_loader_from_frame(wrong)
        assert not result and words in repr(result), (wrong, repr(result))


def test_loader_check_says_when_the_function_returns_nothing():
    def forgot_the_return(frame, label, batch_size):
        DataLoader(TensorDataset(torch.zeros(len(frame))), batch_size=batch_size)

    def unfinished(frame, label, batch_size):
        ...

    assert "returned None" in repr(checks.check_loader_from_frame(forgot_the_return))
    assert "no answer yet" in repr(checks.check_loader_from_frame(unfinished))


def test_steps_check_diagnoses_one_epoch_and_fractions():
    assert "one epoch" in repr(checks.check_steps_with_and_without_drop_last((16, 15)))
    assert "swapped" in repr(checks.check_steps_with_and_without_drop_last((45, 48)))
    assert "whole number" in repr(checks.check_steps_with_and_without_drop_last((46.875, 46.875)))


def test_lr_tuning_check_tells_too_small_from_too_large():
    assert checks.check_lr_for_one_epoch(3.0)
    assert "falling all the way" in repr(checks.check_lr_for_one_epoch(0.3))
    assert "throws the path back out" in repr(checks.check_lr_for_one_epoch(8.0))
    assert "diverged" in repr(checks.check_lr_for_one_epoch(30.0))
    assert "expected one learning rate" in repr(checks.check_lr_for_one_epoch(-1))
