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
        if high == math.inf:
            wanted = f"a finite number {'>' if low_open else '>='} {low:g}"
        else:
            wanted = f"a finite number in {left}{low:g}, {high:g}{right}"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return number


def as_int(name: str, value: Any, *, low: int = 0, high: int | None = None, remedy: str = "") -> int:
    """``value`` as an int in [low, high] (any integer type, never a bool or a float), else ValueError."""
    number = _scalar(value)
    ok = isinstance(number, numbers.Integral) and not isinstance(number, bool)
    if ok:
        number = int(number)
        ok = number >= low and (high is None or number <= high)
    if not ok:
        wanted = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
        tail = f"; {remedy}" if remedy else ""
        raise ValueError(f"{name} must be {wanted}, got {value!r}{tail}")
    return number


def as_point(name: str, value: Any) -> np.ndarray:
    """Two finite numbers (w1, w2) as a float array of shape (2,), else ValueError."""
    try:
        point = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        point = np.full(3, np.nan)
    if point.shape != (2,) or not np.all(np.isfinite(point)):
        raise ValueError(f"{name} must be two finite numbers (w1, w2), got {value!r}")
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
               remedy="split a longer run into several calls")


def require_finite(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` unchanged if every entry is finite, else ValueError counting the bad entries."""
    if tensor.is_floating_point() or tensor.is_complex():
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise ValueError(f"{name} holds {bad} NaN or infinite value(s): the data is not finite "
                             "(clean or drop those examples before training)")
    return tensor


def require_class_labels(y: torch.Tensor, num_examples: int | None = None,
                       num_classes: int | None = None, *, name: str = "labels") -> torch.Tensor:
    """``y`` unchanged if it holds class indices: integer dtype, shape (N,), values in [0, C)."""
    if y.dim() == 2 and y.shape[1] > 1:
        raise ValueError(f"{name} must be class indices of shape (N,), got shape {tuple(y.shape)}; "
                         "for one-hot labels use y.argmax(1)")
    if y.dim() != 1:
        raise ValueError(f"{name} must be class indices of shape (N,), got shape {tuple(y.shape)}; "
                         "use y.reshape(-1) or y.squeeze(1)")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor of class indices, got dtype {y.dtype}; "
                         "use y.long()")
    if num_examples is not None and len(y) != num_examples:
        raise ValueError(f"{name} must hold one label per example: {num_examples} examples, "
                         f"{len(y)} labels")
    if num_classes is not None and len(y):
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= num_classes:
            raise ValueError(f"{name} must lie in [0, {num_classes - 1}], got values from {low} to {high}")
    return y


def require_matrix(name: str, tensor: Any, rows: int | None = None, cols: int | None = None) -> torch.Tensor:
    """``tensor`` unchanged if it is a 2-D tensor with the given rows/cols (None: any), else ValueError."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if (tensor.dim() != 2 or (rows is not None and tensor.shape[0] != rows)
            or (cols is not None and tensor.shape[1] != cols)):
        wanted = (rows if rows is not None else "any", cols if cols is not None else "any")
        raise ValueError(f"{name} must be a 2-D tensor of shape ({wanted[0]}, {wanted[1]}), "
                         f"got {tuple(tensor.shape)}")
    return tensor
