"""The timing helpers, on a clock the test controls: which pass they keep, what rate they report,
and that they leave the thread count, the gradients and their bounds as promised."""

from __future__ import annotations

import itertools

import pytest
import torch

from lessons_src import timing
from lessons_src.timing import MAX_REPEATS, MAX_SECONDS, gradient_seconds, training_throughput


class FakeClock:
    """perf_counter() that returns the given readings in turn (the last one for ever after)."""

    def __init__(self, readings: list[float]) -> None:
        self.readings = itertools.chain(readings, itertools.repeat(readings[-1]))
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return next(self.readings)


@pytest.fixture
def linear():
    torch.manual_seed(0)
    return torch.nn.Linear(4, 3), torch.nn.CrossEntropyLoss(), torch.randn(64, 4), torch.randint(0, 3, (64,))


def test_gradient_seconds_keeps_the_fastest_pass(linear, monkeypatch):
    model, loss_fn, X, y = linear
    # readings: begin, then (start, end) per pass: passes of 0.5 s, 0.2 s and 0.4 s
    monkeypatch.setattr(timing.time, "perf_counter", FakeClock([0.0, 1.0, 1.5, 2.0, 2.2, 3.0, 3.4]))
    assert gradient_seconds(model, X, y, loss_fn, repeats=3) == pytest.approx(0.2)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_gradient_seconds_keeps_going_until_min_seconds_have_passed(linear, monkeypatch):
    model, loss_fn, X, y = linear
    # one pass is asked for, but the budget of 5 s keeps it going: begin; then per pass start, end and
    # the loop's look at the clock; passes of 1.0, 0.5 and 1.0 s, and the look after the third says 6 s
    clock = FakeClock([0.0, 0.0, 1.0, 1.0, 1.0, 1.5, 1.5, 1.5, 2.5, 6.0])
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    assert gradient_seconds(model, X, y, loss_fn, repeats=1, min_seconds=5.0) == pytest.approx(0.5)
    assert clock.calls == 10  # three passes, not one, and no fourth


def test_gradient_seconds_restores_the_thread_count(linear):
    model, loss_fn, X, y = linear
    threads = torch.get_num_threads()
    gradient_seconds(model, X, y, loss_fn, repeats=1, threads=1)
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="threads"):
        gradient_seconds(model, X, y, loss_fn, threads=0)
    assert torch.get_num_threads() == threads


def test_training_throughput_counts_samples_over_the_measured_time(linear, monkeypatch):
    model, loss_fn, X, y = linear
    before = model.weight.detach().clone()
    # begin at 10 s; the first three steps need no look at the clock; the look after them ends the loop
    # (min_seconds = 0); the end reads 12 s: 3 steps of 16 samples in 2 s
    monkeypatch.setattr(timing.time, "perf_counter", FakeClock([10.0, 11.5, 12.0]))
    assert training_throughput(model, X, y, loss_fn, 16, min_seconds=0.0) == pytest.approx(3 * 16 / 2.0)
    assert not torch.equal(model.weight, before)  # it trained (the docstring says the weights change)


@pytest.mark.parametrize("kwargs, name", [
    ({"repeats": 0}, "repeats"), ({"repeats": MAX_REPEATS + 1}, "repeats"), ({"repeats": True}, "repeats"),
    ({"min_seconds": MAX_SECONDS + 1}, "min_seconds"), ({"min_seconds": float("nan")}, "min_seconds"),
])
def test_gradient_seconds_has_bounds(linear, kwargs, name):
    model, loss_fn, X, y = linear
    with pytest.raises(ValueError, match=f"^{name} must"):
        gradient_seconds(model, X, y, loss_fn, **kwargs)


def test_training_throughput_rejects_a_batch_larger_than_the_data(linear):
    model, loss_fn, X, y = linear
    with pytest.raises(ValueError, match="batch_size"):
        training_throughput(model, X, y, loss_fn, 65)
    with pytest.raises(ValueError, match="min_seconds"):
        training_throughput(model, X, y, loss_fn, 16, min_seconds=10 * MAX_SECONDS)
