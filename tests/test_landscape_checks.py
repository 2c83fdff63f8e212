"""Lesson 13's self-checks: right answers pass, the usual slips are named, nothing raises."""

from __future__ import annotations

import torch

from lessons_src.checks import check_filter_normalize, check_hvp
from lessons_src.landscape import filter_normalize


def test_filter_normalize_check_passes_the_reference_and_waits_for_an_answer():
    assert check_filter_normalize(filter_normalize)

    def placeholder(direction, weights):
        ...

    assert "no answer yet" in check_filter_normalize(placeholder).message


def test_filter_normalize_check_names_the_slips():
    def layerwise(direction, weights):
        return [torch.zeros_like(d) if d.dim() <= 1 else d * w.norm() / d.norm()
                for d, w in zip(direction, weights, strict=True)]

    def unit_rows(direction, weights):
        return [torch.zeros_like(d) if d.dim() <= 1 else d / d.reshape(len(d), -1).norm(dim=1).reshape(
            -1, *([1] * (d.dim() - 1))) for d in direction]

    def keeps_bias(direction, weights):
        out = filter_normalize(direction, weights)
        out[1] = direction[1]
        return out

    def crashes(direction, weights):
        raise RuntimeError("shape mismatch")

    assert "not each row" in check_filter_normalize(layerwise).message
    assert "norm 1" in check_filter_normalize(unit_rows).message
    assert "bias should be zero" in check_filter_normalize(keeps_bias).message
    assert "raised RuntimeError" in check_filter_normalize(crashes).message


def test_hvp_check_passes_pearlmutter_and_names_the_slips():
    def hvp(loss, params, v):
        g = torch.autograd.grad(loss, params, create_graph=True)
        return torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, v, strict=True)), params)

    def no_create_graph(loss, params, v):
        g = torch.autograd.grad(loss, params)
        return torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, v, strict=True)), params)

    def gradient(loss, params, v):
        return list(torch.autograd.grad(loss, params))

    def quadratic_form(loss, params, v):
        return sum((h * vi).sum() for h, vi in zip(hvp(loss, params, v), v, strict=True))

    assert check_hvp(hvp)
    assert "create_graph=True" in check_hvp(no_create_graph).message
    assert "gradient itself" in check_hvp(gradient).message
    assert "one number" in check_hvp(quadratic_form).message
    assert "no answer yet" in check_hvp(...).message


def _by(dim_of):
    """A normalization that groups each tensor's numbers by ``dim_of(d)`` instead of by filter (bias: zero)."""
    def normalize(direction, weights):
        return [torch.zeros_like(d) if d.dim() <= 1 else
                d * w.norm(dim=dim_of(d), keepdim=True) / d.norm(dim=dim_of(d), keepdim=True)
                for d, w in zip(direction, weights, strict=True)]
    return normalize


def test_filter_normalize_check_names_the_grouping_slips():
    columns = check_filter_normalize(_by(lambda d: 0))
    assert "each *column*" in columns.message and "somewhere else" not in columns.message
    conv_dim_1 = check_filter_normalize(_by(lambda d: 1))  # a Linear's rows right, a conv's channels not
    assert "along dim 1" in conv_dim_1.message and "somewhere else" not in conv_dim_1.message


def test_filter_normalize_check_names_bad_values_and_types():
    def all_nan(direction, weights):
        return [torch.full_like(d, float("nan")) for d in direction]

    def numpy(direction, weights):
        return [t.numpy() for t in filter_normalize(direction, weights)]

    def turned(direction, weights):
        return [-t for t in filter_normalize(direction, weights)]

    assert "NaN or infinity" in check_filter_normalize(all_nan).message
    assert "must be a torch.Tensor, got ndarray" in check_filter_normalize(numpy).message
    assert "somewhere else" in check_filter_normalize(turned).message


def test_hvp_check_names_the_factor_the_product_and_the_sum():
    def hvp(loss, params, v, weight=None):
        g = torch.autograd.grad(loss, params, create_graph=True)
        return torch.autograd.grad(sum((gi * (vi if weight is None else weight(vi))).sum()
                                       for gi, vi in zip(g, v, strict=True)), params)

    def half(loss, params, v):
        return [t / 2 for t in hvp(loss, params, v)]

    def elementwise(loss, params, v):
        return [gi * vi for gi, vi in zip(torch.autograd.grad(loss, params), v, strict=True)]

    def sum_of_g(loss, params, v):
        return hvp(loss, params, v, weight=torch.ones_like)

    assert "half of H·v" in check_hvp(half).message
    assert "element by element" in check_hvp(elementwise).message
    assert "sum of g" in check_hvp(sum_of_g).message
