"""Self-checks for exercises: ``check_xxx(answer)`` returns a ✓, or a ✗ that says what is off and gives a hint.

Every check returns a :class:`CheckResult` (see ``feedback``): truthy when the answer is right, shown as
its message when it is the last value in a notebook cell. Checks never raise on a wrong answer, and
an untouched ``...`` gets "no answer yet" without a hint. The checks of exercises in which the learner
writes a function live in ``code_checks`` and are imported here too, so that a notebook imports every
check from this one module.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lessons_src.batches import batches_per_epoch
from lessons_src.code_checks import (
    check_adam_step,
    check_gradient_descent,
    check_mean_bce_gradient,
    check_mse_gradient,
    check_sgd_momentum_step,
    check_tanh_hidden_gradient,
)
from lessons_src.data import CLASS_NAMES
from lessons_src.descent import critical_momentum, momentum_rate
from lessons_src.distributed_checks import check_average_gradients, check_shard
from lessons_src.feedback import (
    CheckResult,
    as_array,
    check_answer,
    compare_prediction,
    describe_factor,
    no_answer,
    ratio_to,
    right,
    same_numbers,
    unanswered,
    wrong,
)
from lessons_src.landscape_checks import check_filter_normalize, check_hvp
from lessons_src.language import tr
from lessons_src.loop_checks import (
    check_fixed_evaluate,
    check_loader_from_frame,
    check_model_class,
    check_resume,
    check_train_epoch,
    check_two_epoch_lr,
)
from lessons_src.minibatch import sgd_path
from lessons_src.optimizer_checks import check_adamw, check_sgdw
from lessons_src.pitfalls import BUGGY_SNIPPETS
from lessons_src.rate_checks import check_early_stopping, check_warmup_linear
from lessons_src.sample_losses import breast_cancer_logistic
from lessons_src.surfaces import get_surface


# --- lesson 00: a FashionMNIST example -----------------------------------------------------------
def check_pixels_per_image(answer: Any) -> CheckResult:
    """How many numbers describe one FashionMNIST image?"""
    return check_answer(answer, 28 * 28, what=tr("pixels per image"),
                        hint=tr("an image tensor has shape (1, 28, 28); how many numbers does that hold?"))


def check_label_of(class_name: str, answer: Any) -> CheckResult:
    """Which integer label does ``class_name`` have in FashionMNIST?"""
    if class_name not in CLASS_NAMES:
        raise ValueError(tr("{name} must be one of {choices}, got {value}", name="class_name", choices=CLASS_NAMES,
                            value=repr(class_name)))
    return check_answer(answer, CLASS_NAMES.index(class_name), what=tr("label of {name}", name=repr(class_name)),
                        hint=tr("labels are positions in train_set.classes, counting from 0."))


# --- lesson 01: gradient descent on the source tutorials' quadratic ----------------------------------------
def check_gradient_at_2_minus_1(answer: Any) -> CheckResult:
    """∇L at w = (2, −1) on the source tutorials' quadratic L = (2 − w1 − w2)² + (4 − 3·w1 − w2)²."""
    what, expected = "∇L(2, −1)", get_surface("source_quadratic").grad((2.0, -1.0))
    hint = tr("evaluate the two errors r1 and r2 at (2, −1) first, then put them into section 2's partial derivatives.")
    if unanswered(answer):
        return no_answer(what)
    if same_numbers(answer, expected):
        return right(what, tr("correct"))
    got = as_array(answer)
    if got is not None and got.shape == (2,) and np.allclose(got, -expected):
        return wrong(what, tr("that is −∇L, the way downhill; the gradient points uphill"), hint)
    if got is not None and got.shape == (2,) and np.isclose(got, expected).sum() == 1:
        right_one = "∂L/∂w1" if np.isclose(got[0], expected[0]) else "∂L/∂w2"
        return wrong(what, tr("{right_one} is right, the other one is not", right_one=right_one), hint)
    return wrong(what, tr("not yet (you gave {answer})", answer=repr(answer)), hint)


def check_max_stable_lr_ravine(answer: Any) -> CheckResult:
    """The boundary η_max on the ravine: gradient descent converges for every lr below it, and not at it."""
    what = tr("the edge of stability on the ravine")
    hint = tr("as η grows, which direction of the ravine is the first to blow up? Section 4's 'Where exactly is the "
              "edge?' gives the condition for one direction with curvature λ.")
    if unanswered(answer):
        return no_answer(what)
    lam_min, lam_max = (float(v) for v in get_surface("ravine").curvatures())
    if same_numbers(answer, 2 / lam_max, rtol=1e-2):
        return right(what, tr("2/λmax = {edge:g}; every smaller lr converges, and at it the steep direction "
                              "flips sign forever without shrinking", edge=2 / lam_max))
    near_misses = {2 / lam_min: tr("that is the edge of the shallow direction; the steep one diverges long before"),
                   1 / lam_max: tr("at that lr the steep direction is reached in a single step (factor 0); the edge "
                                   "is where the factor |1 − ηλ| grows to 1"),
                   2 / (lam_min + lam_max): tr("that is the fastest lr, where both directions shrink equally fast; "
                                               "larger ones still converge"),
                   1 / lam_min: tr("that is far beyond the edge: the steep direction diverges long before")}
    value = as_array(answer)
    known = None
    if value is not None and value.shape == ():
        known = next((text for lr, text in near_misses.items() if math.isclose(float(value), lr, rel_tol=1e-2)), None)
    return wrong(what, known or tr("not yet (you gave {answer}); try run_descent just below and just above it",
                                   answer=repr(answer)), hint)


# --- lessons 03-04: momentum ----------------------------------------------------------------------------
FASTEST_MOMENTUM_LR = 0.05  # the lr of the exercise "which γ converges fastest on the ravine?"


def check_fastest_momentum(answer: Any) -> CheckResult:
    """A γ whose heavy-ball rate on the ravine at lr = 0.05 is within 0.5 % of the best possible."""
    lams = get_surface("ravine").curvatures()
    hint = tr("scan γ with momentum_rate, or find where the flattest direction is critically damped "
              "(the discriminant of z² − (1 + γ − ηλmin)·z + γ is zero).")
    what = tr("fastest momentum for lr = {lr}", lr=FASTEST_MOMENTUM_LR)
    if unanswered(answer):
        return no_answer(what)
    value = as_array(answer)
    if value is None or value.shape != () or not (0 <= float(value) < 1):
        return wrong(what, tr("expected one number in [0, 1), got {answer}", answer=repr(answer)), hint)
    best = momentum_rate(FASTEST_MOMENTUM_LR, critical_momentum(FASTEST_MOMENTUM_LR, float(lams[0])), lams)
    rate = momentum_rate(FASTEST_MOMENTUM_LR, float(value), lams)
    if rate <= 1.005 * best:
        return right(what, tr("correct (rate {rate:.4f} per step; the best is {best:.4f})", rate=rate, best=best))
    side = tr("too little momentum: the flat direction still creeps") if float(value) < critical_momentum(
        FASTEST_MOMENTUM_LR, float(lams[0])) else tr("too much momentum: every direction spirals at √γ")
    return wrong(what, tr("γ = {momentum:.4g} gives rate {rate:.4f} per step ({side}), but {best:.4f} is possible",
                          momentum=float(value), rate=rate, side=side, best=best), hint)


def check_equivalent_lr(answer: Any) -> CheckResult:
    """The torch.optim.SGD lr (momentum 0.9) that follows m ← 0.9·m + 0.1·g, w ← w − 0.5·m."""
    what = tr("lr for torch.optim.SGD")
    hint = tr("write PyTorch's buffer b in terms of the paper's m (section 3, 'A third form'); "
              "which lr makes lr·b = 0.5·m?")
    if unanswered(answer):
        return no_answer(what)
    if same_numbers(answer, 0.5 * (1 - 0.9)):
        return right(what, tr("correct: b = m / (1 − β) is ten times m, so lr is ten times smaller than 0.5"))
    known = describe_factor(ratio_to(answer, 0.05), {
        10.0: tr("that is the paper's η itself; PyTorch's buffer b is not the paper's m"),
        100.0: tr("the buffer b is ten times m, so the lr must be ten times *smaller*, not larger")})
    return wrong(what, known or tr("not yet (you gave {answer})", answer=repr(answer)), hint)


# --- lessons 05-06: mini-batches ------------------------------------------------------------------------
def check_steps_with_and_without_drop_last(answer: Any) -> CheckResult:
    """(steps with drop_last=False, steps with drop_last=True) for 3 epochs over 1 000 samples in batches of 64."""
    what = tr("optimizer steps in 3 epochs, without and with drop_last")
    hint = tr("one step per batch. Count one epoch's batches, decide what drop_last does with the last, incomplete "
              "one, then multiply by the epochs.")
    expected = [3 * batches_per_epoch(1000, 64, drop) for drop in (False, True)]
    if unanswered(answer):
        return no_answer(what, tr("with a pair (steps without drop_last, steps with it)"))
    got = as_array(answer)
    if got is None or got.shape != (2,):
        return wrong(what, tr("expected a pair of numbers, got {answer}", answer=repr(answer)), hint)
    if same_numbers(got, expected):
        return right(what, tr("{without} and {with_drop}: the last batch of each epoch holds {last} examples",
                              without=expected[0], with_drop=expected[1], last=1000 - 64 * (1000 // 64)))
    if same_numbers(got, expected[::-1]):
        return wrong(what, tr("the two numbers are swapped: drop_last *removes* a batch"), hint)
    if same_numbers(got, [n / 3 for n in expected]):
        return wrong(what, tr("those are the steps of one epoch"), hint)
    if not np.allclose(got, np.round(got)):
        return wrong(what, tr("a step needs a whole batch, so the number of steps is a whole number"), hint)
    return wrong(what, tr("not yet (you gave {answer})", answer=repr(answer)), hint)


def check_batch_size_for_third_std(answer: Any) -> CheckResult:
    """The batch size whose gradient noise has a 3× smaller standard deviation than batch size 8's, by the 1/B law
    (a data set far larger than the batch, so the finite-population factor is about 1)."""
    what = tr("batch size for a 3× smaller standard deviation")
    hint = tr("section 3 measured how the variance falls with B; how is a standard deviation related to a variance?")
    if unanswered(answer):
        return no_answer(what)
    if same_numbers(answer, 72):
        return right(what, tr("72: 9 times the batch, 9 times less variance, 3 times less standard deviation"))
    if same_numbers(answer, 24):
        return wrong(what, tr("24 makes the *variance* 3 times smaller; the standard deviation only √3 ≈ 1.7 times"),
                     hint)
    if same_numbers(answer, 8 / 3) or same_numbers(answer, 8 / 9):
        return wrong(what, tr("a smaller batch makes the noise larger, not smaller"), hint)
    return wrong(what, tr("not yet (you gave {answer})", answer=repr(answer)), hint)


SGD_TUNING = {"batch_size": 32, "num_steps": 18, "seed": 0, "bound": 0.01}  # one epoch of the breast-cancer data


def check_lr_for_one_epoch(answer: Any) -> CheckResult:
    """A lr with which mini-batch SGD (B = 32, seed 0) gets within 0.01 of the minimum loss in 18 steps."""
    what, settings = tr("a learning rate for one epoch"), SGD_TUNING
    hint = tr("try a few values with sgd_path and look at the whole loss curve, not only its end: is it still "
              "falling at step 18, or did it get close and then bounce around?")
    if unanswered(answer):
        return no_answer(what)
    value = as_array(answer)
    if value is None or value.shape != () or not 0 < float(value) <= 100:
        return wrong(what, tr("expected one learning rate in (0, 100], got {answer}", answer=repr(answer)), hint)
    problem = breast_cancer_logistic()
    path = sgd_path(problem, problem.surface.start, float(value), settings["batch_size"], settings["num_steps"],
                    seed=settings["seed"])
    if path.diverged:
        return wrong(what, tr("lr = {lr:g} diverged at step {step}", lr=float(value), step=path.diverged_at), hint)
    gap = path.losses - problem.loss(problem.surface.global_minimum)
    if gap[-1] < settings["bound"]:
        return right(what, tr("after 18 steps L − L* = {gap:.4f} < {bound}", gap=gap[-1], bound=settings["bound"]))
    if gap.min() < settings["bound"]:
        return wrong(what, tr("L − L* ends at {gap:.4f}, but it was down to {lowest:.4f} at step {step}: the steps are "
                              "so large that the batches' noise throws the path back out",
                              gap=gap[-1], lowest=gap.min(), step=int(gap.argmin())), hint)
    return wrong(what, tr("L − L* is still {gap:.4f} after 18 steps and was falling all the way", gap=gap[-1]), hint)


# --- lesson 10: classic mistakes ----------------------------------------------------------------
def check_buggy_line(snippet: str, answer: Any) -> CheckResult:
    """Which line (counted from 1) of ``pitfalls.BUGGY_SNIPPETS[snippet]`` holds the bug?"""
    if snippet not in BUGGY_SNIPPETS:
        raise ValueError(tr("{name} must be one of {choices}, got {value}", name="snippet",
                            choices=tuple(BUGGY_SNIPPETS), value=repr(snippet)))
    bug = BUGGY_SNIPPETS[snippet]
    what = tr("the buggy line of {snippet}", snippet=repr(snippet))
    hint = tr("print the snippet with line numbers; the lesson's section on the same mistake shows the fix.")
    if unanswered(answer):
        return no_answer(what, tr("with a line number"))
    if isinstance(answer, bool) or not isinstance(answer, int | np.integer):
        return wrong(what, tr("expected a line number (an int), got {answer}", answer=repr(answer)), hint)
    if answer == bug.line:
        return right(what, tr("line {line}: {why}", line=bug.line, why=bug.why))
    num_lines = len(bug.code.splitlines())
    if not 1 <= answer <= num_lines:
        return wrong(what, tr("the snippet has lines 1 to {num_lines}, got {answer}", num_lines=num_lines,
                              answer=answer), hint)
    return wrong(what, tr("line {line} is fine", line=answer), hint)


__all__ = ["CheckResult", "check_adam_step", "check_adamw", "check_answer", "check_average_gradients", "check_shard",
           "check_batch_size_for_third_std", "check_buggy_line", "check_early_stopping",
           "check_equivalent_lr", "check_fastest_momentum", "check_filter_normalize", "check_hvp",
           "check_fixed_evaluate", "check_gradient_at_2_minus_1",
           "check_gradient_descent", "check_label_of", "check_loader_from_frame", "check_lr_for_one_epoch",
           "check_max_stable_lr_ravine", "check_mean_bce_gradient", "check_model_class", "check_mse_gradient",
           "check_pixels_per_image", "check_resume", "check_sgd_momentum_step", "check_sgdw",
           "check_steps_with_and_without_drop_last", "check_tanh_hidden_gradient",
           "check_train_epoch", "check_two_epoch_lr", "check_warmup_linear", "compare_prediction"]
