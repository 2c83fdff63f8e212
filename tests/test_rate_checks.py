"""Lesson 11's self-checks: right answers pass, the usual slips are named, and the references agree with
the package's EarlyStopping and with torch's schedulers."""

from __future__ import annotations

import math

import pytest
import torch

from lessons_src import checks
from lessons_src.early_stopping import EarlyStopping
from lessons_src.history import History
from lessons_src.rate_checks import EARLY_STOPPING_CASES, early_stopping_reference, warmup_linear_reference


def early_stopping_rule(improves, *, lowest_follows_every_fall=False):
    """A learner's early_stop(val_losses, patience, min_delta) whose test for a new best is ``improves(loss,
    best, previous, min_delta)``; with ``lowest_follows_every_fall`` the best loss also follows smaller falls."""
    def early_stop(val_losses, patience, min_delta):
        best_epoch, best, previous = 0, math.inf, math.inf
        for epoch, loss in enumerate(val_losses, start=1):
            if improves(loss, best, previous, min_delta):
                best_epoch, best = epoch, loss
            elif lowest_follows_every_fall:
                best = min(best, loss)
            previous = loss
            if epoch - best_epoch >= patience:
                return best_epoch, epoch
        return best_epoch, None
    return early_stop


early_stop = early_stopping_rule(lambda loss, best, previous, min_delta: loss < best - min_delta)


def test_a_right_early_stop_passes_and_the_slips_are_named():
    assert checks.check_early_stopping(early_stop)

    def zero_based(val_losses, patience, min_delta):
        best, stop = early_stop(val_losses, patience, min_delta)
        return best - 1, None if stop is None else stop - 1

    def stops_at_the_end(val_losses, patience, min_delta):
        best, stop = early_stop(val_losses, patience, min_delta)
        return best, len(val_losses) if stop is None else stop

    slips = {
        "count from 0": zero_based,
        "smaller than min_delta": lambda losses, patience, min_delta: early_stop(losses, patience, 0.0),
        "one epoch late": lambda losses, patience, min_delta: early_stop(losses, patience + 1, min_delta),
        "ties": early_stopping_rule(lambda loss, best, previous, delta: loss <= best - delta),
        "not a fraction": early_stopping_rule(lambda loss, best, previous, delta: loss < best * (1 - delta)),
        "previous epoch": early_stopping_rule(lambda loss, best, previous, delta: loss < previous - delta),
        "best loss moved": early_stopping_rule(lambda loss, best, previous, delta: loss < best - delta,
                                               lowest_follows_every_fall=True),
        "return None": stops_at_the_end,
    }
    for words, fn in slips.items():
        verdict = checks.check_early_stopping(fn)
        assert not verdict and words in repr(verdict), (words, repr(verdict))

    def placeholder(val_losses, patience, min_delta):
        ...

    assert "no answer yet" in repr(checks.check_early_stopping(placeholder))
    assert "no answer yet" in repr(checks.check_early_stopping(...))
    assert "raised" in repr(checks.check_early_stopping(lambda *args: 1 / 0))


@pytest.mark.parametrize("losses, patience", [(c[0], c[1]) for c in EARLY_STOPPING_CASES if c[2] == 0.0])
def test_the_reference_without_min_delta_stops_where_early_stopping_does(losses, patience):
    """The exercise's reference with min_delta = 0 is the package's EarlyStopping, fed the same losses."""
    stopper, history = EarlyStopping(torch.nn.Linear(1, 1), patience=patience), History()
    stop = None
    for epoch, loss in enumerate(losses, start=1):
        history.train_loss.append(loss)
        history.val_loss.append(loss)
        history.val_accuracy.append(0.5)
        history.seconds.append(0.0)
        history.lr.append(0.1)
        if stopper(history):
            stop = epoch
            break
    assert early_stopping_reference(losses, patience, 0.0) == (stopper.best_epoch, stop)


def warmup_linear(step, warmup_steps, total_steps):
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total_steps - step) / (total_steps - warmup_steps + 1))


def test_a_right_warmup_passes_and_the_slips_are_named():
    assert checks.check_warmup_linear(warmup_linear)

    def starts_at_zero(step, warmup_steps, total_steps):
        if step < warmup_steps:
            return step / warmup_steps
        return warmup_linear(step, warmup_steps, total_steps)

    def goes_negative(step, warmup_steps, total_steps):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return (total_steps - 1.5 * step) / (total_steps - warmup_steps)

    verdict = checks.check_warmup_linear(starts_at_zero)
    assert not verdict and "does nothing" in repr(verdict), repr(verdict)
    verdict = checks.check_warmup_linear(goes_negative)
    assert not verdict and "below 0" in repr(verdict), repr(verdict)
    def decays_late(step, warmup_steps, total_steps):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return (total_steps - step) / (total_steps - warmup_steps)

    def zero_early(step, warmup_steps, total_steps):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return (total_steps - 1 - step) / (total_steps - warmup_steps)

    for fn, words in ((decays_late, "one update late"), (zero_early, "reaches 0 at the last update"),
                      (lambda step, w, t: 0.1 * warmup_linear(step, w, t), "not an lr")):
        verdict = checks.check_warmup_linear(fn)
        assert not verdict and words in repr(verdict), (words, repr(verdict))
    assert checks.check_warmup_linear(lambda step, w, t: torch.tensor(warmup_linear(step, w, t)))  # a tensor is fine
    verdict = checks.check_warmup_linear(lambda step, w, t: 1.0)
    assert not verdict and "expected" in repr(verdict), repr(verdict)
    verdict = checks.check_warmup_linear(lambda step, w, t: "fast")
    assert not verdict and "return a number" in repr(verdict), repr(verdict)


def test_the_warmup_reference_is_torch_linear_lr_then_a_linear_decay():
    """Warm-up: LinearLR from 1/W to 1 over W − 1 updates; then LinearLR from 1 to 0 over the remaining updates."""
    warmup_steps, total_steps = 10, 50
    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=1.0)
    up = torch.optim.lr_scheduler.LinearLR(optimizer, 1 / warmup_steps, 1.0, total_iters=warmup_steps - 1)
    down = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.0, total_iters=total_steps - warmup_steps + 1)
    scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [up, down], milestones=[warmup_steps - 1])
    for step in range(total_steps):
        assert math.isclose(optimizer.param_groups[0]["lr"], warmup_linear_reference(step, warmup_steps, total_steps),
                            rel_tol=1e-6, abs_tol=1e-9), step
        optimizer.step()
        scheduler.step()
