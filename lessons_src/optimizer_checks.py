"""Self-checks for lesson 12's exercises: AdamW and SGD with decoupled weight decay, written as Optimizer subclasses.

Each check runs the learner's optimizer beside a reference on a small seeded network, with one parameter group
and with two, and when the weights part, says at which step and which slip explains it (the L2 penalty instead
of decoupled decay, the decay not scaled by the lr or applied after the step, no bias correction, a group's
hyper-parameters ignored, ``p = p - …`` rebinding the name instead of moving the weights, state not kept...).
Checks never raise on a wrong answer; they are imported into :mod:`lessons_src.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from lessons_src.feedback import CheckResult, is_placeholder, no_answer, right, unanswered, wrong
from lessons_src.language import tr

__all__ = ["check_adamw", "check_sgdw", "SGDWReference"]

LR, BETAS, EPS, WEIGHT_DECAY, NUM_STEPS = 0.01, (0.9, 0.999), 1e-8, 0.1, 30
SGD_LR, MOMENTUM = 0.1, 0.9


def _scene(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small seeded network and one batch of data."""
    generator = torch.Generator().manual_seed(seed)
    X, y = torch.randn(64, 12, generator=generator), torch.randint(0, 4, (64,), generator=generator)
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4)), X, y


def _groups(model: nn.Module, two_groups: bool, lr: float) -> Any:
    """All parameters in one group, or matrices (lr, decay) and biases (half the lr, no decay) in two."""
    if not two_groups:
        return model.parameters()
    matrices = [p for p in model.parameters() if p.dim() > 1]
    biases = [p for p in model.parameters() if p.dim() <= 1]
    return [{"params": matrices}, {"params": biases, "lr": lr / 2, "weight_decay": 0.0}]


def _decay(p: torch.Tensor, slip: str | None, lr: float, wd: float, *, after: bool) -> None:
    """Shrink ``p`` in place as the slip has it: by (1 − lr·wd) before the step (right), after it, or by (1 − wd)."""
    if after != (slip == "after") or slip in ("coupled", "none"):
        return
    p.mul_(1 - wd if slip == "unscaled" else 1 - lr * wd)


class _AdamVariant(torch.optim.Optimizer):
    """Adam with decoupled decay, right (``slip=None``) or with one of the usual slips."""

    def __init__(self, params: Iterable, slip: str | None):
        super().__init__(params, {"lr": LR, "betas": BETAS, "eps": EPS, "weight_decay": WEIGHT_DECAY})
        self.slip, self.shared_t = slip, 0

    @torch.no_grad()
    def step(self, closure: Callable | None = None) -> None:
        for group in self.param_groups:
            settings = self.defaults if self.slip == "groups" else group
            lr, wd, (beta1, beta2) = settings["lr"], settings["weight_decay"], BETAS
            for p in group["params"]:
                g = p.grad + wd * p if self.slip == "coupled" else p.grad
                _decay(p, self.slip, lr, wd, after=False)
                state = self.state[p]
                if not state:
                    state["t"], state["m"], state["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                state["t"] += 1
                self.shared_t += 1  # the slip: one counter for all parameters, up once per parameter
                t, m, v = self.shared_t if self.slip == "shared t" else state["t"], state["m"], state["v"]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                m_hat, v_hat = (m, v) if self.slip == "no correction" else (m / (1 - beta1**t), v / (1 - beta2**t))
                if self.slip != "rebind":
                    p.sub_(lr * m_hat / (v_hat.sqrt() + EPS))
                _decay(p, self.slip, lr, wd, after=True)


class SGDWReference(torch.optim.Optimizer):
    """SGD with momentum and decoupled weight decay (SGDW, Loshchilov & Hutter 2019, with PyTorch's lr·λ):
    ``w ← w·(1 − lr·λ)``, then ``b = μ·b + g`` (b = g at the first step) and ``w ← w − lr·b`` on the plain
    gradient. ``slip`` switches in one of the usual mistakes, for the check's diagnoses."""

    def __init__(self, params: Iterable, lr: float = SGD_LR, momentum: float = MOMENTUM,
                 weight_decay: float = WEIGHT_DECAY, slip: str | None = None):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})
        self.slip = slip

    @torch.no_grad()
    def step(self, closure: Callable | None = None) -> None:
        for group in self.param_groups:
            settings = self.defaults if self.slip == "groups" else group
            lr, wd, momentum = settings["lr"], settings["weight_decay"], settings["momentum"]
            for p in group["params"]:
                g = p.grad + wd * p if self.slip == "coupled" else p.grad
                _decay(p, self.slip, lr, wd, after=False)
                state = self.state[p]
                if self.slip == "dampening":  # an average from b = 0: b = μ·b + (1 − μ)·g
                    state.setdefault("b", torch.zeros_like(p)).mul_(momentum).add_(g, alpha=1 - momentum)
                elif "b" not in state or self.slip == "no buffer":
                    state["b"] = g.clone()  # b_1 = g_1
                else:
                    state["b"].mul_(momentum).add_(g)  # b = μ·b + g
                if self.slip != "rebind":
                    p.sub_(lr * state["b"])
                _decay(p, self.slip, lr, wd, after=True)


# the slips' sentences are built when a check runs, so that they come in the language in use then
def _common_slips() -> dict[str, str]:
    """Slips both checks name, and what the learner's steps then are."""
    return {
        "none": tr("your steps have no weight decay at all: weight_decay is never used"),
        "unscaled": tr("the weights shrink by (1 − weight_decay) every step instead of (1 − lr·weight_decay)"),
        "after": tr("the decay is applied after the step; the decoupled rule shrinks the weights first, then steps"),
        "groups": tr("your steps use the default lr and weight_decay for every group: read them from each group in "
                     "self.param_groups"),
        "rebind": tr("only the decay moves the weights: `p = p - …` makes a new tensor and binds the name p to it, "
                     "leaving the parameter as it was; change it in place (p.sub_(…), p.add_(…) or p -= …)"),
    }


def _adam_slips() -> dict[str, str]:
    return {
        "coupled": tr("your steps are Adam's with the L2 penalty (torch.optim.Adam(weight_decay=…)): the decay was "
                      "added to the gradient, so it went through m and v and was divided by √v̂"),
        **_common_slips(),
        "no correction": tr("the steps lack the bias corrections m̂ = m / (1 − β1^t) and v̂ = v / (1 − β2^t)"),
        "shared t": tr("one step count t is shared by all the parameters and goes up once per parameter, not once "
                       "per step: keep each parameter's t in self.state[p]"),
    }


def _sgdw_slips() -> dict[str, str]:
    return {
        "coupled": tr("your steps are torch.optim.SGD(momentum=…, weight_decay=…)'s, the L2 penalty: λ·w was added "
                      "to the gradient, so it went into the momentum buffer and is repeated by every later step"),
        **_common_slips(),
        "no buffer": tr("the momentum buffer is not kept between steps (b = g every step: plain SGD); keep it in "
                        "self.state[p]"),
        "dampening": tr("the buffer is an average, b = μ·b + (1 − μ)·g; PyTorch's momentum (lesson 03) is "
                        "b = μ·b + g"),
    }


def _trajectory(make: Callable, two_groups: bool, lr: float) -> list[list[torch.Tensor]]:
    """The weights after each of NUM_STEPS steps of the optimizer ``make(params)`` on the seeded scene."""
    model, X, y = _scene()
    optimizer = make(_groups(model, two_groups, lr))
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


def _compare(what: str, hint: str, build: Callable, reference: Callable, variants: dict[str, tuple[Callable, str]],
             lr: float, reference_name: str) -> CheckResult | None:
    """Run the learner's optimizer beside the reference with one and two groups; the verdict when they part."""
    for two_groups in (False, True):
        where = tr("with two parameter groups") if two_groups else tr("with one parameter group")
        try:
            got = _trajectory(build, two_groups, lr)
        except Exception as error:  # learner code may fail in any way; report it, never crash
            return wrong(what, tr("{where}, building it or stepping raised {error}", where=where,
                                  error=f"{type(error).__name__}: {error}"), hint)
        step = _first_difference(got, _trajectory(reference, two_groups, lr))
        if step is None:
            continue
        start = [p.detach().clone() for p in _scene()[0].parameters()]
        if all(_same(weights, start) for weights in got):
            return wrong(what, tr("{where}, your step leaves the weights as they were", where=where), hint)
        for slip, (make, message) in variants.items():
            if slip == "groups" and not two_groups:
                continue
            if _first_difference(got, _trajectory(make, two_groups, lr)) is None:
                return wrong(what, tr("{where}, {slip}", where=where, slip=message), hint)
        if step == 1:
            return wrong(what, tr("{where}, the very first step already differs from {reference}'s", where=where,
                                  reference=reference_name), hint)
        return wrong(what, tr("{where}, steps 1 to {last_agreeing} agree with {reference} and step {step} does not: "
                              "is the state kept from one step to the next?", where=where,
                              last_agreeing=step - 1, reference=reference_name, step=step), hint)
    return None


def _start(what: str, cls: Any) -> CheckResult | None:
    """The verdict for a placeholder or for something that is not an Optimizer subclass, else None."""
    if unanswered(cls):
        return no_answer(what, tr("with your class"))
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        return wrong(what, tr("expected a subclass of torch.optim.Optimizer, got {answer}", answer=repr(cls)),
                     tr("write `class ...(torch.optim.Optimizer):` with an __init__ and a step method (section 5)"))
    if "step" in vars(cls) and is_placeholder(cls.step):
        return no_answer(what, tr("in your step method"))
    return None


def _state_kept(what: str, hint: str, build: Callable) -> CheckResult | None:
    """A ✗ when the steps are right but nothing is kept in ``self.state``, else None."""
    model, X, y = _scene()
    optimizer = build(model.parameters())
    nn.functional.cross_entropy(model(X), y).backward()
    optimizer.step()
    if any(optimizer.state.values()):
        return None
    return wrong(what, tr("the steps are right, but self.state is empty: keep the optimizer's memory in "
                          "self.state[p], so that state_dict() saves it and a resumed run goes on exactly"), hint)


def check_adamw(cls: Any) -> CheckResult:
    """Does the learner's ``cls(params, lr, betas, eps, weight_decay)`` make torch.optim.AdamW's steps, with one
    parameter group and with two (different lr and weight_decay), and keep its state in ``self.state``?"""
    what = tr("your AdamW")
    hint = tr("what does AdamW do to the weights that Adam's weight_decay does not, and when (section 1)? Read lr "
              "and weight_decay from each group; the rest is lesson 04's Adam on the plain gradient, its t, m and v "
              "kept in self.state[p] (section 5).")
    verdict = _start(what, cls)
    if verdict is not None:
        return verdict

    def build(params: Any) -> Any:
        return cls(params, lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)

    def reference(params: Any) -> Any:
        return torch.optim.AdamW(params, lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)

    variants = {slip: (lambda params, slip=slip: _AdamVariant(params, slip), message)
                for slip, message in _adam_slips().items()}
    verdict = _compare(what, hint, build, reference, variants, LR, "torch.optim.AdamW")
    if verdict is None:
        verdict = _state_kept(what, hint, build)
    if verdict is not None:
        return verdict
    return right(what, tr("{count} steps equal torch.optim.AdamW's, with one parameter group and with two, and "
                          "the moments live in self.state", count=NUM_STEPS))


def check_sgdw(cls: Any) -> CheckResult:
    """Does the learner's ``cls(params, lr, momentum, weight_decay)`` make :class:`SGDWReference`'s steps (SGD with
    momentum and decoupled decay), with one parameter group and with two, and keep its buffer in ``self.state``?"""
    what = tr("your SGDW")
    hint = tr("shrink each weight by (1 − lr·λ) in place first, with that group's lr and weight_decay (section 1); "
              "then lesson 03's momentum step on the plain gradient, its buffer kept in self.state[p] (section 5's "
              "MySGD).")
    verdict = _start(what, cls)
    if verdict is not None:
        return verdict

    def build(params: Any) -> Any:
        return cls(params, lr=SGD_LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

    variants = {slip: (lambda params, slip=slip: SGDWReference(params, slip=slip), message)
                for slip, message in _sgdw_slips().items()}
    verdict = _compare(what, hint, build, SGDWReference, variants, SGD_LR, "SGDW")
    if verdict is None:
        verdict = _state_kept(what, hint, build)
    if verdict is not None:
        return verdict
    got = _trajectory(build, False, SGD_LR)[-1]
    l2 = _trajectory(lambda params: torch.optim.SGD(params, lr=SGD_LR, momentum=MOMENTUM,
                                                    weight_decay=WEIGHT_DECAY), False, SGD_LR)[-1]
    gap = max(float((p - q).abs().max()) for p, q in zip(got, l2, strict=True))
    return right(what, tr("{count} steps equal SGDW's, with one parameter group and with two; they differ from "
                          "torch.optim.SGD(momentum={momentum}, weight_decay={weight_decay})'s L2 steps by up to "
                          "{gap:.2g}, because the decay no longer goes through the momentum buffer",
                          count=NUM_STEPS, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, gap=gap))
