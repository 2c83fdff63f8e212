"""Self-checks for exercises: ``check_xxx(answer)`` returns a friendly ✓ or ✗ with a hint.

Every check returns a :class:`CheckResult`; it is truthy when the answer is right and shows its
message when it is the last value in a notebook cell. Checks never raise on a wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lessons_src.data import CLASS_NAMES
from lessons_src.descent import critical_momentum, momentum_rate, seed_momentum_step
from lessons_src.surfaces import get_surface


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one self-check."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message


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
    if answer is None or answer is Ellipsis:
        return CheckResult(False, f"✗ {what}: no answer yet. Replace `...` with your answer. Hint: {hint}")
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
        return CheckResult(True, f"✓ {what}: correct.")
    return CheckResult(False, f"✗ {what}: not yet (you gave {answer!r}). Hint: {hint}")


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
    if fn is None or fn is Ellipsis:
        return CheckResult(False, f"✗ {what}: no answer yet. Replace `...` with your function. Hint: {hint}")
    if not callable(fn):
        return CheckResult(False, f"✗ {what}: expected a function, got {type(fn).__name__}. Hint: {hint}")
    for case in _gradient_cases():
        args = args_of(*case)
        want = reference(*args)
        try:
            got = fn(*(arg.clone() for arg in args))
        except Exception as error:  # learner code may fail in any way; report it as a ✗, never crash
            return CheckResult(False, f"✗ {what}: your function raised {type(error).__name__}: {error}. "
                                      f"Hint: {hint}")
        if got is Ellipsis:
            return CheckResult(False, f"✗ {what}: no answer yet. Replace `...` in your function's "
                                      f"return line. Hint: {hint}")
        if got is None:
            return CheckResult(False, f"✗ {what}: your function returned None; it should return a "
                                      f"tensor of shape {tuple(want.shape)}. Hint: {hint}")
        got_array = _as_array(got)
        if got_array is None or got_array.shape != tuple(want.shape):
            shape = None if got_array is None else got_array.shape
            return CheckResult(False, f"✗ {what}: expected shape {tuple(want.shape)}, got {shape}. "
                                      f"Hint: {hint}")
        if not check_answer(got, want, what=what, hint=hint):
            largest = float(np.nanmax(np.abs(got_array - want.numpy())))
            return CheckResult(False, f"✗ {what}: shape is right but values differ from autograd "
                                      f"(largest difference {largest:.3g}). Hint: {hint}")
    return CheckResult(True, f"✓ {what}: matches autograd on every test case.")


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


# --- lesson 01: gradient descent on the seeds' quadratic ----------------------------------------
def check_gradient_at_2_minus_1(answer: Any) -> CheckResult:
    """∇L at w = (2, −1) on the seeds' quadratic L = (2 − w1 − w2)² + (4 − 3·w1 − w2)²."""
    return check_answer(answer, get_surface("seed_quadratic").grad((2.0, -1.0)), what="∇L(2, −1)",
                        hint="∂L/∂w1 = −2(2 − w1 − w2) − 6(4 − 3w1 − w2); ∂L/∂w2 has −2 instead of −6.")


def check_first_step(answer: Any) -> CheckResult:
    """The point after one gradient step from (0, 0) with lr = 0.01 on the seeds' quadratic."""
    expected = -0.01 * get_surface("seed_quadratic").grad((0.0, 0.0))
    return check_answer(answer, expected, what="first step from (0, 0)",
                        hint="compute ∇L(0, 0) first, then w − lr·∇L.")


def check_max_stable_lr_ravine(answer: Any) -> CheckResult:
    """The largest learning rate for which gradient descent converges on the ravine."""
    return check_answer(answer, get_surface("ravine").max_stable_lr(), what="largest stable lr",
                        rtol=1e-2, hint="take the eigenvalues of the ravine's Hessian; the answer is 2/λmax.")


# --- lesson 03: momentum ----------------------------------------------------------------------------
def check_velocity_after_two_steps(answer: Any) -> CheckResult:
    """The seeds' velocity v after two momentum steps from (0, 0), lr = 0.01, γ = 0.9, seeds' quadratic."""

    surface, w, v = get_surface("seed_quadratic"), np.zeros(2), np.zeros(2)
    for _ in range(2):
        w, v = seed_momentum_step(w, v, surface.grad(w), 0.01, 0.9)
    return check_answer(answer, v, what="velocity after two steps",
                        hint="v₁ = −η∇L(0, 0) and w₁ = v₁; then v₂ = γ·v₁ − η∇L(w₁), with ∇L taken at w₁.")


FASTEST_MOMENTUM_LR = 0.05  # the lr of the exercise "which γ converges fastest on the ravine?"


def check_fastest_momentum(answer: Any) -> CheckResult:
    """A γ whose heavy-ball rate on the ravine at lr = 0.05 is within 0.5 % of the best possible."""

    lams = get_surface("ravine").curvatures()
    hint = ("scan γ with momentum_rate, or find where the flattest direction is critically damped "
            "(the discriminant of z² − (1 + γ − ηλmin)·z + γ is zero).")
    what = f"fastest momentum for lr = {FASTEST_MOMENTUM_LR}"
    if answer is None or answer is Ellipsis:
        return CheckResult(False, f"✗ {what}: no answer yet. Replace `...` with your answer. Hint: {hint}")
    value = _as_array(answer)
    if value is None or value.shape != () or not (0 <= float(value) < 1):
        return CheckResult(False, f"✗ {what}: expected one number in [0, 1), got {answer!r}. Hint: {hint}")
    best = momentum_rate(FASTEST_MOMENTUM_LR, critical_momentum(FASTEST_MOMENTUM_LR, float(lams[0])), lams)
    rate = momentum_rate(FASTEST_MOMENTUM_LR, float(value), lams)
    if rate <= 1.005 * best:
        return CheckResult(True, f"✓ {what}: correct (rate {rate:.4f} per step; the best is {best:.4f}).")
    return CheckResult(False, f"✗ {what}: γ = {float(value):.4g} gives rate {rate:.4f} per step, "
                              f"but {best:.4f} is possible. Hint: {hint}")


def check_equivalent_lr(answer: Any) -> CheckResult:
    """The torch.optim.SGD lr (momentum 0.9) that follows m ← 0.9·m + 0.1·g, w ← w − 0.5·m."""
    return check_answer(answer, 0.5 * (1 - 0.9), what="lr for torch.optim.SGD",
                        hint="PyTorch's buffer b is m / (1 − β), so lr·b = η·m needs lr = η·(1 − β).")


# --- lesson 05: the training loop ---------------------------------------------------------------
def _call_learner(fn: Any, what: str, hint: str, *args) -> tuple[Any, CheckResult | None]:
    """Call the learner's ``fn(*args)``; return (result, None), or (None, a ✗ explaining what went wrong)."""
    if fn is None or fn is Ellipsis:
        return None, CheckResult(False, f"✗ {what}: no answer yet. Replace `...` with your function. Hint: {hint}")
    if not callable(fn):
        return None, CheckResult(False, f"✗ {what}: expected a function, got {type(fn).__name__}. Hint: {hint}")
    try:
        result = fn(*args)
    except Exception as error:  # learner code may fail in any way; report it as a ✗, never crash
        return None, CheckResult(False, f"✗ {what}: your function raised {type(error).__name__}: {error}. "
                                        f"Hint: {hint}")
    if result is Ellipsis:
        return None, CheckResult(False, f"✗ {what}: no answer yet. Replace `...` in your function. Hint: {hint}")
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
            return CheckResult(False, f"✗ {what}: for {n} examples of {c} classes the accuracy is {want:.4g}, "
                                      f"you gave {got!r}. Hint: {hint}")
    return CheckResult(True, f"✓ {what}: correct on every test case.")


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
            return CheckResult(False, f"✗ {what}: {detail}. Hint: {hint}")
    return CheckResult(True, f"✓ {what}: three calls give exactly three correct SGD steps.")


def check_steps_per_epoch(answer: Any) -> CheckResult:
    """How many optimizer steps does one epoch over 60 000 images make at batch_size 128?"""
    return check_answer(answer, 469, what="steps per epoch at batch_size 128",
                        hint="one step per batch; 60 000 / 128 is not whole, and the last, smaller batch counts too.")
