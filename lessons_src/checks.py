"""Self-checks for exercises: ``check_xxx(answer)`` returns a friendly ✓ or ✗ with a hint.

Every check returns a :class:`CheckResult`; it is truthy when the answer is right and shows its
message when it is the last value in a notebook cell. Checks never raise on a wrong answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from lessons_src.data import CLASS_NAMES
from lessons_src.descent import critical_momentum, momentum_rate, velocity_momentum_step
from lessons_src.pitfalls import BUGGY_SNIPPETS, DropoutBatchNormMLP
from lessons_src.surfaces import get_surface
from lessons_src.training import evaluate


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one self-check."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message


def _right(what: str, detail: str) -> CheckResult:
    """A ✓ for ``what``, saying what was right."""
    return CheckResult(True, f"✓ {what}: {detail}.")


def _wrong(what: str, problem: str, hint: str) -> CheckResult:
    """A ✗ for ``what``: what is wrong with the answer, then the hint."""
    return CheckResult(False, f"✗ {what}: {problem}. Hint: {hint}")


def _no_answer(what: str, hint: str, instead: str = "with your answer") -> CheckResult:
    """The ✗ for an exercise whose ``...`` is still there."""
    return _wrong(what, f"no answer yet. Replace `...` {instead}", hint)


def _unanswered(value: Any) -> bool:
    """Whether ``value`` is still the exercise's placeholder (``...``) or nothing at all."""
    return value is None or value is Ellipsis


def _as_array(value: Any) -> np.ndarray | None:
    """``value`` as a float array, or None if it is not numeric."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return array


def check_answer(answer: Any, expected: Any, *, what: str, hint: str, rtol: float = 1e-4,
                 atol: float = 1e-6) -> CheckResult:
    """Compare ``answer`` with ``expected`` (numbers, sequences, tensors or strings)."""
    if _unanswered(answer):
        return _no_answer(what, hint)
    if isinstance(expected, str):
        passed = isinstance(answer, str) and answer.strip().lower() == expected.lower()
    else:
        got, want = _as_array(answer), _as_array(expected)
        passed = (
            got is not None
            and got.shape == want.shape
            and bool(np.all(np.isfinite(got)))
            and bool(np.allclose(got, want, rtol=rtol, atol=atol))
        )
    if passed:
        return _right(what, "correct")
    return _wrong(what, f"not yet (you gave {answer!r})", hint)


def check_pixels_per_image(answer: Any) -> CheckResult:
    """How many numbers describe one FashionMNIST image?"""
    return check_answer(answer, 28 * 28, what="pixels per image",
                        hint="an image tensor has shape (1, 28, 28); multiply the sizes.")


def check_label_of(class_name: str, answer: Any) -> CheckResult:
    """Which integer label does ``class_name`` have in FashionMNIST?"""
    if class_name not in CLASS_NAMES:
        raise ValueError(f"class_name must be one of {CLASS_NAMES}, got {class_name!r}")
    return check_answer(answer, CLASS_NAMES.index(class_name), what=f"label of {class_name!r}",
                        hint="labels are positions in train_set.classes, counting from 0.")



def _gradient_cases(seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """Seeded float64 cases (X (m, n), y (m, 1), w01 (n, h), w12 (h, 1)) of two different sizes."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for m, n, h in ((7, 3, 4), (12, 5, 2)):
        X = torch.randn(m, n, generator=generator, dtype=torch.float64)
        y = torch.randint(0, 2, (m, 1), generator=generator).double()
        w01 = torch.randn(n, h, generator=generator, dtype=torch.float64)
        w12 = torch.randn(h, 1, generator=generator, dtype=torch.float64)
        cases.append((X, y, w01, w12))
    return cases


def _autograd(loss_of_w, w: torch.Tensor) -> torch.Tensor:
    """∂loss/∂w by autograd, for a function ``loss_of_w`` of one weight tensor."""
    w = w.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_of_w(w), w)
    return grad


def _check_gradient_function(fn: Any, *, what: str, hint: str, args_of, reference) -> CheckResult:
    """Call the learner's ``fn(*args_of(case))`` on every seeded case and compare with ``reference``."""
    if _unanswered(fn):
        return _no_answer(what, hint, "with your function")
    if not callable(fn):
        return _wrong(what, f"expected a function, got {type(fn).__name__}", hint)
    for case in _gradient_cases():
        args = args_of(*case)
        want = reference(*args)
        try:
            got = fn(*(arg.clone() for arg in args))
        except Exception as error:  # learner code may fail in any way; report it as a ✗, never crash
            return _wrong(what, f"your function raised {type(error).__name__}: {error}", hint)
        if got is Ellipsis:
            return _no_answer(what, hint, "in your function's return line")
        if got is None:
            return _wrong(what, f"your function returned None; it should return a tensor of shape "
                                f"{tuple(want.shape)}", hint)
        got_array = _as_array(got)
        if got_array is None or got_array.shape != tuple(want.shape):
            shape = None if got_array is None else got_array.shape
            return _wrong(what, f"expected shape {tuple(want.shape)}, got {shape}", hint)
        if not check_answer(got, want, what=what, hint=hint):
            largest = float(np.nanmax(np.abs(got_array - want.numpy())))
            return _wrong(what, f"shape is right but values differ from autograd (largest difference "
                                f"{largest:.3g})", hint)
    return _right(what, "matches autograd on every test case")


def check_mse_gradient(fn: Any) -> CheckResult:
    """Is ``fn(X, y, w)`` the gradient ∂L/∂w of L = mean((Xw − y)²) for X (m, n), y (m, 1), w (n, 1)?"""
    def reference(X, y, w):
        return _autograd(lambda v: ((X @ v - y) ** 2).mean(), w)
    return _check_gradient_function(
        fn, what="gradient of the MSE", args_of=lambda X, y, w01, w12: (X, y, w01[:, :1]),
        reference=reference,
        hint="the square contributes 2·(Xw − y), the inner Xw − y contributes Xᵀ; keep the 1/m.",
    )


def check_mean_bce_gradient(fn: Any) -> CheckResult:
    """Is ``fn(X, y, w)`` ∂L/∂w of logistic regression with BCE AVERAGED over the m samples?"""
    def reference(X, y, w):
        return _autograd(lambda v: torch.nn.functional.binary_cross_entropy(
            torch.sigmoid(X @ v), y), w)
    return _check_gradient_function(
        fn, what="gradient of the mean BCE", args_of=lambda X, y, w01, w12: (X, y, w01[:, :1]),
        reference=reference,
        hint="start from the summed version Xᵀ(σ − y); what does dividing the loss by m do to it?",
    )


def check_tanh_hidden_gradient(fn: Any) -> CheckResult:
    """Is ``fn(X, y, w01, w12)`` ∂L/∂w01 for a tanh hidden layer, a sigmoid output and the BCE sum?"""
    def reference(X, y, w01, w12):
        def loss(v):
            sigma2 = torch.sigmoid(torch.tanh(X @ v) @ w12)
            return torch.nn.functional.binary_cross_entropy(sigma2, y, reduction="sum")
        return _autograd(loss, w01)
    return _check_gradient_function(
        fn, what="gradient of w01 with a tanh hidden layer", args_of=lambda *case: case,
        reference=reference,
        hint="only the local derivative of the hidden activation changes: tanh′(z) = 1 − tanh(z)².",
    )


# --- lesson 01: gradient descent on the source tutorials' quadratic ----------------------------------------
def check_gradient_at_2_minus_1(answer: Any) -> CheckResult:
    """∇L at w = (2, −1) on the source tutorials' quadratic L = (2 − w1 − w2)² + (4 − 3·w1 − w2)²."""
    return check_answer(answer, get_surface("source_quadratic").grad((2.0, -1.0)), what="∇L(2, −1)",
                        hint="∂L/∂w1 = −2(2 − w1 − w2) − 6(4 − 3w1 − w2); ∂L/∂w2 has −2 instead of −6.")


def check_first_step(answer: Any) -> CheckResult:
    """The point after one gradient step from (0, 0) with lr = 0.01 on the source tutorials' quadratic."""
    expected = -0.01 * get_surface("source_quadratic").grad((0.0, 0.0))
    return check_answer(answer, expected, what="first step from (0, 0)",
                        hint="compute ∇L(0, 0) first, then w − lr·∇L.")


def check_max_stable_lr_ravine(answer: Any) -> CheckResult:
    """The largest learning rate for which gradient descent converges on the ravine."""
    return check_answer(answer, get_surface("ravine").max_stable_lr(), what="largest stable lr",
                        rtol=1e-2, hint="take the eigenvalues of the ravine's Hessian; the answer is 2/λmax.")


# --- lesson 03: momentum ----------------------------------------------------------------------------
def check_velocity_after_two_steps(answer: Any) -> CheckResult:
    """The seeds' velocity v after two momentum steps from (0, 0), lr = 0.01, γ = 0.9, seeds' quadratic."""

    surface, w, v = get_surface("source_quadratic"), np.zeros(2), np.zeros(2)
    for _ in range(2):
        w, v = velocity_momentum_step(w, v, surface.grad(w), 0.01, 0.9)
    return check_answer(answer, v, what="velocity after two steps",
                        hint="v₁ = −η∇L(0, 0) and w₁ = v₁; then v₂ = γ·v₁ − η∇L(w₁), with ∇L taken at w₁.")


FASTEST_MOMENTUM_LR = 0.05  # the lr of the exercise "which γ converges fastest on the ravine?"


def check_fastest_momentum(answer: Any) -> CheckResult:
    """A γ whose heavy-ball rate on the ravine at lr = 0.05 is within 0.5 % of the best possible."""

    lams = get_surface("ravine").curvatures()
    hint = ("scan γ with momentum_rate, or find where the flattest direction is critically damped "
            "(the discriminant of z² − (1 + γ − ηλmin)·z + γ is zero).")
    what = f"fastest momentum for lr = {FASTEST_MOMENTUM_LR}"
    if _unanswered(answer):
        return _no_answer(what, hint)
    value = _as_array(answer)
    if value is None or value.shape != () or not (0 <= float(value) < 1):
        return _wrong(what, f"expected one number in [0, 1), got {answer!r}", hint)
    best = momentum_rate(FASTEST_MOMENTUM_LR, critical_momentum(FASTEST_MOMENTUM_LR, float(lams[0])), lams)
    rate = momentum_rate(FASTEST_MOMENTUM_LR, float(value), lams)
    if rate <= 1.005 * best:
        return _right(what, f"correct (rate {rate:.4f} per step; the best is {best:.4f})")
    return _wrong(what, f"γ = {float(value):.4g} gives rate {rate:.4f} per step, but {best:.4f} is possible", hint)


def check_equivalent_lr(answer: Any) -> CheckResult:
    """The torch.optim.SGD lr (momentum 0.9) that follows m ← 0.9·m + 0.1·g, w ← w − 0.5·m."""
    return check_answer(answer, 0.5 * (1 - 0.9), what="lr for torch.optim.SGD",
                        hint="PyTorch's buffer b is m / (1 − β), so lr·b = η·m needs lr = η·(1 − β).")


# --- lesson 05: the training loop ---------------------------------------------------------------
def _call_learner(fn: Any, what: str, hint: str, *args) -> tuple[Any, CheckResult | None]:
    """Call the learner's ``fn(*args)``; return (result, None), or (None, a ✗ explaining what went wrong)."""
    if _unanswered(fn):
        return None, _no_answer(what, hint, "with your function")
    if not callable(fn):
        return None, _wrong(what, f"expected a function, got {type(fn).__name__}", hint)
    try:
        result = fn(*args)
    except Exception as error:  # learner code may fail in any way; report it as a ✗, never crash
        return None, _wrong(what, f"your function raised {type(error).__name__}: {error}", hint)
    if result is Ellipsis:
        return None, _no_answer(what, hint, "in your function")
    return result, None


def check_accuracy_function(fn: Any) -> CheckResult:
    """Is ``fn(logits, y)`` the fraction of rows whose largest logit sits at the label (a number in [0, 1])?"""
    what, hint = "accuracy from logits", "the prediction is logits.argmax(dim=1); compare it with y and average."
    generator = torch.Generator().manual_seed(5)
    for n, c in ((8, 3), (50, 10), (1, 10)):
        logits = torch.randn(n, c, generator=generator) * 3
        y = torch.randint(0, c, (n,), generator=generator)
        y[: n // 2] = logits[: n // 2].argmax(dim=1)  # make about half of them right
        want = (logits.argmax(dim=1) == y).double().mean().item()
        got, failure = _call_learner(fn, what, hint, logits.clone(), y.clone())
        if failure is not None:
            return failure
        if not check_answer(got, want, what=what, hint=hint):
            return _wrong(what, f"for {n} examples of {c} classes the accuracy is {want:.4g}, you gave {got!r}", hint)
    return _right(what, "correct on every test case")


def check_train_step(fn: Any) -> CheckResult:
    """Does ``fn(model, X, y, loss_fn, optimizer)`` make exactly one correct SGD update, call after call?"""
    what = "one training step"
    hint = "three calls in order: optimizer.zero_grad(), loss.backward(), optimizer.step()."
    generator = torch.Generator().manual_seed(7)
    X, y = torch.randn(16, 4, generator=generator), torch.randint(0, 3, (16,), generator=generator)
    weights = [torch.randn(3, 4, generator=generator), torch.randn(3, generator=generator)]

    def fresh():
        model = torch.nn.Linear(4, 3)
        with torch.no_grad():
            model.weight.copy_(weights[0])
            model.bias.copy_(weights[1])
        return model, torch.optim.SGD(model.parameters(), lr=0.1)

    reference, reference_opt = fresh()
    learner, learner_opt = fresh()
    loss_fn = torch.nn.CrossEntropyLoss()
    for step in (1, 2, 3):
        loss = loss_fn(reference(X), y)
        reference_opt.zero_grad()
        loss.backward()
        reference_opt.step()
        _, failure = _call_learner(fn, what, hint, learner, X, y, loss_fn, learner_opt)
        if failure is not None:
            return failure
        if not torch.allclose(learner.weight, reference.weight, atol=1e-6):
            changed = not torch.allclose(learner.weight, weights[0])
            detail = ("the weights did not move" if not changed else
                      f"the weights after step {step} differ from a correct step's")
            return _wrong(what, detail, hint)
    return _right(what, "three calls give exactly three correct SGD steps")


def check_steps_per_epoch(answer: Any) -> CheckResult:
    """How many optimizer steps does one epoch over 60 000 images make at batch_size 128?"""
    return check_answer(answer, 469, what="steps per epoch at batch_size 128",
                        hint="one step per batch; 60 000 / 128 is not whole, and the last, smaller batch counts too.")


# --- lesson 04: mini-batches ------------------------------------------------------------------------
def check_iterations_keep_last(answer: Any) -> CheckResult:
    """Optimizer steps in 3 epochs over m = 1 000 samples with batch_size 64, keeping the last small batch."""
    return check_answer(answer, 3 * 16, what="steps in 3 epochs, drop_last=False",
                        hint="one step per batch: ⌈1000 / 64⌉ batches per epoch, the last one smaller; times 3.")


def check_iterations_drop_last(answer: Any) -> CheckResult:
    """Optimizer steps in 3 epochs over m = 1 000 samples with batch_size 64 and drop_last=True."""
    return check_answer(answer, 3 * 15, what="steps in 3 epochs, drop_last=True",
                        hint="drop_last throws the incomplete batch away: ⌊1000 / 64⌋ batches per epoch; times 3.")


def check_batch_size_for_quarter_std(answer: Any) -> CheckResult:
    """The batch size whose gradient noise has a 4× smaller standard deviation than batch size 16's."""
    return check_answer(answer, 256, what="batch size for a 4× smaller standard deviation",
                        hint="the variance falls like 1/B, so the standard deviation falls like 1/√B "
                             "(ignore the factor (m − B)/(m − 1), as for a very large data set).")


def check_loader_from_frame(fn: Any) -> CheckResult:
    """Does ``fn(frame, batch_size)`` serve a DataFrame's rows as float32 (features, target) batches?

    The features are every column except ``"target"``; the labels are the ``"target"`` column.
    """
    what = "DataLoader from a DataFrame"
    hint = ("X = torch.tensor(frame.drop(columns='target').to_numpy(), dtype=torch.float32), y likewise "
            "from frame['target']; then DataLoader(TensorDataset(X, y), batch_size=batch_size).")
    generator = torch.Generator().manual_seed(4)
    values = torch.randn(23, 3, generator=generator, dtype=torch.float64).numpy()
    frame = pd.DataFrame(values, columns=["a", "b", "c"]).assign(target=np.arange(23) % 2)
    loader, failure = _call_learner(fn, what, hint, frame.copy(), 5)
    if failure is not None:
        return failure
    if loader is None:
        return _wrong(what, "your function returned None; it should return the DataLoader", hint)
    try:
        batches = list(loader)
    except TypeError:
        return _wrong(what, f"got {type(loader).__name__}, which cannot be iterated", hint)
    if len(batches) != 5:
        return _wrong(what, f"23 rows in batches of 5 make 5 batches, got {len(batches)}", hint)
    for batch in batches:
        if not (isinstance(batch, (list, tuple)) and len(batch) == 2
                and all(isinstance(t, torch.Tensor) for t in batch)):
            return _wrong(what, "each batch should be a pair of tensors (X, y)", hint)
        if batch[0].dtype != torch.float32 or batch[1].dtype != torch.float32:
            return _wrong(what, f"got dtypes {batch[0].dtype} and {batch[1].dtype}, expected torch.float32 "
                                "for both", hint)
    X = torch.cat([b[0] for b in batches]).double()
    y = torch.cat([b[1] for b in batches]).double()
    if X.shape != (23, 3) or y.shape != (23,):
        return _wrong(what, f"expected features (23, 3) and labels (23,) over all batches, got {tuple(X.shape)} "
                            f"and {tuple(y.shape)}", hint)
    rows = torch.cat([X, y[:, None]], dim=1).numpy()
    expected = np.column_stack([values, frame["target"].to_numpy()])
    order_got, order_want = np.lexsort(rows.T[::-1]), np.lexsort(expected.T[::-1])
    if not np.allclose(rows[order_got], expected[order_want], atol=1e-6):
        return _wrong(what, "the rows served are not the frame's rows (features first, then 'target')", hint)
    return _right(what, "5 batches of float32 (X, y) holding every row once")


# --- lesson 06: classic mistakes ----------------------------------------------------------------
def check_buggy_line(snippet: str, answer: Any) -> CheckResult:
    """Which line (counted from 1) of ``pitfalls.BUGGY_SNIPPETS[snippet]`` holds the bug?"""
    if snippet not in BUGGY_SNIPPETS:
        raise ValueError(f"snippet must be one of {tuple(BUGGY_SNIPPETS)}, got {snippet!r}")
    bug = BUGGY_SNIPPETS[snippet]
    what = f"the buggy line of {snippet!r}"
    hint = "print the snippet with line numbers; the lesson's section on the same mistake shows the fix."
    if _unanswered(answer):
        return _no_answer(what, hint, "with a line number")
    if isinstance(answer, bool) or not isinstance(answer, int | np.integer):
        return _wrong(what, f"expected a line number (an int), got {answer!r}", hint)
    if answer == bug.line:
        return _right(what, f"line {bug.line}: {bug.why}")
    num_lines = len(bug.code.splitlines())
    if not 1 <= answer <= num_lines:
        return _wrong(what, f"the snippet has lines 1 to {num_lines}, got {answer}", hint)
    return _wrong(what, f"line {answer} is fine", hint)


def check_fixed_labels(fn: Any) -> CheckResult:
    """Does ``fn(y)`` turn the source tutorials' float labels (N, 1) into what CrossEntropyLoss wants: int64 (N,)?"""
    what = "labels for CrossEntropyLoss"
    hint = "class indices must be one integer per example: drop the extra dimension and convert to int64."
    generator = torch.Generator().manual_seed(6)
    for n in (500, 7, 1):
        labels = torch.randint(0, 3, (n, 1), generator=generator).float()
        got, failure = _call_learner(fn, what, hint, labels.clone())
        if failure is not None:
            return failure
        if not isinstance(got, torch.Tensor):
            return _wrong(what, f"expected a tensor, got {type(got).__name__}", hint)
        if got.dtype != torch.int64 or tuple(got.shape) != (n,):
            return _wrong(what, f"for labels of shape ({n}, 1) you returned {got.dtype} of shape "
                                f"{tuple(got.shape)}; expected torch.int64 of shape ({n},)", hint)
        if not torch.equal(got, labels.flatten().long()):
            return _wrong(what, "the values changed; each label must stay the same class", hint)
    return _right(what, "int64 of shape (N,), the same classes")


def check_fixed_evaluate(fn: Any) -> CheckResult:
    """Is ``fn(model, loader, loss_fn)`` a correct (mean test loss, accuracy): eval mode, no gradients, per batch?"""
    what = "a fixed evaluate"
    hint = ("model.eval(), then torch.no_grad(); add up the batch losses and divide by the number of batches; "
            "the prediction is output.argmax(dim=1).")
    generator = torch.Generator().manual_seed(8)
    X, y = torch.randn(50, 1, 28, 28, generator=generator), torch.randint(0, 10, (50,), generator=generator)
    loader = [(X[i:i + 16], y[i:i + 16]) for i in range(0, 50, 16)]  # 4 batches, the last one of 2
    with torch.random.fork_rng():
        torch.manual_seed(8)
        model = DropoutBatchNormMLP()
    model.train()
    model(X)  # give BatchNorm running statistics that differ from a batch's own
    want_loss, want_accuracy = evaluate(model, loader, torch.nn.functional.cross_entropy)
    grad_was_on = []

    def loss_fn(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        grad_was_on.append(torch.is_grad_enabled())
        return torch.nn.functional.cross_entropy(output, target)

    model.train()
    got, failure = _call_learner(fn, what, hint, model, loader, loss_fn)
    if failure is not None:
        return failure
    if not (isinstance(got, tuple | list) and len(got) == 2):
        return _wrong(what, f"expected a pair (loss, accuracy), got {got!r}", hint)
    if any(grad_was_on):
        return _wrong(what, "the loss was computed with gradients on, which builds a graph nobody uses", hint)
    if model.training:
        return _wrong(what, "the model is still in training mode, so Dropout and BatchNorm act as in training", hint)
    loss, accuracy = (float(v) for v in got)
    if math.isclose(loss, want_loss * len(loader) / len(y), rel_tol=1e-4):
        return _wrong(what, "the loss is divided by the number of examples; each batch loss is already a mean", hint)
    if not math.isclose(loss, want_loss, rel_tol=1e-4):
        return _wrong(what, f"mean loss {want_loss:.4f} expected, got {loss:.4f}", hint)
    if not math.isclose(accuracy, want_accuracy, abs_tol=1e-6):
        return _wrong(what, f"accuracy {want_accuracy:.4f} expected, got {accuracy:.4f}", hint)
    return _right(what, "eval mode, no gradients, loss per batch, argmax over the classes")
