"""Learning-rate schedules written as formulas of the step number, and the same curves read off
``torch.optim.lr_scheduler`` so that the two can be compared.

Every schedule here is stepped once per optimizer step ("per batch"): ``lr_at(step)`` is the learning
rate of the update with index ``step`` (0-based), which is what ``optimizer.param_groups[0]["lr"]``
holds when that update runs, after ``step`` calls of ``scheduler.step()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lessons_src.language import tr
from lessons_src.validation import as_int, as_real

SCHEDULE_NAMES = ("constant", "step", "warmup_cosine", "one_cycle")


def step_decay(step: int, base_lr: float, step_size: int, gamma: float) -> float:
    """lr · γ^⌊step / step_size⌋: divide by 1/γ every ``step_size`` steps (``StepLR``)."""
    return base_lr * gamma ** (step // step_size)


def linear_warmup(step: int, base_lr: float, warmup_steps: int, start_factor: float) -> float:
    """From ``start_factor`` · lr up to lr in a straight line over ``warmup_steps`` steps, then lr (``LinearLR``)."""
    if warmup_steps == 0:
        return base_lr
    return base_lr * (start_factor + (1 - start_factor) * min(step, warmup_steps) / warmup_steps)


def cosine_decay(step: int, base_lr: float, total_steps: int, min_lr: float) -> float:
    """Half a cosine from lr at step 0 down to ``min_lr`` at ``total_steps`` (``CosineAnnealingLR``)."""
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)) / 2


def warmup_cosine(step: int, base_lr: float, total_steps: int, warmup_steps: int, start_factor: float,
                  min_lr: float) -> float:
    """Linear warm-up for ``warmup_steps`` steps, then cosine decay over the remaining steps."""
    if step < warmup_steps:
        return linear_warmup(step, base_lr, warmup_steps, start_factor)
    return cosine_decay(step - warmup_steps, base_lr, total_steps - warmup_steps, min_lr)


def one_cycle(step: int, max_lr: float, total_steps: int, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 1e4) -> float:
    """Smith's one-cycle (``OneCycleLR``, cosine, two phases): from max_lr / div_factor up to max_lr over the
    first ``pct_start`` of the steps, then down to max_lr / (div_factor · final_div_factor) at the last step."""
    initial, final = max_lr / div_factor, max_lr / div_factor / final_div_factor
    peak = pct_start * total_steps - 1  # the step at which lr reaches max_lr (PyTorch's convention)
    if step <= peak:
        start, end, fraction = initial, max_lr, step / peak
    else:
        start, end, fraction = max_lr, final, (step - peak) / (total_steps - 1 - peak)
    return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2


@dataclass(frozen=True)
class Schedule:
    """A named schedule with its settings, as the explorer and the lesson's table use it."""

    name: str  # one of SCHEDULE_NAMES
    lr: float  # the peak (or constant) learning rate
    total_steps: int
    warmup_fraction: float = 0.05  # warmup_cosine: share of the steps spent warming up
    step_fraction: float = 1 / 3  # step: lr ÷ 10 after every such share of the steps
    pct_start: float = 0.3  # one_cycle: share of the steps spent rising

    def __post_init__(self) -> None:
        if self.name not in SCHEDULE_NAMES:
            raise ValueError(tr("{name} must be one of {choices}, got {value}", name="name", choices=SCHEDULE_NAMES,
                                value=repr(self.name)))
        as_real("lr", self.lr, low=0.0, low_open=True)
        as_int("total_steps", self.total_steps, low=2)
        as_real("warmup_fraction", self.warmup_fraction, low=0.0, high=1.0, high_open=True)
        as_real("step_fraction", self.step_fraction, low=0.0, high=1.0, low_open=True)
        as_real("pct_start", self.pct_start, low=0.0, high=1.0, low_open=True, high_open=True)
        if self.name == "one_cycle" and not 1 <= self.pct_start * self.total_steps - 1 < self.total_steps - 1:
            raise ValueError(tr("pct_start={pct_start} leaves no rising or no falling phase in {total_steps} steps; "
                                "choose pct_start in [{low}, 1)", pct_start=self.pct_start,
                                total_steps=self.total_steps, low=f"{2 / self.total_steps:.3g}"))

    @property
    def warmup_steps(self) -> int:
        return round(self.warmup_fraction * self.total_steps)

    @property
    def step_size(self) -> int:
        return max(1, round(self.step_fraction * self.total_steps))

    def lr_at(self, step: int) -> float:
        """The learning rate of update ``step`` (0-based)."""
        if self.name == "constant":
            return self.lr
        if self.name == "step":
            return step_decay(step, self.lr, self.step_size, 0.1)
        if self.name == "warmup_cosine":
            return warmup_cosine(step, self.lr, self.total_steps, self.warmup_steps, 0.01, 0.0)
        return one_cycle(step, self.lr, self.total_steps, self.pct_start)

    def curve(self) -> np.ndarray:
        """lr of every update, shape (total_steps,)."""
        return np.array([self.lr_at(step) for step in range(self.total_steps)])

    def torch_scheduler(self, optimizer: torch.optim.Optimizer):
        """The same schedule as a ``torch.optim.lr_scheduler`` object on ``optimizer`` (step it every batch)."""
        from torch.optim import lr_scheduler

        for group in optimizer.param_groups:
            group["lr"] = self.lr
        if self.name == "constant":
            return lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        if self.name == "step":
            return lr_scheduler.StepLR(optimizer, step_size=self.step_size, gamma=0.1)
        if self.name == "one_cycle":
            return lr_scheduler.OneCycleLR(optimizer, max_lr=self.lr, total_steps=self.total_steps,
                                           pct_start=self.pct_start, cycle_momentum=False)
        decay = lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.total_steps - self.warmup_steps, eta_min=0.0)
        if self.warmup_steps == 0:
            return decay
        warmup = lr_scheduler.LinearLR(optimizer, start_factor=0.01, end_factor=1.0, total_iters=self.warmup_steps)
        return lr_scheduler.SequentialLR(optimizer, [warmup, decay], milestones=[self.warmup_steps])


def torch_curve(make_scheduler: Callable[[torch.optim.Optimizer], object], base_lr: float,
                total_steps: int) -> np.ndarray:
    """The lr PyTorch uses at each of ``total_steps`` updates with the scheduler ``make_scheduler(optimizer)``."""
    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=base_lr)
    scheduler = make_scheduler(optimizer)
    lrs = []
    for _ in range(total_steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(lrs)
