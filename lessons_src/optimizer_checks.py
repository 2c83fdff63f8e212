"""Self-checks for lesson 12's exercises: an AdamW written as an Optimizer subclass, and clipping by norm.

Each check runs the learner's code beside PyTorch's on a small seeded network and, when they part, says at
which step and which slip explains it (the L2 penalty instead of decoupled decay, the decay not scaled by the
lr, no bias correction, a group's hyper-parameters ignored; each tensor clipped on its own, gradients scaled
up...). Checks never raise on a wrong answer; they are imported into :mod:`lessons_src.checks`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from lessons_src.feedback import CheckResult, is_placeholder, no_answer, right, unanswered, wrong

__all__ = ["check_adamw", "check_clip_grad_norm"]

LR, BETAS, EPS, WEIGHT_DECAY, NUM_STEPS = 0.01, (0.9, 0.999), 1e-8, 0.1, 30


def _scene(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small seeded network and one batch of data."""
    generator = torch.Generator().manual_seed(seed)
    X, y = torch.randn(64, 12, generator=generator), torch.randint(0, 4, (64,), generator=generator)
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4)), X, y


def _groups(model: nn.Module, two_groups: bool) -> Any:
    """All parameters in one group, or matrices (lr, decay) and biases (half the lr, no decay) in two."""
    if not two_groups:
        return model.parameters()
    matrices = [p for p in model.parameters() if p.dim() > 1]
    biases = [p for p in model.parameters() if p.dim() <= 1]
    return [{"params": matrices}, {"params": biases, "lr": LR / 2, "weight_decay": 0.0}]


class _Variant(torch.optim.Optimizer):
    """Adam with one of the usual slips: the reference trajectories the learner's steps are compared with."""

    def __init__(self, params: Iterable, decay: str, bias_correction: bool = True, ignore_groups: bool = False):
        super().__init__(params, {"lr": LR, "betas": BETAS, "eps": EPS, "weight_decay": WEIGHT_DECAY})
        self.decay, self.bias_correction, self.ignore_groups = decay, bias_correction, ignore_groups

    @torch.no_grad()
    def step(self, closure: Callable | None = None) -> None:
        for group in self.param_groups:
            settings = self.defaults if self.ignore_groups else group
            lr, wd, (beta1, beta2) = settings["lr"], settings["weight_decay"], BETAS
            for p in group["params"]:
                g = p.grad + wd * p if self.decay == "coupled" else p.grad
                if self.decay == "decoupled":
                    p.mul_(1 - lr * wd)
                elif self.decay == "unscaled":
                    p.mul_(1 - wd)
                state = self.state[p]
                if not state:
                    state["t"], state["m"], state["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                state["t"] += 1
                t, m, v = state["t"], state["m"], state["v"]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                m_hat, v_hat = (m / (1 - beta1**t), v / (1 - beta2**t)) if self.bias_correction else (m, v)
                p.sub_(lr * m_hat / (v_hat.sqrt() + EPS))
                if self.decay == "after":
                    p.mul_(1 - lr * wd)


SLIPS = {  # variant → what the learner's steps then are
    ("coupled", True, False): "your steps are Adam's with the L2 penalty (torch.optim.Adam(weight_decay=…)): the "
                              "decay was added to the gradient, so it went through m and v and was divided by √v̂",
    ("none", True, False): "your steps are Adam's without any weight decay: weight_decay is never used",
    ("unscaled", True, False): "the weights shrink by (1 − weight_decay) every step instead of (1 − lr·weight_decay)",
    ("after", True, False): "the decay is applied after the Adam step; AdamW shrinks the weights first, then steps",
    ("decoupled", False, False): "the steps lack the bias corrections m̂ = m / (1 − β1^t) and v̂ = v / (1 − β2^t)",
    ("decoupled", True, True): "with two parameter groups, your steps use the default lr and weight_decay for "
                               "every group: read them from each group in self.param_groups",
}


def _trajectory(make: Callable, two_groups: bool) -> list[list[torch.Tensor]]:
    """The weights after each of NUM_STEPS steps of the optimizer ``make(params)`` on the seeded scene."""
    model, X, y = _scene()
    optimizer = make(_groups(model, two_groups))
    weights = []
    for _ in range(NUM_STEPS):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        optimizer.step()
        weights.append([p.detach().clone() for p in model.parameters()])
    return weights


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.allclose(p, q, rtol=1e-5, atol=1e-6) for p, q in zip(a, b, strict=True))


def _first_difference(got: list[list[torch.Tensor]], want: list[list[torch.Tensor]]) -> int | None:
    """The 1-based step at which two trajectories first differ, or None."""
    return next((t + 1 for t, (a, b) in enumerate(zip(got, want, strict=True)) if not _same(a, b)), None)


def _build(cls: Any, params: Any) -> Any:
    return cls(params, lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)


def check_adamw(cls: Any) -> CheckResult:
    """Does the learner's ``cls(params, lr, betas, eps, weight_decay)`` make torch.optim.AdamW's steps, with one
    parameter group and with two (different lr and weight_decay), and keep its state in ``self.state``?"""
    what = "your AdamW"
    hint = "what does AdamW do to the weights that Adam's weight_decay does not, and when (section 1)? Read lr and " \
           "weight_decay from each group; the rest is lesson 04's Adam on the plain gradient, its t, m and v kept " \
           "in self.state[p] (section 5)."
    if unanswered(cls):
        return no_answer(what, "with your class")
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        return wrong(what, f"expected a subclass of torch.optim.Optimizer, got {cls!r}", hint)
    if "step" in vars(cls) and is_placeholder(cls.step):
        return no_answer(what, "in your step method")
    for two_groups in (False, True):
        where = "with two parameter groups" if two_groups else "with one parameter group"
        try:
            got = _trajectory(lambda params: _build(cls, params), two_groups)
        except Exception as error:  # learner code may fail in any way; report it, never crash
            return wrong(what, f"{where}, building it or stepping raised {type(error).__name__}: {error}", hint)
        want = _trajectory(lambda params: torch.optim.AdamW(params, lr=LR, betas=BETAS, eps=EPS,
                                                            weight_decay=WEIGHT_DECAY), two_groups)
        step = _first_difference(got, want)
        if step is None:
            continue
        start = [p.detach().clone() for p in _scene()[0].parameters()]
        if all(_same(weights, start) for weights in got):
            return wrong(what, f"{where}, your step leaves the weights as they were", hint)
        for (decay, bias_correction, ignore_groups), slip in SLIPS.items():
            if ignore_groups and not two_groups:
                continue
            variant = _trajectory(lambda params, slip=(decay, bias_correction, ignore_groups): _Variant(params, *slip),
                                  two_groups)
            if _first_difference(got, variant) is None:
                return wrong(what, f"{where}, {slip}", hint)
        if step == 1:
            return wrong(what, f"{where}, the very first step already differs from torch.optim.AdamW's", hint)
        return wrong(what, f"{where}, steps 1 to {step - 1} agree with torch.optim.AdamW and step {step} does not: "
                           "is the state (m, v, t) kept from one step to the next?", hint)
    model, X, y = _scene()
    optimizer = _build(cls, model.parameters())
    nn.functional.cross_entropy(model(X), y).backward()
    optimizer.step()
    if not any(optimizer.state.values()):
        return wrong(what, "the steps are right, but self.state is empty: keep m, v and t in self.state[p], so "
                           "that state_dict() saves them and a resumed run goes on exactly", hint)
    return right(what, f"{NUM_STEPS} steps equal torch.optim.AdamW's, with one parameter group and with two, and "
                       "the moments live in self.state")


# --- clipping by norm ----------------------------------------------------------------------------
def _gradients(scale: float) -> list[torch.Tensor]:
    """Three parameters of different shapes whose gradients have a total norm of ``scale`` × a few."""
    generator = torch.Generator().manual_seed(3)
    params = [torch.zeros(shape, requires_grad=True) for shape in ((4, 3), (3,), (2, 2))]
    for p in params:
        p.grad = scale * torch.randn(p.shape, generator=generator)
    return params


def check_clip_grad_norm(fn: Any) -> CheckResult:
    """Does ``fn(parameters, max_norm)`` scale the gradients in place as ``torch.nn.utils.clip_grad_norm_`` does,
    and return the total norm measured before clipping?"""
    what = "your clip_grad_norm"
    hint = "section 4 writes the rule out: how many norms are measured, can the scale ever exceed 1, and where do " \
           "the scaled gradients go? Return the norm as measured before any scaling."
    if unanswered(fn):
        return no_answer(what, "with your function")
    if not callable(fn):
        return wrong(what, f"expected a function, got {type(fn).__name__}", hint)
    if is_placeholder(fn):
        return no_answer(what, "in your function")
    for scale, max_norm in ((1.0, 0.5), (0.01, 0.5)):
        clipping = "a norm above max_norm" if scale == 1.0 else "a norm below max_norm"
        ours, theirs = _gradients(scale), _gradients(scale)
        before = [p.grad.clone() for p in ours]
        want_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
        try:
            got_norm = fn(ours, max_norm)
        except Exception as error:  # learner code may fail in any way
            return wrong(what, f"with {clipping}, your function raised {type(error).__name__}: {error}", hint)
        if got_norm is None and all(torch.equal(p.grad, b) for p, b in zip(ours, before, strict=True)):
            return wrong(what, "your function returns nothing and leaves the gradients as they were", hint)
        try:
            got_norm = float(got_norm)
        except (TypeError, ValueError):
            return wrong(what, f"return the total norm as a number or a 0-d tensor, got {got_norm!r}", hint)
        total = float(want_norm)
        if math.isclose(got_norm, total**2, rel_tol=1e-4) and not math.isclose(total, 1.0, rel_tol=1e-2):
            return wrong(what, "you returned the sum of squares: the norm is its square root", hint)
        grads_ok = all(torch.allclose(p.grad, q.grad, rtol=1e-5, atol=1e-7) for p, q in zip(ours, theirs, strict=True))
        if not grads_ok:
            if all(torch.equal(p.grad, b) for p, b in zip(ours, before, strict=True)):
                return wrong(what, f"with {clipping}, the .grad tensors did not change: scale them in place "
                                   "(p.grad.mul_(...)), clip_grad_norm_ returns the norm, not new gradients", hint)
            per_tensor = [torch.allclose(p.grad, b * min(1.0, max_norm / (float(b.norm()) + 1e-6)), rtol=1e-5)
                          for p, b in zip(ours, before, strict=True)]
            if all(per_tensor):
                return wrong(what, "each tensor was clipped to max_norm on its own; clip_grad_norm_ measures one "
                                   "norm over all of them and scales them all by the same factor", hint)
            if scale < 1:
                return wrong(what, "with a norm below max_norm the gradients changed: they were scaled up to "
                                   "max_norm; clipping only ever shrinks them", hint)
            return wrong(what, f"with {clipping}, the clipped gradients differ from clip_grad_norm_'s", hint)
        if not math.isclose(got_norm, total, rel_tol=1e-5):
            clipped = math.isclose(got_norm, min(total, max_norm), rel_tol=1e-4)
            problem = ("you returned the norm after clipping; return the one measured before" if clipped
                       else f"you returned {got_norm:.6g}, the total norm is {total:.6g}")
            return wrong(what, f"the gradients are right, but {problem}", hint)
    return right(what, "it clips a norm above max_norm to max_norm, leaves a smaller one alone and returns the "
                       "norm before clipping, as torch.nn.utils.clip_grad_norm_")
