"""Lesson 12's self-checks: a right answer passes, each usual slip is named, and nothing raises."""

from __future__ import annotations

import pytest
import torch

from lessons_src.checks import check_adamw, check_clip_grad_norm


class AdamW(torch.optim.Optimizer):
    """The answer the exercise asks for, with switches for the slips the check names."""

    slip = None

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            settings = self.defaults if self.slip == "groups" else group
            lr, wd, (beta1, beta2), eps = settings["lr"], settings["weight_decay"], group["betas"], group["eps"]
            for p in group["params"]:
                g = p.grad + wd * p if self.slip == "coupled" else p.grad
                if self.slip not in ("coupled", "unscaled"):
                    p.mul_(1 - lr * wd)
                if self.slip == "unscaled":
                    p.mul_(1 - wd)
                kept = self.state if self.slip != "no state" else self.__dict__.setdefault("own", {})
                state = kept.setdefault(p, {})
                if not state:
                    state.update(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                if self.slip != "forget":
                    state["t"] += 1
                else:
                    state["t"] = 1
                t, m, v = state["t"], state["m"], state["v"]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                if self.slip == "no correction":
                    p.sub_(lr * m / (v.sqrt() + eps))
                else:
                    p.sub_(lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps))


def with_slip(slip):
    return type(f"AdamW_{slip}", (AdamW,), {"slip": slip})


def test_a_right_adamw_passes_and_torch_adamw_too():
    assert check_adamw(AdamW)
    assert check_adamw(torch.optim.AdamW)


@pytest.mark.parametrize(("slip", "words"), [
    ("coupled", "L2 penalty"), ("unscaled", "(1 − weight_decay)"), ("no correction", "bias corrections"),
    ("groups", "two parameter groups"), ("forget", "steps 1 to"), ("no state", "self.state is empty")])
def test_each_slip_is_named(slip, words):
    result = check_adamw(with_slip(slip))
    assert not result and words in result.message, result.message


def test_torch_adam_is_named_as_the_l2_penalty():
    result = check_adamw(torch.optim.Adam)
    assert not result and "L2 penalty" in result.message


def test_no_answer_a_non_optimizer_and_a_crash_do_not_raise():
    assert "no answer yet" in check_adamw(...).message
    assert "subclass of torch.optim.Optimizer" in check_adamw(int).message

    class Broken(AdamW):
        def step(self, closure=None):
            raise RuntimeError("oops")

    assert "raised RuntimeError: oops" in check_adamw(Broken).message

    class Placeholder(torch.optim.Optimizer):
        def __init__(self, params, lr, betas, eps, weight_decay):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            ...

    assert "no answer yet" in check_adamw(Placeholder).message

    class DoesNothing(Placeholder):
        def step(self, closure=None):
            return None

    assert "leaves the weights as they were" in check_adamw(DoesNothing).message


def clip(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    if norm > max_norm:
        for g in grads:
            g.mul_(max_norm / (norm + 1e-6))
    return norm


def test_a_right_clip_passes_and_torch_too():
    assert check_clip_grad_norm(clip)
    assert check_clip_grad_norm(torch.nn.utils.clip_grad_norm_)


def per_tensor(parameters, max_norm):
    total = torch.sqrt(sum((p.grad**2).sum() for p in parameters))
    for p in parameters:
        p.grad.mul_(min(1.0, max_norm / (float(p.grad.norm()) + 1e-6)))
    return total


def always_scales(parameters, max_norm):
    norm = torch.sqrt(sum((p.grad**2).sum() for p in parameters))
    for p in parameters:
        p.grad.mul_(max_norm / (norm + 1e-6))
    return norm




def after(parameters, max_norm):
    clip(parameters, max_norm)
    return torch.sqrt(sum((p.grad**2).sum() for p in parameters))


def new_grads(parameters, max_norm):
    return torch.sqrt(sum((p.grad**2).sum() for p in parameters))


@pytest.mark.parametrize(("fn", "words"), [(per_tensor, "on its own"), (always_scales, "scaled up"),
                                          (after, "after clipping"), (new_grads, "did not change")])
def test_each_clip_slip_is_named(fn, words):
    result = check_clip_grad_norm(fn)
    assert not result and words in result.message, result.message


def test_the_sum_of_squares_is_named():
    def sum_of_squares(parameters, max_norm):
        total = sum((p.grad**2).sum() for p in parameters)
        clip(parameters, max_norm)
        return total

    result = check_clip_grad_norm(sum_of_squares)
    assert not result and "square root" in result.message


def test_clip_no_answer_and_crash():
    assert "no answer yet" in check_clip_grad_norm(...).message

    def placeholder(parameters, max_norm):
        ...

    assert "no answer yet" in check_clip_grad_norm(placeholder).message
    assert "raised ZeroDivisionError" in check_clip_grad_norm(lambda p, m: 1 / 0).message
    assert "returns nothing" in check_clip_grad_norm(lambda p, m: None).message
