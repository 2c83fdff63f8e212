"""Faults in the 2-D lessons: runs with no bound, numbers of every numeric type, bools posing as
numbers, and explorer controls set from code to NaN, ±inf, wrong types or out-of-range values.

Each test is one fault and asserts its outcome: a clear error that names the argument and its
range (and, for an explorer, that the control kept its value and the next valid move still
redraws), or the same result as the plain-float call.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import traitlets

from lessons_src.descent import gd_rate, momentum_rate, run_descent, run_torch_optimizer
from lessons_src.minibatch import MAX_NOISE_BATCHES, noise_cloud, run_escape_experiment, sgd_path
from lessons_src.surfaces import get_surface
from lessons_src.validation import MAX_STEPS
from lessons_src.widgets import (
    ControlValueError,
    LossSurfaceExplorer,
    MomentumExplorer,
    NoiseCloudExplorer,
    OptimizerComparison,
)

RAVINE = get_surface("ravine")


# --- every loop has a bound ---------------------------------------------------------------------------
def test_run_descent_refuses_more_than_max_steps():
    with pytest.raises(ValueError, match=rf"^num_steps must be an int in \[0, {MAX_STEPS}\].*split a longer run"):
        run_descent(RAVINE, RAVINE.start, 0.01, 10**7)


def test_run_torch_optimizer_refuses_more_than_max_steps():
    with pytest.raises(ValueError, match=rf"^num_steps must be an int in \[0, {MAX_STEPS}\]"):
        run_torch_optimizer(RAVINE, RAVINE.start, "adam", 0.1, 10**6)


def test_noise_cloud_explorer_refuses_a_million_batches():
    with pytest.raises(ValueError, match=rf"^num_batches must be an int in \[2, {MAX_NOISE_BATCHES}\]"):
        NoiseCloudExplorer(num_batches=10**6)


def test_escape_experiment_refuses_endless_settling(wells):
    with pytest.raises(ValueError, match=rf"^settle_steps must be an int in \[0, {MAX_STEPS}\]"):
        run_escape_experiment(wells, [[0.5, 0.5]], 0.05, 16, 10, settle_steps=10**8)


# --- numbers of any numeric type, never a bool ----------------------------------------------------------
def test_numpy_float32_lr_gives_the_float_result():
    plain = run_descent(RAVINE, RAVINE.start, 0.05, 30)
    np.testing.assert_allclose(run_descent(RAVINE, RAVINE.start, np.float32(0.05), 30).points, plain.points,
                               rtol=1e-6)


def test_torch_scalar_lr_and_momentum_give_the_float_result():
    plain = run_torch_optimizer(RAVINE, RAVINE.start, "momentum", 0.02, 30, momentum=0.5)
    tensors = run_torch_optimizer(RAVINE, RAVINE.start, "momentum", torch.tensor(0.02), 30,
                                  momentum=torch.tensor(0.5))
    np.testing.assert_allclose(tensors.points, plain.points, rtol=1e-6)


def test_numpy_integer_batch_size_and_steps_are_counts(cancer):
    plain = sgd_path(cancer, (0.0, -2.5), 1.0, 16, 20)
    np.testing.assert_array_equal(sgd_path(cancer, (0.0, -2.5), 1.0, np.int64(16), np.int32(20)).points,
                                  plain.points)


def test_a_bool_lr_is_not_one():
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got True"):
        run_descent(RAVINE, RAVINE.start, True, 10)


def test_a_bool_step_count_is_not_one():
    with pytest.raises(ValueError, match=r"^num_steps must be an int"):
        run_torch_optimizer(RAVINE, RAVINE.start, "sgd", 0.1, True)


def test_a_numpy_bool_momentum_is_refused():
    with pytest.raises(ValueError, match=r"^momentum must be a finite number in \[0, 1\)"):
        momentum_rate(0.1, np.bool_(False), RAVINE.curvatures())


def test_rates_accept_numpy_scalars():
    assert gd_rate(np.float32(0.05), RAVINE.curvatures()) == pytest.approx(gd_rate(0.05, RAVINE.curvatures()))


def test_a_noise_cloud_refuses_a_nan_point(cancer):
    with pytest.raises(ValueError, match=r"^w must be two finite numbers"):
        noise_cloud(cancer, (math.nan, 0.0), 4)


# --- explorer controls refuse what a slider cannot show, and the explorer keeps working -------------------
@pytest.fixture
def surface_explorer(make_explorer):
    return make_explorer(LossSurfaceExplorer, "ravine", show_3d=False)


def assert_still_redraws(e, slider, value):
    """A valid move after the refused one recomputes and shows its result."""
    before = e.readout.value
    slider.value = value
    assert e.readout.value != before


def test_a_nan_lr_is_refused_and_the_explorer_keeps_working(surface_explorer):
    e = surface_explorer
    lr = e.lr_slider.value
    with pytest.raises(ControlValueError, match=r"^lr must be a finite number in \[0.0001, 3.16228\], got nan"):
        e.lr_slider.value = math.nan
    assert e.lr_slider.value == lr and np.isfinite(e.path.points).all()
    assert_still_redraws(e, e.lr_slider, 0.02)


def test_an_infinite_lr_is_refused_not_clamped(surface_explorer):
    e = surface_explorer
    with pytest.raises(ControlValueError, match="got inf"):
        e.lr_slider.value = math.inf
    assert e.lr_slider.value == RAVINE.lr
    assert_still_redraws(e, e.lr_slider, 0.03)


def test_a_start_outside_the_slider_range_is_refused(surface_explorer):
    e = surface_explorer
    with pytest.raises(ControlValueError, match=r"^start w1 must be a finite number in \[-4, 4\], got 1000000.0"):
        e.w1_slider.value = 1e6
    assert e.start == RAVINE.start
    assert_still_redraws(e, e.w1_slider, 1.0)


def test_a_fractional_step_count_is_refused(surface_explorer):
    e = surface_explorer
    with pytest.raises(ControlValueError, match=r"^steps must be an int in \[0, 1000\], got 2.5"):
        e.steps_slider.value = 2.5
    assert e.path.num_steps == RAVINE.num_steps
    assert_still_redraws(e, e.steps_slider, 7)


def test_a_nan_click_position_is_refused(surface_explorer):
    e = surface_explorer
    with pytest.raises(ValueError, match=r"^w1 must be a finite number"):
        e.set_start(math.nan, 0.0)
    assert e.start == RAVINE.start
    e.set_start(1.0, 1.0)
    assert e.path.points[0].tolist() == [1.0, 1.0]


def test_an_unknown_surface_is_refused_and_the_picker_keeps_its_choice(surface_explorer):
    e = surface_explorer
    with pytest.raises(traitlets.TraitError):
        e.surface_picker.value = "himmelblau"
    assert e.surface_picker.value == "ravine" and e.surface.name == "ravine"
    assert_still_redraws(e, e.lr_slider, 0.02)


def test_an_error_while_holding_updates_does_not_freeze_the_explorer(surface_explorer):
    e = surface_explorer
    with pytest.raises(RuntimeError), e.holding():
        e.lr_slider.value = 0.02
        raise RuntimeError("a failure in the middle of setting several controls")
    assert not e._holding
    assert_still_redraws(e, e.lr_slider, 0.03)


def test_a_momentum_of_one_or_more_is_refused(make_explorer):
    e = make_explorer(MomentumExplorer)
    with pytest.raises(ControlValueError, match=r"^momentum γ must be a finite number in \[0, 0.99\], got 1.5"):
        e.momentum_slider.value = 1.5
    assert e.momentum_slider.value == 0.9 and e.result.momentum == 0.9
    e.snap_button.click()
    assert e.result.momentum == pytest.approx(e.critical_momentum())


def test_a_text_lr_is_refused(make_explorer):
    e = make_explorer(MomentumExplorer)
    with pytest.raises(ControlValueError, match=r"^lr η must be a finite number in \[0.001, 1\], got '0.1'"):
        e.lr_slider.value = "0.1"
    assert_still_redraws(e, e.lr_slider, 0.01)


def test_a_bool_lr_is_refused_by_the_comparison(make_explorer):
    c = make_explorer(OptimizerComparison, "ravine", selected=("sgd",))
    with pytest.raises(ControlValueError, match="got True"):
        c.lr_sliders["sgd"].value = True
    assert c.settings("sgd")["lr"] == pytest.approx(0.09)
    assert_still_redraws(c, c.lr_sliders["sgd"], 0.05)


def test_a_nan_elevation_is_refused_and_the_view_still_turns(make_explorer):
    e = make_explorer(LossSurfaceExplorer)
    with pytest.raises(ControlValueError, match=r"^elevation must be an int in \[-90, 90\], got nan"):
        e.elev_slider.value = math.nan
    e.elev_slider.value = 10
    assert e.ax3d.elev == 10


def test_a_batch_size_the_slider_does_not_offer_is_refused(make_explorer):
    e = make_explorer(NoiseCloudExplorer)
    with pytest.raises(traitlets.TraitError):
        e.batch_slider.value = 3
    assert e.cloud.batch_size == 16
    e.batch_slider.value = 4
    assert e.cloud.batch_size == 4 and "B = 4" in e.readout.value


def test_numpy_and_torch_values_move_the_controls(surface_explorer):
    e = surface_explorer
    e.lr_slider.value = np.float32(0.02)
    e.steps_slider.value = np.int64(30)
    e.w1_slider.value = torch.tensor(1.5)
    assert e.result.num_steps == 30 and e.start[0] == 1.5
    np.testing.assert_array_equal(e.path.points, run_descent(RAVINE, (1.5, RAVINE.start[1]), float(np.float32(0.02)),
                                                             30).points)


def test_theory_distances_has_the_step_bound_of_every_loop():
    from lessons_src.descent import theory_distances
    from lessons_src.validation import MAX_STEPS

    assert theory_distances(1.0, 0.5, 3).tolist() == [1.0, 0.5, 0.25, 0.125]
    with pytest.raises(ValueError, match="num_steps must be an int in"):
        theory_distances(1.0, 0.5, MAX_STEPS + 1)


def test_a_bool_is_no_batch_size_or_seed():
    from lessons_src.loaders import EpochSampler
    from lessons_src.widgets import NoiseCloudExplorer

    with pytest.raises(ValueError, match="batch_size must be one of"):
        NoiseCloudExplorer(batch_size=True)
    for seed in (True, 0.5):
        with pytest.raises(ValueError, match="seed must be an int"):
            EpochSampler(10, seed=seed)
