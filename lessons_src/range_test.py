"""The learning-rate range test (L. Smith 2017; fastai's ``lr_find``): train for a few hundred steps while
the learning rate grows exponentially, and read off where the loss falls fastest and where it blows up.

The model and optimizer are trained on copies: after the test they are exactly as they were.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from torch import nn

from lessons_src.language import tr
from lessons_src.validation import as_int, as_real


@dataclass(frozen=True)
class RangeTest:
    """What one range test measured; every array has one entry per step taken."""

    lrs: np.ndarray  # the lr of each step, growing by the same factor every step
    losses: np.ndarray  # each step's training-batch loss
    smoothed: np.ndarray  # exponential moving average of the losses, bias-corrected
    stopped_early: bool  # True when the smoothed loss passed ``blow_up`` × its minimum before the last step

    @property
    def min_loss_lr(self) -> float:
        """The lr at which the smoothed loss is lowest: already too large to train with."""
        return float(self.lrs[int(np.argmin(self.smoothed))])

    @property
    def steepest_lr(self) -> float:
        """The lr where the smoothed loss falls fastest per factor of lr (before its minimum)."""
        end = int(np.argmin(self.smoothed)) + 1
        if end < 3:
            raise ValueError(tr("the loss never fell: start the range test at a smaller lr_min"))
        slope = np.gradient(self.smoothed[:end], np.log(self.lrs[:end]))
        return float(self.lrs[int(np.argmin(slope))])


def exponential_lrs(lr_min: float, lr_max: float, num_steps: int) -> np.ndarray:
    """``num_steps`` learning rates from lr_min to lr_max, each the previous one times the same factor."""
    return lr_min * (lr_max / lr_min) ** (np.arange(num_steps) / (num_steps - 1))


def smooth(losses: np.ndarray, beta: float = 0.9) -> np.ndarray:
    """Exponential moving average with Adam's bias correction: a_t = β·a_{t−1} + (1 − β)·x_t, ÷ (1 − β^t)."""
    average, out = 0.0, []
    for t, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * float(loss)
        out.append(average / (1 - beta**t))
    return np.array(out)


def lr_range_test(model: nn.Module, loader: Iterable, loss_fn: Callable, make_optimizer: Callable, *,
                  lr_min: float = 1e-5, lr_max: float = 10.0, num_steps: int = 200, beta: float = 0.9,
                  blow_up: float = 4.0) -> RangeTest:
    """Train a copy of ``model`` for up to ``num_steps`` batches of ``loader`` (cycling if needed), with lr
    growing from ``lr_min`` to ``lr_max``; stop once the smoothed loss exceeds ``blow_up`` × its minimum.

    ``make_optimizer(parameters)`` builds the optimizer to test (its lr is overwritten every step), e.g.
    ``lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9)``. ``model`` itself is not changed.
    """
    lr_min = as_real("lr_min", lr_min, low=0.0, low_open=True)
    lr_max = as_real("lr_max", lr_max, low=lr_min, low_open=True)
    num_steps = as_int("num_steps", num_steps, low=3)
    beta = as_real("beta", beta, low=0.0, high=1.0, high_open=True)
    blow_up = as_real("blow_up", blow_up, low=1.0, low_open=True)
    trial = copy.deepcopy(model)
    trial.train()
    device = next(trial.parameters()).device  # batches go where the weights are (the GPU when there is one)
    optimizer = make_optimizer(trial.parameters())
    lrs = exponential_lrs(lr_min, lr_max, num_steps)
    losses: list[float] = []
    best, average = math.inf, 0.0
    batches = iter(loader)
    stopped_early = False
    for step, lr in enumerate(lrs):
        try:
            X, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            X, y = next(batches)
        X, y = X.to(device), y.to(device)
        for group in optimizer.param_groups:
            group["lr"] = float(lr)
        loss = loss_fn(trial(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        average = beta * average + (1 - beta) * losses[-1]
        smoothed = average / (1 - beta ** (step + 1))
        best = min(best, smoothed)
        if not math.isfinite(smoothed) or smoothed > blow_up * best:
            stopped_early = step < num_steps - 1
            break
    taken = len(losses)
    return RangeTest(lrs[:taken], np.array(losses), smooth(np.array(losses), beta), stopped_early)
