"""One place that checks arguments: numbers, counts, points, tensors and class labels.

Every public function of the course checks its input with these helpers, so bad input always
gives the same kind of message: a ``ValueError`` that names the argument, the allowed range and
what was given. Numbers may be Python, NumPy or 0-d torch values; ``True``/``False`` are never
numbers here (``lr=True`` is an error, not 1.0).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from lessons_src.language import tr

__all__ = [
    "as_real", "as_int", "as_point", "validate_hyperparameters", "require_finite",
    "require_class_labels", "require_matrix", "MAX_STEPS",
]

# The most steps any loop of the course runs in one call (2-D descent, torch.optim on a surface,
# noise clouds). Far above what a lesson needs, far below what hangs a notebook.
MAX_STEPS = 100_000


def _scalar(value: Any) -> Any:
    """A 0-d tensor or NumPy scalar as a Python number; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def as_real(name: str, value: Any, *, low: float = -math.inf, high: float = math.inf,
            low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float in [low, high] (an end is excluded when ``*_open``), else ValueError."""
    number = _scalar(value)
    ok = isinstance(number, numbers.Real) and not isinstance(number, bool) and math.isfinite(number)
    if ok:
        number = float(number)
        ok = (number > low if low_open else number >= low) and (number < high if high_open else number <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        given = {"name": name, "low": f"{low:g}", "value": repr(value)}
        if high == math.inf and low_open:
            raise ValueError(tr("{name} must be a finite number > {low}, got {value}", **given))
        if high == math.inf:
            raise ValueError(tr("{name} must be a finite number >= {low}, got {value}", **given))
        raise ValueError(tr("{name} must be a finite number in {interval}, got {value}", **given,
                            interval=f"{left}{low:g}, {high:g}{right}"))
    return number


def as_int(name: str, value: Any, *, low: int = 0, high: int | None = None, remedy: str = "") -> int:
    """``value`` as an int in [low, high] (any integer type, never a bool or a float), else ValueError."""
    number = _scalar(value)
    ok = isinstance(number, numbers.Integral) and not isinstance(number, bool)
    if ok:
        number = int(number)
        ok = number >= low and (high is None or number <= high)
    if not ok:
        given = {"name": name, "low": low, "high": high, "value": repr(value)}
        problem = (tr("{name} must be an int >= {low}, got {value}", **given) if high is None
                   else tr("{name} must be an int in [{low}, {high}], got {value}", **given))
        raise ValueError(tr("{problem}; {remedy}", problem=problem, remedy=remedy) if remedy else problem)
    return number


def as_point(name: str, value: Any) -> np.ndarray:
    """Two finite numbers (w1, w2) as a float array of shape (2,), else ValueError."""
    try:
        point = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        point = np.full(3, np.nan)
    if point.shape != (2,) or not np.all(np.isfinite(point)):
        raise ValueError(tr("{name} must be two finite numbers (w1, w2), got {value}", name=name, value=repr(value)))
    return point


def validate_hyperparameters(*, lr: Any = None, batch_size: Any = None, num_epochs: Any = None,
                          momentum: Any = None, num_steps: Any = None) -> None:
    """Raise ValueError naming the first argument outside its allowed range; None means unchecked."""
    if lr is not None:
        as_real("lr", lr, low=0.0, low_open=True)
    if batch_size is not None:
        as_int("batch_size", batch_size, low=1)
    if num_epochs is not None:
        as_int("num_epochs", num_epochs, low=0)
    if momentum is not None:
        as_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
    if num_steps is not None:
        as_int("num_steps", num_steps, low=0, high=MAX_STEPS,
               remedy=tr("split a longer run into several calls"))


def require_finite(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` unchanged if every entry is finite, else ValueError counting the bad entries."""
    if tensor.is_floating_point() or tensor.is_complex():
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise ValueError(tr("{name} holds {bad} NaN or infinite value(s): the data is not finite "
                                "(clean or drop those examples before training)", name=name, bad=bad))
    return tensor


def require_class_labels(y: torch.Tensor, num_examples: int | None = None,
                       num_classes: int | None = None, *, name: str = "labels") -> torch.Tensor:
    """``y`` unchanged if it holds class indices: integer dtype, shape (N,), values in [0, C)."""
    if y.dim() == 2 and y.shape[1] > 1:
        raise ValueError(tr("{name} must be class indices of shape (N,), got shape {shape}; "
                            "for one-hot labels use y.argmax(1)", name=name, shape=tuple(y.shape)))
    if y.dim() != 1:
        raise ValueError(tr("{name} must be class indices of shape (N,), got shape {shape}; "
                            "use y.reshape(-1) or y.squeeze(1)", name=name, shape=tuple(y.shape)))
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(tr("{name} must be an integer tensor of class indices, got dtype {dtype}; "
                            "use y.long()", name=name, dtype=y.dtype))
    if num_examples is not None and len(y) != num_examples:
        raise ValueError(tr("{name} must hold one label per example: {num_examples} examples, {num_labels} labels",
                            name=name, num_examples=num_examples, num_labels=len(y)))
    if num_classes is not None and len(y):
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= num_classes:
            raise ValueError(tr("{name} must lie in [0, {top}], got values from {low} to {high}",
                                name=name, top=num_classes - 1, low=low, high=high))
    return y


def require_matrix(name: str, tensor: Any, rows: int | None = None, cols: int | None = None) -> torch.Tensor:
    """``tensor`` unchanged if it is a 2-D tensor with the given rows/cols (None: any), else ValueError."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(tr("{name} must be a torch.Tensor, got {type}", name=name, type=type(tensor).__name__))
    if (tensor.dim() != 2 or (rows is not None and tensor.shape[0] != rows)
            or (cols is not None and tensor.shape[1] != cols)):
        wanted = (rows if rows is not None else tr("any"), cols if cols is not None else tr("any"))
        raise ValueError(tr("{name} must be a 2-D tensor of shape ({rows}, {cols}), got {shape}",
                            name=name, rows=wanted[0], cols=wanted[1], shape=tuple(tensor.shape)))
    return tensor
