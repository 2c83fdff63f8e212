"""The verdicts that exercises and predictions print: a ✓, a ✗ with a diagnosis and a hint, or a comparison.

Every exercise check returns a :class:`CheckResult`: truthy when the answer is right, and shown as its
message when it is the last value of a notebook cell. An untouched ``...`` gets "no answer yet" and
*no* hint: a hint is for someone who has tried. A prediction (``my_prediction = ...``) is compared
with what the next cell measured by :func:`compare_prediction`, which comments but never fails a cell.
"""

from __future__ import annotations

import ast
import inspect
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lessons_src.language import tr


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one self-check."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message


def right(what: str, detail: str) -> CheckResult:
    """A ✓ for ``what``, saying what was right."""
    return CheckResult(True, tr("✓ {what}: {detail}.", what=what, detail=detail))


def wrong(what: str, problem: str, hint: str) -> CheckResult:
    """A ✗ for ``what``: what is wrong with the answer, then the hint."""
    return CheckResult(False, tr("✗ {what}: {problem}. Hint: {hint}", what=what, problem=problem, hint=hint))


def no_answer(what: str, instead: str | None = None) -> CheckResult:
    """The verdict for an exercise whose ``...`` is still there: what to do, and no hint yet."""
    instead = tr("with your answer") if instead is None else instead
    return CheckResult(False, tr("… {what}: no answer yet. Replace `...` {instead} and run the cell again.",
                                 what=what, instead=instead))


def unanswered(value: Any) -> bool:
    """Whether ``value`` is still the exercise's placeholder (``...``) or nothing at all."""
    return value is None or value is Ellipsis


def as_array(value: Any) -> np.ndarray | None:
    """``value`` as a float array, or None if it is not numeric."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None


def same_numbers(got: Any, want: Any, *, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """Whether ``got`` is numeric, finite and equal to ``want`` within the tolerances, shape included."""
    got, want = as_array(got), as_array(want)
    return (got is not None and want is not None and got.shape == want.shape
            and bool(np.all(np.isfinite(got))) and bool(np.allclose(got, want, rtol=rtol, atol=atol)))


def check_answer(answer: Any, expected: Any, *, what: str, hint: str, rtol: float = 1e-4,
                 atol: float = 1e-6) -> CheckResult:
    """Compare ``answer`` with ``expected`` (numbers, sequences, tensors or strings)."""
    if unanswered(answer):
        return no_answer(what)
    if isinstance(expected, str):
        passed = isinstance(answer, str) and answer.strip().lower() == expected.lower()
    else:
        passed = same_numbers(answer, expected, rtol=rtol, atol=atol)
    if passed:
        return right(what, tr("correct"))
    return wrong(what, tr("not yet (you gave {answer})", answer=repr(answer)), hint)


def call_learner(fn: Any, what: str, hint: str, *args) -> tuple[Any, CheckResult | None]:
    """Call the learner's ``fn(*args)``; return (result, None), or (None, a verdict saying what went wrong)."""
    if unanswered(fn):
        return None, no_answer(what, tr("with your function"))
    if not callable(fn):
        return None, wrong(what, tr("expected a function, got {kind}", kind=type(fn).__name__), hint)
    if is_placeholder(fn):
        return None, no_answer(what, tr("in your function"))
    try:
        result = fn(*args)
    except Exception as error:  # learner code may fail in any way; report it as a ✗, never crash
        return None, wrong(what, tr("your function raised {error}", error=f"{type(error).__name__}: {error}"), hint)
    if result is Ellipsis:
        return None, no_answer(what, tr("in your function"))
    return result, None


def is_placeholder(fn: Callable) -> bool:
    """Whether ``fn``'s body is still the exercise's ``...`` (after an optional docstring)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):  # no source (a builtin, a lambda in a string): not a placeholder
        return False
    function = next((node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.Lambda)), None)
    if not isinstance(function, ast.FunctionDef):
        return False
    constants = [s.value.value for s in function.body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)]
    return len(constants) == len(function.body) and Ellipsis in constants


def _shown(value: Any) -> str:
    """A value as a prediction message shows it: floats to 4 significant digits, the rest as repr."""
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return _shown(value.item())
    return repr(value)


def _matches(prediction: Any, truth: Any, rtol: float) -> bool:
    """Whether a prediction agrees with the truth: words case-insensitively, numbers within ``rtol``."""
    if isinstance(truth, str):
        return isinstance(prediction, str) and prediction.strip().lower() == truth.strip().lower()
    if isinstance(truth, set | frozenset):
        try:
            return set(prediction) == truth
        except TypeError:
            return False
    if isinstance(truth, bool) or truth is None:
        return prediction is truth or (isinstance(prediction, bool | np.bool_) and bool(prediction) == truth)
    got, want = as_array(prediction), as_array(truth)
    if got is None or want is None or got.shape != want.shape or not np.all(np.isfinite(got)):
        return False
    return bool(np.allclose(got, want, rtol=rtol, atol=0.0 if rtol else 1e-12))


def compare_prediction(prediction: Any, truth: Any, *, what: str, why: str = "", rtol: float = 0.0,
                       choices: Sequence[Any] | None = None) -> CheckResult:
    """Comment on a learner's ``prediction`` of ``what``, whose measured value is ``truth``; never raises.

    Numbers agree within the relative tolerance ``rtol``; words compare case-insensitively; a set of answers
    matches any collection with the same members; ``choices``
    lists the allowed answers of a multiple-choice prediction. ``why`` is the one-sentence reason.
    """
    fact = tr("{what} is {truth}.", what=what, truth=_shown(truth))
    if why:  # two sentences: a space between them in English, none in 中文 and 日本語
        fact = tr("{sentence} {next_sentence}", sentence=fact, next_sentence=why)
    if prediction is Ellipsis:  # None can be a prediction (of an empty .grad, say)
        return CheckResult(False, tr("No prediction written; {fact}", fact=fact))
    if choices is not None and not any(_matches(prediction, choice, 0.0) for choice in choices):
        allowed = ", ".join(_shown(choice) for choice in choices)
        return CheckResult(False, tr("✗ You predicted {prediction}, which is not one of {allowed}; {fact}",
                                     prediction=_shown(prediction), allowed=allowed, fact=fact))
    if _matches(prediction, truth, rtol):
        return CheckResult(True, tr("✓ You predicted {prediction}: right, {fact}", prediction=_shown(prediction),
                                    fact=fact))
    return CheckResult(False, tr("✗ You predicted {prediction}, but {fact}", prediction=_shown(prediction),
                                 fact=fact))


def ratio_to(got: Any, want: Any) -> float | None:
    """The scalar c with got ≈ c·want (to 1e-6), or None when ``got`` is not a multiple of ``want``."""
    got_array, want_array = as_array(got), as_array(want)
    if got_array is None or want_array is None or got_array.shape != want_array.shape:
        return None
    scale = float(np.vdot(want_array, want_array))
    if not scale or not np.all(np.isfinite(got_array)):
        return None
    c = float(np.vdot(got_array, want_array)) / scale
    close = np.allclose(got_array, c * want_array, rtol=1e-6, atol=1e-9 * math.sqrt(scale))
    return c if close else None


def describe_factor(c: float | None, known: dict[float, str]) -> str | None:
    """The explanation in ``known`` whose factor equals ``c`` (to 1e-3 relative), if any."""
    if c is None:
        return None
    return next((text for factor, text in known.items() if math.isclose(c, factor, rel_tol=1e-3)), None)


__all__ = ["CheckResult", "as_array", "call_learner", "check_answer", "compare_prediction", "describe_factor",
           "is_placeholder", "no_answer", "ratio_to", "right", "same_numbers", "unanswered", "wrong"]
