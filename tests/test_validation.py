"""The one validation module: numeric types accepted alike, bools and non-finite values refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lessons_src.validation import (
    MAX_STEPS,
    as_int,
    as_point,
    as_real,
    require_class_labels,
    require_finite,
    require_matrix,
    validate_hyperparameters,
)


@pytest.mark.parametrize("value", [0.05, np.float32(0.05), np.float64(0.05), torch.tensor(0.05), 1, np.int64(1)])
def test_any_real_number_type_is_accepted(value):
    assert math.isclose(as_real("lr", value, low=0.0, low_open=True), float(value), rel_tol=1e-6)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), float("nan"), math.inf, -0.1, 0.0, "0.1",
                                   torch.tensor([0.1, 0.2])])
def test_lr_refuses_bools_non_finite_and_non_numbers(value):
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got"):
        validate_hyperparameters(lr=value)


@pytest.mark.parametrize("value", [64, np.int64(64), np.int32(64), torch.tensor(64)])
def test_any_integer_type_is_a_batch_size(value):
    assert as_int("batch_size", value, low=1) == 64


@pytest.mark.parametrize("value", [True, 64.0, 0, -3, "64"])
def test_batch_size_refuses_bools_floats_and_small_values(value):
    with pytest.raises(ValueError, match=r"^batch_size must be an int >= 1"):
        validate_hyperparameters(batch_size=value)


def test_num_steps_has_a_documented_maximum():
    validate_hyperparameters(num_steps=MAX_STEPS)
    with pytest.raises(ValueError, match="split a longer run"):
        validate_hyperparameters(num_steps=MAX_STEPS + 1)


def test_momentum_range_is_half_open():
    validate_hyperparameters(momentum=0.0)
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \[0, 1\)"):
        validate_hyperparameters(momentum=1.0)


def test_points_must_be_two_finite_numbers():
    assert as_point("start", (1, 2)).tolist() == [1.0, 2.0]
    for bad in [(1, float("nan")), (1, 2, 3), "ab", None]:
        with pytest.raises(ValueError, match="start must be two finite numbers"):
            as_point("start", bad)


def test_non_finite_tensor_is_named_and_counted():
    require_finite("X", torch.ones(3))
    with pytest.raises(ValueError, match=r"X holds 2 NaN or infinite"):
        require_finite("X", torch.tensor([1.0, math.nan, math.inf]))


@pytest.mark.parametrize("y, message", [
    (torch.eye(10)[:4], r"for one-hot labels use y.argmax\(1\)"),
    (torch.zeros(4, 1, dtype=torch.long), r"y.squeeze\(1\)"),
    (torch.zeros(4), r"use y.long\(\)"),
    (torch.tensor([0, 3, 10]), r"must lie in \[0, 9\], got values from 0 to 10"),
])
def test_class_labels_say_what_to_do(y, message):
    with pytest.raises(ValueError, match=message):
        require_class_labels(y, num_classes=10)


def test_class_labels_count_must_match():
    with pytest.raises(ValueError, match="one label per example: 5 examples, 4 labels"):
        require_class_labels(torch.zeros(4, dtype=torch.long), num_examples=5)


def test_matrices_must_be_2d_tensors_of_the_given_shape():
    require_matrix("X", torch.zeros(3, 2), rows=3)
    with pytest.raises(ValueError, match=r"w must be a 2-D tensor of shape \(2, any\), got \(3,\)"):
        require_matrix("w", torch.zeros(3), rows=2)
    with pytest.raises(ValueError, match="X must be a torch.Tensor, got list"):
        require_matrix("X", [[1.0]])
