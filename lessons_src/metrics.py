"""Scores of predictions: accuracy, the confusion matrix and per-class accuracy (pure functions of tensors).

``lessons_src.training`` re-exports them, next to ``predict`` which produces the predictions.
"""

from __future__ import annotations

import torch

from lessons_src.language import tr
from lessons_src.validation import as_int, require_class_labels

__all__ = ["accuracy", "confusion_matrix", "per_class_accuracy"]


def accuracy(output: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows of ``output`` (N, C) (logits or log-probabilities) whose argmax equals y (N,)."""
    if output.dim() != 2 or len(output) != len(y):
        raise ValueError(tr("output must be (N, C) and y (N,), got {output_shape} and {y_shape}",
                            output_shape=tuple(output.shape), y_shape=tuple(y.shape)))
    require_class_labels(y, len(output), name="y")
    return (output.argmax(dim=1) == y).float().mean().item()


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Counts (num_classes, num_classes): row = true class, column = predicted class."""
    num_classes = as_int("num_classes", num_classes, low=1)
    require_class_labels(labels, len(predicted), num_classes)
    require_class_labels(predicted, len(labels), num_classes, name="predicted")
    index = labels.long() * num_classes + predicted.long()
    return torch.bincount(index, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class_accuracy(confusion: torch.Tensor) -> torch.Tensor:
    """Share of each true class predicted correctly: the diagonal over the row sums, float (C,)."""
    return confusion.diagonal().double() / confusion.sum(dim=1).double()
