"""Lesson 12's self-checks: a right answer passes, each usual slip is named, and nothing raises."""

from __future__ import annotations

import pytest
import torch

from lessons_src.checks import check_adamw, check_sgdw
from lessons_src.optimizer_checks import MOMENTUM, SGD_LR, WEIGHT_DECAY, SGDWReference


class AdamW(torch.optim.Optimizer):
    """The answer the exercise asks for, with switches for the slips the check names."""

    slip = None

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})
        self.shared_t = 0

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            settings = self.defaults if self.slip == "groups" else group
            lr, wd, (beta1, beta2), eps = settings["lr"], settings["weight_decay"], group["betas"], group["eps"]
            for p in group["params"]:
                g = p.grad + wd * p if self.slip == "coupled" else p.grad
                if self.slip not in ("coupled", "unscaled", "none", "after"):
                    p.mul_(1 - lr * wd)
                if self.slip == "unscaled":
                    p.mul_(1 - wd)
                kept = self.state if self.slip != "no state" else self.__dict__.setdefault("own", {})
                state = kept.setdefault(p, {})
                if not state:
                    state.update(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["t"] = 1 if self.slip == "forget" else state["t"] + 1
                self.shared_t += 1
                t, m, v = self.shared_t if self.slip == "shared t" else state["t"], state["m"], state["v"]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                if self.slip == "no correction":
                    update = lr * m / (v.sqrt() + eps)
                else:
                    update = lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps)
                if self.slip == "rebind":
                    p = p - update  # noqa: PLW2901 (the slip under test)
                else:
                    p.sub_(update)
                if self.slip == "after":
                    p.mul_(1 - lr * wd)


def with_slip(cls, slip):
    return type(f"{cls.__name__}_{slip}", (cls,), {"slip": slip})


def test_a_right_adamw_passes_and_torch_adamw_too():
    assert check_adamw(AdamW)
    assert check_adamw(torch.optim.AdamW)


@pytest.mark.parametrize(("slip", "words"), [
    ("coupled", "L2 penalty"), ("unscaled", "(1 − weight_decay)"), ("no correction", "bias corrections"),
    ("groups", "default lr and weight_decay"), ("forget", "steps 1 to"), ("no state", "self.state is empty"),
    ("none", "no weight decay at all"), ("after", "applied after the step"), ("rebind", "p = p - …"),
    ("shared t", "shared by all the parameters")])
def test_each_adamw_slip_is_named(slip, words):
    result = check_adamw(with_slip(AdamW, slip))
    assert not result and words in result.message, result.message


def test_the_group_slip_names_the_groups_once():
    message = check_adamw(with_slip(AdamW, "groups")).message
    assert message.count("two parameter groups") == 1, message


def test_torch_adam_is_named_as_the_l2_penalty():
    result = check_adamw(torch.optim.Adam)
    assert not result and "L2 penalty" in result.message


def test_no_answer_a_non_optimizer_and_a_crash_do_not_raise():
    for check in (check_adamw, check_sgdw):
        assert "no answer yet" in check(...).message
        assert "subclass of torch.optim.Optimizer" in check(int).message

    class Broken(AdamW):
        def step(self, closure=None):
            raise RuntimeError("oops")

    assert "raised RuntimeError: oops" in check_adamw(Broken).message
    assert "raised TypeError" in check_sgdw(Broken).message  # AdamW's __init__ has no momentum argument

    class Placeholder(torch.optim.Optimizer):
        def __init__(self, params, **kwargs):
            super().__init__(params, {"lr": 0.1})

        def step(self, closure=None):
            ...

    assert "no answer yet" in check_adamw(Placeholder).message
    assert "no answer yet" in check_sgdw(Placeholder).message

    class DoesNothing(Placeholder):
        def step(self, closure=None):
            return None

    assert "leaves the weights as they were" in check_adamw(DoesNothing).message
    assert "leaves the weights as they were" in check_sgdw(DoesNothing).message


class SGDW(torch.optim.Optimizer):
    """The exercise's answer written as a learner would, with switches for the slips."""

    slip = None

    def __init__(self, params, lr, momentum=0.9, weight_decay=1e-2):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            settings = self.defaults if self.slip == "groups" else group
            lr, wd, mu = settings["lr"], settings["weight_decay"], settings["momentum"]
            for p in group["params"]:
                g = p.grad + wd * p if self.slip == "coupled" else p.grad
                if self.slip not in ("coupled", "unscaled", "none", "after"):
                    p.mul_(1 - lr * wd)
                if self.slip == "unscaled":
                    p.mul_(1 - wd)
                kept = self.state if self.slip != "no state" else self.__dict__.setdefault("own", {})
                state = kept.setdefault(p, {})
                if "b" not in state or self.slip == "no buffer":
                    state["b"] = torch.zeros_like(p)
                b = state["b"].mul_(mu).add_(g, alpha=1 - mu if self.slip == "dampening" else 1)
                if self.slip == "rebind":
                    p = p - lr * b  # noqa: PLW2901 (the slip under test)
                else:
                    p -= lr * b
                if self.slip == "after":
                    p.mul_(1 - lr * wd)


def test_a_right_sgdw_passes_and_names_its_gap_to_sgd_with_l2():
    result = check_sgdw(SGDW)
    assert result and "differ from torch.optim.SGD" in result.message, result.message


def test_the_reference_is_sgd_with_momentum_after_a_shrink_and_not_sgd_with_l2():
    def run(step_rule):
        w = torch.ones(5, requires_grad=True)
        step = step_rule([w])
        for k in range(20):
            w.grad = torch.randn(5, generator=torch.Generator().manual_seed(k))
            step()
        return w.detach()

    def shrink_then_sgd(params):
        optimizer = torch.optim.SGD(params, lr=SGD_LR, momentum=MOMENTUM)

        def step():
            with torch.no_grad():
                for p in params:
                    p.mul_(1 - SGD_LR * WEIGHT_DECAY)  # w ← w·(1 − lr·λ), then torch's momentum step
            optimizer.step()
        return step

    reference = run(lambda params: SGDWReference(params).step)
    assert torch.allclose(reference, run(shrink_then_sgd), atol=1e-6)
    l2 = run(lambda params: torch.optim.SGD(params, lr=SGD_LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY).step)
    assert (reference - l2).abs().max() > 1e-3


@pytest.mark.parametrize(("slip", "words"), [
    ("coupled", "torch.optim.SGD(momentum=…, weight_decay=…)"), ("none", "no weight decay at all"),
    ("unscaled", "(1 − weight_decay)"), ("after", "applied after the step"), ("groups", "default lr"),
    ("rebind", "p = p - …"), ("no buffer", "not kept between steps"), ("dampening", "(1 − μ)·g"),
    ("no state", "self.state is empty")])
def test_each_sgdw_slip_is_named(slip, words):
    result = check_sgdw(with_slip(SGDW, slip))
    assert not result and words in result.message, result.message


def test_torch_sgd_with_weight_decay_is_named_as_the_l2_penalty():
    result = check_sgdw(torch.optim.SGD)
    assert not result and "L2 penalty" in result.message, result.message
