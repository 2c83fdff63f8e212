"""Self-checks for lesson 11's exercises: an early-stopping rule with a minimum improvement and a per-batch
warm-up schedule, each written by the learner and compared with the reference on cases chosen to catch the usual slips.

Like every check, these return a :class:`~lessons_src.feedback.CheckResult` and never raise on a wrong
answer; they are imported by :mod:`lessons_src.checks`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from lessons_src.feedback import CheckResult, call_learner, right, wrong
from lessons_src.language import tr

# --- exercise 1: early stopping that ignores tiny improvements -------------------------------------------
# (validation losses, patience, min_delta), each case chosen to tell a slip apart: with min_delta = 0 as
# EarlyStopping (a dip then a rise; a tie); improvements smaller than min_delta; a slow creep that never stops;
# losses near 2, where an absolute and a relative min_delta differ; a fall below the previous epoch that is no
# new best; small decreases that must not move the best loss; a late real improvement that resets the count.
EARLY_STOPPING_CASES = (
    ([0.9, 0.7, 0.6, 0.65, 0.7, 0.8, 0.9], 3, 0.0),
    ([0.9, 0.6, 0.6, 0.6, 0.7], 3, 0.0),
    ([0.9, 0.6, 0.597, 0.595, 0.594, 0.7], 3, 0.01),
    ([0.9, 0.8, 0.79, 0.785, 0.78], 3, 0.0),
    ([2.5, 2.0, 1.93, 1.92, 1.91, 2.2], 3, 0.05),
    ([0.9, 0.5, 0.7, 0.6, 0.65, 0.62], 2, 0.0),
    ([1.0, 0.9, 0.87, 0.84, 0.83, 0.82], 3, 0.05),
    ([0.9, 0.6, 0.599, 0.5, 0.58, 0.57, 0.56], 3, 0.02),
    ([0.5, 0.6, 0.7], 2, 0.01),
)


def early_stopping_reference(val_losses: list[float], patience: int, min_delta: float) -> tuple[int, int | None]:
    """(best epoch, epoch after which training stops or None), both 1-based: an epoch improves only when its
    loss is below the best so far by more than ``min_delta``; stop once ``patience`` epochs passed without one."""
    best_epoch, best = 0, math.inf
    for epoch, loss in enumerate(val_losses, start=1):
        if loss < best - min_delta:
            best_epoch, best = epoch, loss
        if epoch - best_epoch >= patience:
            return best_epoch, epoch
    return best_epoch, None


def _slips(val_losses: list[float], patience: int, min_delta: float) -> dict[str, tuple[int, int | None]]:
    """What the usual wrong versions of the rule return, keyed by the sentence that names the slip (in the
    language in use: the keys are only shown, never compared)."""
    def rule(improves, moves_lowest_always=False):
        best_epoch, best, previous = 0, math.inf, math.inf
        for epoch, loss in enumerate(val_losses, start=1):
            if improves(loss, best, previous):
                best_epoch, best = epoch, loss
            elif moves_lowest_always and loss < best:
                best = loss
            previous = loss
            if epoch - best_epoch >= patience:
                return best_epoch, epoch
        return best_epoch, None

    return {
        tr("an improvement smaller than min_delta still counted"): rule(lambda loss, best, prev: loss < best),
        tr("min_delta is an absolute amount of loss, not a fraction of the best loss"):
            rule(lambda loss, best, prev: loss < best * (1 - min_delta)),
        tr("the best loss moved on a decrease smaller than min_delta; it should move only with the best epoch"):
            rule(lambda loss, best, prev: loss < best - min_delta, moves_lowest_always=True),
        tr("you compared each loss with the previous epoch's; compare it with the best so far"):
            rule(lambda loss, best, prev: loss < prev - min_delta),
        tr("an epoch that only ties the best loss is not an improvement"):
            rule(lambda loss, best, prev: loss <= best - min_delta),
    }


def check_early_stopping(fn: Any) -> CheckResult:
    """Does ``fn(val_losses, patience, min_delta)`` return (best epoch, stop epoch or None), 1-based, counting
    only improvements by more than ``min_delta``?"""
    what = "early_stop(val_losses, patience, min_delta)"
    hint = tr("start from section 1's loop: an epoch is a new best only when its loss is below the best so far "
              "minus min_delta, and only then do the best epoch and the best loss change; training stops after "
              "the epoch at which `patience` epochs have passed since the best one, and a run that never gets "
              "there returns None as its stop epoch.")
    for losses, patience, min_delta in EARLY_STOPPING_CASES:
        got, failure = call_learner(fn, what, hint, list(losses), patience, min_delta)
        if failure is not None:
            return failure
        want = early_stopping_reference(losses, patience, min_delta)
        if not isinstance(got, tuple | list) or len(got) != 2:
            return wrong(what, tr("for {losses} with patience {patience} you returned {got}; return a pair "
                                  "(best epoch, stop epoch or None)", losses=losses, patience=patience,
                                  got=repr(got)), hint)
        got = tuple(got)
        if got == want:
            continue
        case = tr("for validation losses {losses} with patience {patience} and min_delta {min_delta} you "
                  "returned {got}, expected {want}", losses=losses, patience=patience, min_delta=min_delta,
                  got=got, want=want)
        named = [slip for slip, result in _slips(list(losses), patience, min_delta).items() if result == got]
        if named:
            return wrong(what, tr("{case}: {slip}", case=case, slip=named[0]), hint)
        if got == (want[0] - 1, None if want[1] is None else want[1] - 1):
            return wrong(what, tr("{case}: your epochs count from 0; History counts from 1", case=case), hint)
        if want[1] is None and got[0] == want[0]:
            return wrong(what, tr("{case}: this run never waits `patience` epochs without a new best, so it does "
                                  "not stop: return None as the stop epoch", case=case), hint)
        if want[1] is not None and got[1] == want[1] + 1:
            return wrong(what, tr("{case}: you stop one epoch late", case=case), hint)
        return wrong(what, case, hint)
    return right(what, tr("the right best and stopping epochs on {num_runs} runs: tiny, relative-looking and late "
                          "improvements, ties and a run that never stops", num_runs=len(EARLY_STOPPING_CASES)))


# --- exercise 2: a linear warm-up, then a linear decay to zero, as a LambdaLR factor ----------------------
WARMUP_CASES = ((10, 100), (1, 7), (25, 60))  # (warmup_steps, total_steps)


def warmup_linear_reference(step: int, warmup_steps: int, total_steps: int) -> float:
    """The factor of lr at update ``step`` (0-based): (step + 1) / warmup_steps while warming up, so that the
    first update already moves and update ``warmup_steps − 1`` runs at the full lr; from there a straight line down
    to 0 at ``total_steps`` (never below)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total_steps - step) / (total_steps - warmup_steps + 1))


def _lambda_lr_curve(factor, total_steps: int) -> list[float]:
    """The lr that ``LambdaLR(optimizer, factor)`` with base lr 1 gives each of ``total_steps`` updates."""
    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    lrs = []
    for _ in range(total_steps):
        lrs.append(float(optimizer.param_groups[0]["lr"]))  # a tensor factor makes lr a tensor updated in place
        optimizer.step()
        scheduler.step()
    return lrs


def check_warmup_linear(fn: Any) -> CheckResult:
    """Does ``fn(step, warmup_steps, total_steps)`` give the factor of a linear warm-up then linear decay?

    The factor is used as ``LambdaLR(optimizer, lambda step: fn(step, warmup_steps, total_steps))``; the check
    runs that scheduler and compares the lr of every update with the reference."""
    what = "warmup_linear(step, warmup_steps, total_steps)"
    hint = tr("LambdaLR multiplies the base lr by your factor at every update, the first update having step = 0. "
              "Warm-up: the factor grows in equal steps and reaches 1 at update warmup_steps − 1 (so update 0 runs "
              "at 1 / warmup_steps, not 0). Then it falls in a straight line to 0 at step = total_steps.")
    for warmup_steps, total_steps in WARMUP_CASES:
        factors = []
        for step in range(total_steps):
            value, failure = call_learner(fn, what, hint, step, warmup_steps, total_steps)
            if failure is not None:
                return failure
            try:
                factors.append(float(value))
            except (TypeError, ValueError):
                return wrong(what, tr("step {step} gave {value}: return a number, the factor of the base lr",
                                      step=step, value=repr(value)), hint)
        try:
            lrs = _lambda_lr_curve(lambda step, w=warmup_steps, t=total_steps: fn(step, w, t), total_steps)
        except Exception as error:  # learner code; report, never crash
            return wrong(what, tr("LambdaLR could not use your function: {error}",
                                  error=f"{type(error).__name__}: {error}"), hint)
        want = [warmup_linear_reference(step, warmup_steps, total_steps) for step in range(total_steps)]
        bad = next((s for s in range(total_steps) if not math.isclose(lrs[s], want[s], rel_tol=1e-6, abs_tol=1e-9)),
                   None)
        if bad is None:
            continue
        case = tr("with warmup_steps={warmup_steps}, total_steps={total_steps}: update {update} runs at "
                  "{got:.6g} × lr, expected {want:.6g} × lr", warmup_steps=warmup_steps, total_steps=total_steps,
                  update=bad, got=lrs[bad], want=want[bad])
        if bad == 0 and lrs[0] == 0:
            return wrong(what, tr("{case}; a factor of 0 makes the first update a step that does nothing", case=case),
                         hint)
        if min(lrs) < 0:
            return wrong(what, tr("{case}: the lr went below 0", case=case), hint)
        ratio = lrs[bad] / want[bad] if want[bad] else math.nan
        if all(math.isclose(lr, ratio * w, rel_tol=1e-6, abs_tol=1e-12) for lr, w in zip(lrs, want, strict=True)):
            return wrong(what, tr("{case}: every update runs at {ratio:.6g} times the right lr. Return the factor, "
                                  "not an lr: LambdaLR multiplies the base lr by it", case=case, ratio=ratio), hint)
        if bad < warmup_steps and math.isclose(lrs[bad], bad / warmup_steps, rel_tol=1e-6):
            return wrong(what, tr("{case}: your warm-up is one update behind", case=case), hint)
        late = [(total_steps - step) / (total_steps - warmup_steps) for step in range(warmup_steps, total_steps)]
        if bad >= warmup_steps and all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
                                       for a, b in zip(lrs[warmup_steps:], late, strict=True)):
            return wrong(what, tr("{case}: the decay starts one update late (updates {last_warmup} and "
                                  "{warmup_steps} both run at the full lr)", case=case,
                                  last_warmup=warmup_steps - 1, warmup_steps=warmup_steps), hint)
        if bad >= warmup_steps and lrs[-1] == 0:
            return wrong(what, tr("{case}: the lr reaches 0 at the last update, {last}, which then does nothing; it "
                                  "should reach 0 one step later, at step = total_steps", case=case,
                                  last=total_steps - 1), hint)
        return wrong(what, case, hint)
    return right(what, tr("LambdaLR with your factor gives the reference lr at every update of three schedules"))
