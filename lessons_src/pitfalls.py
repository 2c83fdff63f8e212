"""Classic training mistakes, reproduced on purpose so they can be measured (lesson 10).

Each helper builds the buggy variant next to the correct one with everything else equal, and
returns data (losses, accuracies, byte counts); the notebook measures and asserts the effect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from lessons_src.language import tr
from lessons_src.models import TutorialMLP
from lessons_src.training import model_device
from lessons_src.validation import as_int, as_real, validate_hyperparameters

# The three ways of ordering (or forgetting) the calls of one training step.
STEP_ORDERS = ("zero_backward_step", "backward_step_zero", "no_zero_grad")


def tutorial_mlp(*, relu_on_logits: bool = False) -> TutorialMLP:
    """PyTorch's tutorial network; ``relu_on_logits=True`` adds the sources' extra ``nn.ReLU()`` at the end.

    The ReLU has no parameters, so both variants draw the same initial weights after the same
    ``set_seed``: any difference in training comes from the ReLU alone.
    """
    model = TutorialMLP()
    if relu_on_logits:
        model.linear_relu_stack.append(nn.ReLU())
    return model


class DropoutBatchNormMLP(nn.Module):
    """784 → 256 → 10 with BatchNorm1d and Dropout(p) in the hidden layer; logits out (for eval-mode demos)."""

    def __init__(self, p: float = 0.5) -> None:
        """Build the layers; ``p`` is the dropout probability in [0, 1)."""
        super().__init__()
        p = as_real("p", p, low=0.0, high=1.0, high_open=True)
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 256), nn.BatchNorm1d(256), nn.ReLU(),
                                    nn.Dropout(p), nn.Linear(256, 10))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Map images (batch, 1, 28, 28) to logits (batch, 10)."""
        return self.layers(X)


def train_steps(model: nn.Module, loader: Iterable, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                *, order: str = "zero_backward_step", max_steps: int | None = None) -> list[float]:
    """Train over ``loader`` with the step calls in ``order`` (one of STEP_ORDERS); return every batch's loss.

    Unlike ``training.train_epoch`` it never stops on NaN: the point is to watch what a mistake does.
    """
    if order not in STEP_ORDERS:
        raise ValueError(tr("{name} must be one of {choices}, got {value}", name="order", choices=STEP_ORDERS,
                            value=repr(order)))
    if max_steps is not None:
        max_steps = as_int("max_steps", max_steps)
    device = model_device(model)
    model.train()
    losses = []
    for X, y in loader:
        if max_steps is not None and len(losses) >= max_steps:
            break
        loss = loss_fn(model(X.to(device)), y.to(device))
        if order == "zero_backward_step":
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        elif order == "backward_step_zero":  # source tutorial 001's order
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        else:  # no zero_grad: backward() adds this batch's gradient to all earlier ones
            loss.backward()
            optimizer.step()
        losses.append(loss.item())
    return losses


def mean_test_losses(model: nn.Module, loader: Iterable, loss_fn: Callable) -> dict[str, float]:
    """Three ways of averaging the batch losses of ``loss_fn`` (a mean per batch) over ``loader``, in eval mode.

    "per batch": Σ batch means / number of batches (what ``training.evaluate`` returns);
    "per example": Σ batch mean × batch size / number of examples (the mean over every example);
    "sum / examples": Σ batch means / number of examples, the source tutorials' bug (≈ batch_size times too small).
    The first two differ only when the batches differ in size (a smaller last batch).
    """
    device = model_device(model)
    model.eval()
    total, weighted, num_batches, num_examples = 0.0, 0.0, 0, 0
    with torch.no_grad():
        for X, y in loader:
            loss = loss_fn(model(X.to(device)), y.to(device)).item()  # already a mean over the batch
            total, weighted = total + loss, weighted + loss * len(y)
            num_batches, num_examples = num_batches + 1, num_examples + len(y)
    if num_batches == 0:
        raise ValueError(tr("{loader} gave no batches", loader="loader"))
    return {"per batch": total / num_batches, "per example": weighted / num_examples,
            "sum / examples": total / num_examples}


def sort_by_class(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(X, y) reordered so that labels ascend: all 0s, then all 1s, ... (stable, so ties keep their order)."""
    order = torch.sort(y, stable=True).indices
    return X[order], y[order]


def saved_tensor_bytes(fn: Callable[[], torch.Tensor]) -> int:
    """Bytes of the tensors autograd saves for backward while ``fn()`` runs (0 under ``torch.no_grad``)."""
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return total


@dataclass(frozen=True)
class TrainConfig:
    """All hyper-parameters under one name each; frozen, so ``config.epoch = 10`` raises instead of being ignored."""

    lr: float
    batch_size: int
    num_epochs: int

    def __post_init__(self) -> None:
        validate_hyperparameters(lr=self.lr, batch_size=self.batch_size, num_epochs=self.num_epochs)


@dataclass(frozen=True)
class BuggySnippet:
    """A "find the bug" exercise: ``code`` whose line number ``line`` (from 1) is wrong for the reason
    ``why``; ``fix`` is what that line should say (it may be several lines, or empty: delete it).
    ``reason()`` gives ``why`` in the language in use when it is read."""

    code: str
    line: int
    reason: Callable[[], str]
    fix: str

    @property
    def why(self) -> str:
        """Why the line is wrong, in the language the helpers speak now."""
        return self.reason()

    def fixed_code(self) -> str:
        """The code with the buggy line replaced by the fix."""
        lines = self.code.splitlines(keepends=True)
        lines[self.line - 1] = self.fix
        return "".join(lines)


BUGGY_SNIPPETS: dict[str, BuggySnippet] = {
    "train": BuggySnippet("""\
for X, y in train_loader:
    logits = model(X)
    loss = loss_fn(logits, y)
    loss.backward()
    optimizer.step()
""", 4, lambda: tr("no optimizer.zero_grad() before loss.backward(): the gradients of all batches add up"),
        "    optimizer.zero_grad()\n    loss.backward()\n"),
    "evaluate": BuggySnippet("""\
model.eval()
total_loss = 0.0
with torch.no_grad():
    for X, y in test_loader:
        total_loss += loss_fn(model(X), y).item()
test_loss = total_loss / len(test_loader.dataset)
""", 6, lambda: tr("the loss is already a mean per batch: divide by len(test_loader), the number of batches"),
        "test_loss = total_loss / len(test_loader)\n"),
    "accuracy": BuggySnippet("""\
model.eval()
correct = 0
with torch.no_grad():
    for X, y in test_loader:
        predicted = model(X).argmax(0)
        correct += (predicted == y).sum().item()
""", 5, lambda: tr("argmax(0) takes the largest row of each class; the prediction is argmax(1), over the classes"),
        "        predicted = model(X).argmax(1)\n"),
    "model": BuggySnippet("""\
model = nn.Sequential(
    nn.Flatten(),
    nn.Linear(784, 512),
    nn.ReLU(),
    nn.Linear(512, 10),
    nn.ReLU(),
)
""", 6, lambda: tr("a ReLU after the last layer clips the logits at 0, and clipped logits get no gradient"), ""),
}


def accuracy_in_batches(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    """Accuracy in [0, 1] over (X, y) fed in batches of ``batch_size``, without gradients and *without*
    changing the mode."""
    batch_size = as_int("batch_size", batch_size, low=1)
    device = model_device(model)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            output = model(X[start:start + batch_size].to(device))
            correct += (output.argmax(dim=1).cpu() == y[start:start + batch_size]).sum().item()
    return correct / len(X)
