"""Self-checks for the exercises of lessons 01-04 in which the learner writes a function: each runs it on
seeded cases, compares it with a reference (autograd, ``run_descent``, ``torch.optim``) and, when
it differs, says how (a factor, a sign, a step, a mode) before giving a hint that does not give the
answer away.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lessons_src.descent import momentum_step, nesterov_step, run_descent, run_torch_optimizer
from lessons_src.feedback import (
    CheckResult,
    as_array,
    call_learner,
    describe_factor,
    ratio_to,
    right,
    same_numbers,
    wrong,
)
from lessons_src.language import tr
from lessons_src.surfaces import get_surface


# --- lesson 02: gradients by hand -------------------------------------------------------------
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


def _autograd(loss_of_w: Callable, w: torch.Tensor) -> torch.Tensor:
    """∂loss/∂w by autograd, for a function ``loss_of_w`` of one weight tensor."""
    w = w.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_of_w(w), w)
    return grad


def _factor_diagnosis(m: int) -> dict[float, str]:
    """What a gradient off by a constant factor usually means, for m samples."""
    return {-1.0: tr("it has the opposite sign of autograd's: check the sign of each factor of the chain"),
            0.5: tr("it is half of autograd's: a factor 2 is missing (the derivative of u² is 2u)"),
            2.0: tr("it is twice autograd's: a factor 2 too many"),
            float(m): tr("it is m = {m} times autograd's: the loss is a mean over the m samples, so its gradient "
                         "is one too", m=m),
            1.0 / m: tr("it is 1/m = 1/{m} of autograd's: this loss is a sum over the samples, not a mean", m=m)}


def _check_gradient_function(fn: Any, *, what: str, hint: str, args_of: Callable, reference: Callable) -> CheckResult:
    """Call the learner's ``fn(*args_of(case))`` on every seeded case and compare with ``reference``."""
    for case in _gradient_cases():
        args = args_of(*case)
        want = reference(*args)
        got, failure = call_learner(fn, what, hint, *(arg.clone() for arg in args))
        if failure is not None:
            return failure
        if got is None:
            return wrong(what, tr("your function returned None; it should return a tensor of shape {shape}",
                                  shape=tuple(want.shape)), hint)
        got_array = as_array(got)
        if got_array is None or got_array.shape != tuple(want.shape):
            shape = None if got_array is None else got_array.shape
            return wrong(what, tr("expected shape {want}, got {shape}", want=tuple(want.shape), shape=shape), hint)
        if not same_numbers(got, want):
            known = describe_factor(ratio_to(got, want), _factor_diagnosis(len(case[0])))
            largest = float(np.nanmax(np.abs(got_array - want.numpy())))
            return wrong(what, known or tr("the shape is right but the values differ from autograd's (largest "
                                           "difference {largest:.3g})", largest=largest), hint)
    return right(what, tr("matches autograd on every test case"))


def check_mse_gradient(fn: Any) -> CheckResult:
    """Is ``fn(X, y, w)`` the gradient ∂L/∂w of L = mean((Xw − y)²) for X (m, n), y (m, 1), w (n, 1)?"""
    def reference(X, y, w):
        return _autograd(lambda v: ((X @ v - y) ** 2).mean(), w)
    return _check_gradient_function(
        fn, what=tr("gradient of the MSE"), args_of=lambda X, y, w01, w12: (X, y, w01[:, :1]), reference=reference,
        hint=tr("two layers, as in section 2: the outer square of the error, the inner Xw − y. Multiply their "
                "derivatives, and check the shapes: the result has one entry per weight."))


def check_mean_bce_gradient(fn: Any) -> CheckResult:
    """Is ``fn(X, y, w)`` ∂L/∂w of logistic regression with BCE AVERAGED over the m samples?"""
    def reference(X, y, w):
        return _autograd(lambda v: torch.nn.functional.binary_cross_entropy(torch.sigmoid(X @ v), y), w)
    return _check_gradient_function(
        fn, what=tr("gradient of the mean BCE"), args_of=lambda X, y, w01, w12: (X, y, w01[:, :1]),
        reference=reference,
        hint=tr("start from section 3's gradient of the summed loss; what does dividing a loss by a constant do "
                "to its gradient?"))


def check_tanh_hidden_gradient(fn: Any) -> CheckResult:
    """Is ``fn(X, y, w01, w12)`` ∂L/∂w01 for a tanh hidden layer, a sigmoid output and the BCE sum?"""
    def reference(X, y, w01, w12):
        def loss(v):
            sigma2 = torch.sigmoid(torch.tanh(X @ v) @ w12)
            return torch.nn.functional.binary_cross_entropy(sigma2, y, reduction="sum")
        return _autograd(loss, w01)
    return _check_gradient_function(
        fn, what=tr("gradient of w01 with a tanh hidden layer"), args_of=lambda *case: case, reference=reference,
        hint=tr("section 4's δ⁽¹⁾ is a product of three factors; only one belongs to the hidden activation. "
                "Differentiate tanh and write the result with tanh itself, as σ(1 − σ) is written with σ."))


# --- lesson 01: a gradient-descent loop ---------------------------------------------------------
DESCENT_CASES = (("source_quadratic", (-8.0, 9.0), 0.05, 30), ("ravine", None, 0.05, 20))


def _descent_diagnosis(points: np.ndarray, want: np.ndarray, grad: Callable, lr: float) -> str:
    """Why the learner's descent ``points`` differ from ``want`` (both (k+1, 2)), in one sentence."""
    if np.allclose(points, points[-1]) and not np.allclose(want, want[-1]):
        return tr("every row is the same point: the list holds one array that was changed in place (w -= ...); "
                  "store a new array each step")
    if not np.allclose(points[0], want[0]):
        return tr("the first row is {first}, but it should be the start {start}", first=points[0], start=want[0])
    start, g = want[0], grad(want[0])
    first = points[1]
    if np.allclose(first, start + lr * g):
        return tr("the first step went uphill: it added the gradient instead of subtracting it")
    if np.allclose(first, start - g):
        return tr("the first step moved by the whole gradient: the learning rate is missing")
    if not np.allclose(first, want[1]):
        return tr("the first step lands at {first}, a correct one at {correct}", first=first, correct=want[1])
    bad = int(np.argmax(~np.all(np.isclose(points, want), axis=1)))
    return tr("steps 1 to {last_right} are right, step {bad} is not: is the gradient taken at the current point?",
              last_right=bad - 1, bad=bad)


def check_gradient_descent(fn: Any) -> CheckResult:
    """Does ``fn(grad, start, lr, num_steps)`` return the (num_steps + 1, 2) points of gradient descent?"""
    what = tr("gradient descent")
    hint = tr("start the list with the start point; then, num_steps times, compute the next point from the "
              "current one with section 3's update rule and append it.")
    for name, start, lr, num_steps in DESCENT_CASES:
        surface = get_surface(name)
        start = surface.start if start is None else start
        want = run_descent(surface, start, lr, num_steps).points
        got, failure = call_learner(fn, what, hint, surface.grad, np.array(start, dtype=float), lr, num_steps)
        if failure is not None:
            return failure
        points = as_array(got)
        if points is None or points.ndim != 2 or points.shape[1] != 2:
            shape = None if points is None else points.shape
            return wrong(what, tr("expected an array of points, shape ({num_points}, 2), got shape {shape}",
                                  num_points=num_steps + 1, shape=shape), hint)
        if len(points) != num_steps + 1:
            detail = {num_steps: tr("the start point w₀ is missing: row 0 is the start, row k the point after k "
                                    "steps"),
                      num_steps + 2: tr("one point too many: num_steps steps give num_steps + 1 points")}
            return wrong(what, detail.get(len(points), tr("{got} points for {num_steps} steps; expected {expected}",
                                                          got=len(points), num_steps=num_steps,
                                                          expected=num_steps + 1)), hint)
        if not np.allclose(points, want, rtol=1e-9, atol=1e-9):
            return wrong(what, tr("on the {surface} surface, {diagnosis}", surface=name,
                                  diagnosis=_descent_diagnosis(points, want, surface.grad, lr)), hint)
    return right(what, tr("the same points as run_descent on the quadratic and the ravine"))


# --- lesson 03: torch.optim.SGD's momentum step --------------------------------------------------
def check_sgd_momentum_step(fn: Any) -> CheckResult:
    """Does ``fn(w, buffer, grad, lr, momentum, nesterov)`` make torch.optim.SGD's step, plain and Nesterov?

    Every step is compared with the correct step from the learner's own previous point (``momentum_step`` and
    ``nesterov_step``, which tests/test_momentum.py holds equal to torch.optim.SGD), so float32 arithmetic passes."""
    what = tr("torch.optim.SGD's momentum step")
    hint = tr("what does PyTorch keep between steps (section 3), how is it updated, and how does it move w? With "
              "Nesterov (section 5), write the look-ahead point u = w + γ·v in PyTorch's terms.")
    surface, lr, momentum, num_steps = get_surface("ravine"), 0.02, 0.9, 30
    for nesterov in (False, True):
        flavour = tr("with nesterov=True") if nesterov else tr("without Nesterov")
        w, buffer = np.array(surface.start, dtype=float), np.zeros(2)
        for t in range(1, num_steps + 1):
            grad = surface.grad(w)
            want_w, want_buffer = (nesterov_step if nesterov else momentum_step)(w, buffer, grad, lr, momentum)
            heavy_w, _ = momentum_step(w, buffer, grad, lr, momentum)
            result, failure = call_learner(fn, what, hint, w.copy(), buffer.copy(), grad.copy(), lr, momentum,
                                           nesterov)
            if failure is not None:
                return failure
            arrays = [as_array(v) for v in result] if isinstance(result, tuple | list) and len(result) == 2 else None
            if arrays is None or any(a is None or a.shape != (2,) for a in arrays):
                return wrong(what, tr("expected a pair (w, buffer) of arrays of 2 numbers, got {result}",
                                      result=repr(result)), hint)
            new_w, new_buffer = (a.astype(float) for a in arrays)
            if not np.allclose(new_w, want_w, rtol=1e-5, atol=1e-7):  # float32 arithmetic is close enough
                if nesterov and np.allclose(new_w, heavy_w, rtol=1e-5, atol=1e-7):
                    return wrong(what, _nesterov_diagnosis(fn, surface, new_w, new_buffer, lr, momentum, t), hint)
                if t == 1 and np.allclose(new_w - w, lr * grad * (1 + momentum * nesterov), rtol=1e-5):
                    return wrong(what, tr("{flavour}, the first step went uphill: w moved along the gradient",
                                          flavour=flavour), hint)
                if t == 1:
                    return wrong(what, tr("{flavour}, the very first step differs from torch.optim.SGD's (which "
                                          "starts from a buffer of zeros)", flavour=flavour), hint)
                return wrong(what, tr("{flavour}, steps 1 to {last_right} agree with torch.optim.SGD and step {step} "
                                      "does not", flavour=flavour, last_right=t - 1, step=t), hint)
            if np.allclose(new_buffer, -lr * want_buffer, rtol=1e-5) and not np.allclose(want_buffer, 0):
                return wrong(what, tr("w is right, but you returned the velocity −lr·b: PyTorch's buffer b holds "
                                      "gradients, without the lr"), hint)
            if not np.allclose(new_buffer, want_buffer, rtol=1e-5, atol=1e-7):
                return wrong(what, tr("{flavour}, w is right after step {step} but the buffer is not μ·b + g",
                                      flavour=flavour, step=t), hint)
            w, buffer = new_w, new_buffer
    return right(what, tr("{num_steps} steps on the ravine equal torch.optim.SGD(momentum={momentum}), plain and "
                          "Nesterov", num_steps=num_steps, momentum=momentum))


def _nesterov_diagnosis(fn: Any, surface, w: np.ndarray, buffer: np.ndarray, lr: float, momentum: float,
                        t: int) -> str:
    """Why a Nesterov step came out as the plain momentum step: the flag ignored, or the look-ahead on the old buffer
    (the two agree at the first step; the learner's next step tells them apart)."""
    grad = surface.grad(w)
    try:
        result = fn(w.copy(), buffer.copy(), grad.copy(), lr, momentum, True)
        plain_again = np.allclose(as_array(result[0]), momentum_step(w, buffer, grad, lr, momentum)[0], rtol=1e-5)
    except Exception:  # noqa: BLE001  (the learner's code: only a diagnosis depends on it)
        plain_again = False
    if t > 1 or plain_again:
        return tr("with nesterov=True your steps are the plain momentum steps: the flag changes nothing")
    return tr("with nesterov=True your first step is the plain momentum step: the look-ahead should use the buffer "
              "after this step's gradient went into it")


# --- lesson 04: Adam ----------------------------------------------------------------------------
ADAM_CASES = (("ravine", 0.1, 40), ("rosenbrock", 0.05, 40))


def _adam_first_step_diagnosis(moved: np.ndarray, lr: float, betas: tuple[float, float]) -> str:
    """Why the first Adam step moved each coordinate by ``moved`` (signed, in units of lr, against the gradient)."""
    uncorrected = (1 - betas[0]) / math.sqrt(1 - betas[1])
    if np.allclose(moved, 0):
        return tr("the first step did not move w")
    if np.allclose(moved, -1):
        return tr("the first step went uphill, by lr per coordinate: subtract the step instead of adding it")
    if np.allclose(np.abs(moved), uncorrected, rtol=1e-3):
        return tr("the first step moves each coordinate by {factor:.3f}·lr instead of lr: m and s start at 0, "
                  "so without the bias correction they are far too small (and not in the same proportion)",
                  factor=uncorrected)
    return tr("the first step moves the coordinates by {moved}; Adam's first step moves each by lr",
              moved=np.round(moved * lr, 6))


def check_adam_step(fn: Any) -> CheckResult:
    """Does ``fn(w, grad, m, s, t, lr)`` make torch.optim.Adam's step (default betas and eps), step after step?"""
    what = tr("Adam by hand")
    hint = tr("follow section 3 line by line: update m and s from their previous values, correct both with this "
              "step's t, then move w. Return the new w, m and s (not the corrected ones).")
    betas = (0.9, 0.999)
    for name, lr, num_steps in ADAM_CASES:
        surface = get_surface(name)
        want = run_torch_optimizer(surface, surface.start, "adam", lr, num_steps).points
        w, m, s = np.array(surface.start, dtype=float), np.zeros(2), np.zeros(2)
        for t in range(1, num_steps + 1):
            grad = surface.grad(w)
            result, failure = call_learner(fn, what, hint, w.copy(), grad, m.copy(), s.copy(), t, lr)
            if failure is not None:
                return failure
            if not (isinstance(result, tuple | list) and len(result) == 3):
                return wrong(what, tr("expected a tuple (w, m, s), got {kind}", kind=type(result).__name__), hint)
            arrays = [as_array(value) for value in result]
            if any(a is None or a.shape != (2,) for a in arrays):
                return wrong(what, tr("w, m and s should each be an array of 2 numbers, like the w you were given"),
                             hint)
            w_before, (w, m, s) = w, arrays
            if not np.allclose(w, want[t], rtol=0, atol=1e-7):
                if t == 1:
                    moved = -(w - w_before) / lr * np.sign(grad)
                    return wrong(what, tr("on the {surface} surface, {diagnosis}", surface=name,
                                          diagnosis=_adam_first_step_diagnosis(moved, lr, betas)), hint)
                return wrong(what, tr("on the {surface} surface, steps 1 to {last_right} agree with torch.optim.Adam "
                                      "and step {step} does not: is the bias correction computed with this step's t, "
                                      "and are m and s the uncorrected averages?", surface=name, last_right=t - 1,
                                      step=t), hint)
    return right(what, tr("the same path as torch.optim.Adam on the ravine and on Rosenbrock"))
