"""Learning-rate schedules equal torch.optim.lr_scheduler's; the range test grows lr as promised and leaves
the model alone."""

from __future__ import annotations

import copy
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.optim import lr_scheduler  # noqa: E402

from lessons_src.plotting import plot_range_test, plot_schedules  # noqa: E402
from lessons_src.range_test import exponential_lrs, lr_range_test, smooth  # noqa: E402
from lessons_src.schedules import (  # noqa: E402
    SCHEDULE_NAMES,
    Schedule,
    cosine_decay,
    linear_warmup,
    one_cycle,
    step_decay,
    torch_curve,
)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
@pytest.mark.parametrize("total_steps", [2, 10, 97, 782])
def test_each_schedule_equals_its_torch_scheduler(name, total_steps):
    if name == "one_cycle" and total_steps < 10:  # no room for a rising and a falling phase: said clearly
        with pytest.raises(ValueError, match="pct_start"):
            Schedule(name, 0.1, total_steps)
        return
    schedule = Schedule(name, 0.1, total_steps)
    np.testing.assert_allclose(schedule.curve(), torch_curve(schedule.torch_scheduler, 0.1, total_steps),
                               rtol=1e-12, atol=1e-15)


def test_the_formulas_equal_the_single_torch_schedulers():
    T = 50
    np.testing.assert_allclose([step_decay(t, 0.5, 7, 0.3) for t in range(T)],
                               torch_curve(lambda o: lr_scheduler.StepLR(o, 7, 0.3), 0.5, T), rtol=1e-12)
    np.testing.assert_allclose([linear_warmup(t, 0.5, 9, 0.2) for t in range(T)],
                               torch_curve(lambda o: lr_scheduler.LinearLR(o, 0.2, 1.0, 9), 0.5, T), rtol=1e-12)
    np.testing.assert_allclose([cosine_decay(t, 0.5, T, 0.01) for t in range(T)],
                               torch_curve(lambda o: lr_scheduler.CosineAnnealingLR(o, T, 0.01), 0.5, T), rtol=1e-9)
    one = [one_cycle(t, 0.5, T, 0.25, 10.0, 100.0) for t in range(T)]
    np.testing.assert_allclose(one, torch_curve(lambda o: lr_scheduler.OneCycleLR(
        o, 0.5, total_steps=T, pct_start=0.25, div_factor=10.0, final_div_factor=100.0, cycle_momentum=False),
        0.5, T), rtol=1e-12)
    assert 0.49 < max(one) <= 0.5 and one[0] == pytest.approx(0.05) and one[-1] == pytest.approx(0.0005)


def test_schedule_shapes():
    warm = Schedule("warmup_cosine", 0.2, 100).curve()
    assert warm[0] == pytest.approx(0.002) and warm.argmax() == 5 and warm[-1] < 0.001
    step = Schedule("step", 0.2, 99).curve()
    assert sorted(set(np.round(step, 12))) == [0.002, 0.02, 0.2]


def test_bad_schedule_settings_name_the_argument():
    with pytest.raises(ValueError, match="name must be one of"):
        Schedule("linear", 0.1, 10)
    with pytest.raises(ValueError, match="lr"):
        Schedule("constant", 0.0, 10)
    with pytest.raises(ValueError, match="total_steps"):
        Schedule("constant", 0.1, 1)
    with pytest.raises(ValueError, match="pct_start"):
        Schedule("one_cycle", 0.1, 5, pct_start=0.1)


def test_exponential_lrs_and_smoothing():
    lrs = exponential_lrs(1e-4, 1.0, 5)
    np.testing.assert_allclose(lrs, [1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    np.testing.assert_allclose(smooth(np.full(7, 3.0)), 3.0)  # bias correction: no drift from the zero start
    x = np.array([1.0, 2.0, 4.0])
    by_hand, a = [], 0.0
    for t, value in enumerate(x, start=1):
        a = 0.5 * a + 0.5 * value
        by_hand.append(a / (1 - 0.5**t))
    np.testing.assert_allclose(smooth(x, 0.5), by_hand)


@pytest.fixture
def blobs():
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 5, generator=generator)  # overlapping classes: the loss cannot reach 0
    y = torch.randint(0, 3, (600,), generator=generator)
    X = centres[y] + torch.randn(600, 5, generator=generator)
    return [(X[i:i + 30], y[i:i + 30]) for i in range(0, 600, 30)]


def test_range_test_finds_the_fall_and_the_blow_up_and_leaves_the_model_alone(blobs):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    before = copy.deepcopy(model.state_dict())
    result = lr_range_test(model, blobs, torch.nn.functional.cross_entropy,
                           lambda p: torch.optim.SGD(p, lr=1.0, momentum=0.9), lr_min=1e-4, lr_max=100.0,
                           num_steps=120)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert result.stopped_early and len(result.lrs) < 120
    np.testing.assert_allclose(result.lrs, exponential_lrs(1e-4, 100.0, 120)[:len(result.lrs)])
    assert result.smoothed.min() < 0.5 * result.smoothed[0]
    assert 1e-4 < result.steepest_lr < result.min_loss_lr < 100.0
    fig, ax = plt.subplots()
    plot_range_test(ax, result)
    plot_schedules(fig.add_subplot(2, 1, 2), [Schedule("one_cycle", 0.1, 50)], steps_per_epoch=10)
    plt.close(fig)


def test_range_test_rejects_bad_settings(blobs):
    model = torch.nn.Linear(5, 3)
    with pytest.raises(ValueError, match="lr_max"):
        lr_range_test(model, blobs, torch.nn.functional.cross_entropy, torch.optim.SGD, lr_min=1.0, lr_max=0.1)
    with pytest.raises(ValueError, match="num_steps"):
        lr_range_test(model, blobs, torch.nn.functional.cross_entropy, torch.optim.SGD, num_steps=2)
    assert math.isfinite(lr_range_test(model, blobs, torch.nn.functional.cross_entropy,
                                       lambda p: torch.optim.SGD(p, lr=0.1), num_steps=10,
                                       lr_max=1e-3).losses[-1])
