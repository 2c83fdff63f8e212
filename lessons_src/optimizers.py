"""Optimizers written out as ``torch.optim.Optimizer`` subclasses, and the helpers of weight decay and clipping.

- :class:`MomentumSGD` is lesson 03's momentum step (``b = μ·b + g; w -= lr·b``, Nesterov optional) with
  an L2 ``weight_decay``: ``param_groups`` hold the hyper-parameters, ``state[p]`` the momentum buffer.
  It makes the same steps as ``torch.optim.SGD(momentum=…, nesterov=…, weight_decay=…)``.
- :class:`PlainAdam` is lesson 04's Adam with torch's L2 ``weight_decay`` (added to the gradient, so it
  goes through the moment estimates); it makes the same steps as ``torch.optim.Adam``.
- :func:`decay_groups` splits a model's parameters into the two groups weight decay is usually given:
  matrices (decayed) and biases and normalization weights (not decayed).
- :func:`total_grad_norm` is the norm ``torch.nn.utils.clip_grad_norm_`` measures (and optionally clips).

The package's ``Optimizer`` base class does the bookkeeping: ``state_dict()``/``load_state_dict()`` save
and restore ``param_groups`` and ``state`` for any subclass, so checkpoints work unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from lessons_src.language import tr
from lessons_src.validation import as_real

__all__ = ["MomentumSGD", "PlainAdam", "decay_groups", "total_grad_norm", "weight_norm"]



def _loss_of(closure: Callable[[], Any] | None) -> Any:
    """``closure()``'s loss, computed with gradients enabled as torch.optim does, or None without a closure."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class MomentumSGD(torch.optim.Optimizer):
    """SGD with momentum as lesson 03 wrote it, as an Optimizer: per parameter, with g = ∇L + weight_decay·w,
    ``b = momentum·b + g`` (b = g at the first step) and ``w -= lr·b`` (``w -= lr·(g + momentum·b)`` with
    Nesterov). Same steps as ``torch.optim.SGD`` with ``dampening=0``."""

    def __init__(self, params: Iterable, lr: float, momentum: float = 0.0, *, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        lr = as_real("lr", lr, low=0.0, low_open=True)
        momentum = as_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
        weight_decay = as_real("weight_decay", weight_decay, low=0.0)
        if nesterov and momentum == 0:
            raise ValueError(tr("nesterov=True needs a momentum > 0, got momentum = 0; pass e.g. momentum=0.9"))
        defaults = {"lr": lr, "momentum": momentum, "nesterov": bool(nesterov), "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss when given one."""
        loss = _loss_of(closure)
        for group in self.param_groups:
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if wd == 0 else p.grad.add(p, alpha=wd)  # + the L2 term's gradient, d(wd/2·‖w‖²)/dw
                if momentum:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = g.clone()  # b_1 = g_1 (μ·0 + g_1)
                    else:
                        state["momentum_buffer"].mul_(momentum).add_(g)  # b = μ·b + g
                    b = state["momentum_buffer"]
                    g = g.add(b, alpha=momentum) if group["nesterov"] else b
                p.add_(g, alpha=-lr)  # w ← w − lr·b
        return loss


class PlainAdam(torch.optim.Optimizer):
    """Adam (Kingma & Ba 2015) as lesson 04 wrote it, as an Optimizer: per parameter, with g = ∇L + weight_decay·w,
    ``m = β1·m + (1 − β1)·g``, ``v = β2·v + (1 − β2)·g²`` and ``w -= lr·m̂ / (√v̂ + eps)`` with the bias
    corrections ``m̂ = m / (1 − β1^t)``, ``v̂ = v / (1 − β2^t)``. Same steps as ``torch.optim.Adam``."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        lr = as_real("lr", lr, low=0.0, low_open=True)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(tr("betas must be a pair (beta1, beta2), each in [0, 1), e.g. (0.9, 0.999); got {value}",
                                value=repr(betas)))
        beta1 = as_real("betas[0]", betas[0], low=0.0, high=1.0, high_open=True)
        beta2 = as_real("betas[1]", betas[1], low=0.0, high=1.0, high_open=True)
        eps = as_real("eps", eps, low=0.0)
        weight_decay = as_real("weight_decay", weight_decay, low=0.0)
        super().__init__(params, {"lr": lr, "betas": (beta1, beta2), "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss when given one."""
        loss = _loss_of(closure)
        for group in self.param_groups:
            (beta1, beta2), wd = group["betas"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if wd == 0 else p.grad.add(p, alpha=wd)  # L2: the decay goes through m and v
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(g, 1 - beta1)  # m = β1·m + (1 − β1)·g
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v = β2·v + (1 − β2)·g²
                step_size = group["lr"] / (1 - beta1**t)
                denominator = (v.sqrt() / math.sqrt(1 - beta2**t)).add_(group["eps"])  # √v̂ + eps
                p.addcdiv_(m, denominator, value=-step_size)
        return loss


def decay_groups(model: nn.Module | Iterable[torch.Tensor], weight_decay: float) -> list[dict[str, Any]]:
    """Two parameter groups for an optimizer: ``[{"params": matrices, "weight_decay": weight_decay, "names": ...},
    {"params": biases and normalization weights, "weight_decay": 0.0, "names": ...}]``.

    A parameter with one dimension (a bias, a BatchNorm/LayerNorm scale or shift) sets an offset or a scale,
    not a direction in input space; shrinking it towards 0 does not regularize, so it is not decayed.
    ``model`` may also be an iterable of parameters (``model.parameters()``); they are then named by position.
    """
    weight_decay = as_real("weight_decay", weight_decay, low=0.0)
    named = model.named_parameters() if isinstance(model, nn.Module) else enumerate(model)
    decayed, kept = [], []
    for name, p in named:
        if not isinstance(p, torch.Tensor):
            raise TypeError(tr("model must be an nn.Module or an iterable of parameters, got a {type} in it",
                               type=type(p).__name__))
        if p.requires_grad:
            (kept if p.dim() <= 1 else decayed).append((str(name), p))
    return [{"params": [p for _, p in group], "names": [n for n, _ in group], "weight_decay": wd}
            for group, wd in ((decayed, weight_decay), (kept, 0.0))]


def total_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float | None = None) -> torch.Tensor:
    """‖g‖, the 2-norm of all the parameters' gradients together (0-d tensor, no device sync); with ``max_norm``,
    the gradients are then multiplied by min(1, max_norm / (‖g‖ + 1e-6)), as ``clip_grad_norm_`` does."""
    every = list(parameters)
    parameters = [p for p in every if p.grad is not None]
    if not parameters:  # 0 on the parameters' device, so that it stacks with the other steps' norms
        return torch.zeros((), device=every[0].device if every else None)
    if max_norm is None:
        return torch.nn.utils.get_total_norm([p.grad for p in parameters]).detach()
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm).detach()


def weight_norm(model: nn.Module, *, matrices_only: bool = True) -> float:
    """‖w‖, the 2-norm of the model's weights together (only those with 2 or more dimensions by default)."""
    with torch.no_grad():
        norms = [p.norm() for p in model.parameters() if p.dim() >= 2 or not matrices_only]
        return float(torch.stack(norms).norm()) if norms else 0.0
