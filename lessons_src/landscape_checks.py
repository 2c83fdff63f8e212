"""Self-checks for lesson 13's exercises: a filter-normalized direction and a Hessian-vector product, each written
by the learner and compared with the reference on cases chosen to catch the usual slips.

Like every check, these return a :class:`~lessons_src.feedback.CheckResult` and never raise on a wrong answer;
they are imported by :mod:`lessons_src.checks`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lessons_src.feedback import CheckResult, call_learner, right, wrong
from lessons_src.landscape import filter_normalize, flatten
from lessons_src.language import tr


# --- exercise 1: filter-wise normalization ------------------------------------------------------------------
def _normalize_cases() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(direction, weights): a Linear weight (5, 3) and its bias, a Conv2d weight (4, 2, 3, 3), seeded."""
    generator = torch.Generator().manual_seed(0)
    shapes = [(5, 3), (5,), (4, 2, 3, 3)]
    weights = [torch.randn(s, generator=generator, dtype=torch.float64) * (1 + i) for i, s in enumerate(shapes)]
    direction = [torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]
    return direction, weights


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(len(t), -1).norm(dim=1)


def _diagnose_normalize(got: list[torch.Tensor], direction: list[torch.Tensor], weights: list[torch.Tensor]) -> str:
    """What a wrong normalization did, judged from its first (Linear) and last (Conv) tensors."""
    linear, conv = got[0], got[2]
    if torch.allclose(linear.norm(dim=0), weights[0].norm(dim=0)):
        return tr("each *column* got the weights' column norm; a filter is a row (the weights into one unit)")
    if torch.allclose(linear.norm(), weights[0].norm()) and not torch.allclose(_rows(linear), _rows(weights[0])):
        return tr("the whole layer has the weights' norm, but not each row: normalize filter by filter (dim 0)")
    if torch.allclose(_rows(linear), torch.ones(len(linear), dtype=linear.dtype)):
        return tr("every row has norm 1: multiply by the norm of the weights' row too")
    if torch.allclose(_rows(linear), _rows(weights[0]) ** -1 * _rows(direction[0]) ** 2):
        return tr("the ratio is upside down: scale by ‖w_row‖ / ‖d_row‖")
    linear_right = torch.allclose(_rows(linear), _rows(weights[0]))
    if linear_right and torch.allclose(conv.norm(dim=1), weights[2].norm(dim=1)):  # .norm(dim=1) on every tensor
        return tr("the linear layer is right, the convolution is not: you normalized along dim 1 (each pixel's "
                  "input channels apart), which is a row for a Linear weight but not a filter of an (out, in, h, w) "
                  "one; a filter is one output channel, all of its in·h·w numbers together: reshape to (out, -1) "
                  "first")
    if linear_right and not torch.allclose(_rows(conv), _rows(weights[2])):
        return tr("the linear layer is right, the convolution is not: a filter of a (out, in, h, w) weight is one "
                  "output channel, all of its in·h·w numbers together")
    return tr("the filters' norms do not match the weights' filters' norms")


def _rescaled(got: torch.Tensor, direction: torch.Tensor) -> bool:
    """Is ``got`` the direction with each number multiplied by a positive factor (any grouping)?"""
    ratio = got / direction
    return bool(torch.isfinite(ratio).all() and (ratio > 0).all())


def check_filter_normalize(fn: Any) -> CheckResult:
    """Does ``fn(direction, weights)`` scale each filter (slice along dim 0) of the direction to the norm of the
    weights' same filter, and set one-dimensional tensors (biases) to zero?"""
    what = tr("filter-wise normalization")
    hint = tr("for each pair (d, w): if d.dim() <= 1 return zeros; else compute the norm of every slice d[i] and "
              "w[i] (reshape to (len(d), -1), then .norm(dim=1)) and multiply d by w_norm / d_norm, reshaped to "
              "broadcast.")
    direction, weights = _normalize_cases()
    got, failure = call_learner(fn, what, hint, [d.clone() for d in direction], [w.clone() for w in weights])
    if failure is not None:
        return failure
    if not isinstance(got, list | tuple) or len(got) != len(weights):
        return wrong(what, tr("expected a list of {count} tensors, got {kind}", count=len(weights),
                              kind=type(got).__name__), hint)
    kinds = [type(g).__name__ for g in got if not isinstance(g, torch.Tensor)]
    if kinds:
        return wrong(what, tr("each returned item must be a torch.Tensor, got {kind}: build the result with torch "
                              "operations on the tensors given", kind=kinds[0]), hint)
    if not all(g.shape == w.shape for g, w in zip(got, weights, strict=True)):
        return wrong(what, tr("each returned tensor must have its weight's shape"), hint)
    if not all(torch.isfinite(g).all() for g in got):
        return wrong(what, tr("the result holds NaN or infinity: a division by a norm of zero, or by a tensor of the "
                              "wrong shape?"), hint)
    want = filter_normalize(direction, weights)
    if torch.count_nonzero(got[1]) != 0:
        return wrong(what, tr("the bias should be zero in the direction (Li et al. leave biases out of the slice)"),
                     hint)
    if all(torch.allclose(g.double(), w) for g, w in zip(got, want, strict=True)):
        return right(what, tr("every row of the linear layer and every output channel of the convolution has the "
                              "norm of the weights' own, and the bias is zero"))
    # a positive factor per number (rows, columns, channels, the whole layer): only the grouping can be wrong
    if all(_rescaled(got[i].double(), direction[i]) for i in (0, 2)):
        return wrong(what, _diagnose_normalize([g.double() for g in got], direction, weights), hint)
    return wrong(what, tr("the filters point somewhere else than the direction's: only rescale them, each by a "
                          "positive factor"), hint)


# --- exercise 2: a Hessian-vector product ------------------------------------------------------------------------
def _hvp_case(seed: int = 0):
    """A small float64 network (3 → 4 → 2), its loss on 20 seeded examples, v, and the full Hessian H."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    X = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 2, (20,), generator=generator)
    params = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    names = [n for n, _ in model.named_parameters()]

    def loss_of(*tensors):
        return nn.functional.cross_entropy(torch.func.functional_call(model, dict(zip(names, tensors, strict=True)),
                                                                      (X,)), y)

    v = [torch.randn(p.shape, generator=generator, dtype=torch.float64) for p in params]
    flat = flatten([p.detach() for p in params])
    sizes = [p.numel() for p in params]

    def loss_flat(vector):
        return loss_of(*[piece.reshape(p.shape) for piece, p in zip(torch.split(vector, sizes), params, strict=True)])

    H = torch.autograd.functional.hessian(loss_flat, flat)
    return loss_of, params, v, H


def check_hvp(fn: Any) -> CheckResult:
    """Does ``fn(loss, params, v)`` return H·v (a list shaped like ``params``) for a small network's loss?"""
    what = tr("Hessian-vector product")
    hint = tr("g = torch.autograd.grad(loss, params, create_graph=True) keeps the gradient differentiable; then "
              "return torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, v)), params).")
    loss_of, params, v, H = _hvp_case()
    got, failure = call_learner(fn, what, hint, loss_of(*params), params, [t.clone() for t in v])
    if failure is not None:
        if "does not require grad" in failure.message or "backward through the graph a second time" in failure.message:
            return wrong(what, tr("the second differentiation failed: the first torch.autograd.grad needs "
                                  "create_graph=True"), hint)
        return failure
    if isinstance(got, torch.Tensor) and got.dim() == 0:
        return wrong(what, tr("you returned one number (vᵀHv?); return H·v, one tensor per parameter"), hint)
    if not isinstance(got, list | tuple) or len(got) != len(params):
        return wrong(what, tr("expected a list of {count} tensors, got {kind}", count=len(params),
                              kind=type(got).__name__), hint)
    if not all(isinstance(g, torch.Tensor) and g.shape == p.shape for g, p in zip(got, params, strict=True)):
        return wrong(what, tr("each tensor of H·v must have its parameter's shape"), hint)
    result, want = flatten([g.detach().double() for g in got]), H @ flatten(v)
    if torch.allclose(result, want, rtol=1e-6, atol=1e-9):
        return right(what, tr("equal to the full Hessian ({size} × {size}) times v, without building it",
                              size=len(want)))
    gradient = torch.autograd.grad(loss_of(*params), params)
    if torch.allclose(result, flatten(list(gradient))):
        return wrong(what, tr("that is the gradient itself; differentiate g·v once more"), hint)
    if torch.allclose(result, 2 * want) or torch.allclose(result, -want):
        return wrong(what, tr("off by a factor (2 or −1): differentiate the plain sum of g·v"), hint)
    if torch.allclose(result, want / 2):
        return wrong(what, tr("half of H·v: differentiate g·v itself, not ½·g·v (or ½·vᵀHv's gradient is H·v only "
                              "without the ½)"), hint)
    flat_gradient = flatten(list(gradient))
    if torch.allclose(result, flat_gradient * flatten(v)):
        return wrong(what, tr("that is g·v element by element: it has no second derivative in it; return the "
                              "gradient of the sum of g·v with respect to params"), hint)
    ones = H @ torch.ones_like(flat_gradient)
    if torch.allclose(result, ones) or torch.allclose(result, ones * flatten(v)):
        return wrong(what, tr("you differentiated the sum of g (H times a vector of ones); weight each gᵢ by vᵢ "
                              "before summing"), hint)
    return wrong(what, tr("not H·v (compared with the full Hessian of a small network)"), hint)


__all__ = ["check_filter_normalize", "check_hvp"]
