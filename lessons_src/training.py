"""Training and evaluation loops that return records: ``fit(...) -> History``.

The loops never print or plot. A progress bar is an argument (``progress=True`` shows tqdm) and
a live curve is a callback (``on_epoch_end=LiveCurve(...)``). Everything runs on the device the
model's parameters are on; batches are moved there.

The fast path: :class:`TensorLoader` serves mini-batches from tensors prepared once, in the order
of an :class:`EpochSampler`. Give a ``DataLoader`` the same sampler and both loaders yield the
same batches, so training gives the same losses, only faster.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Sampler
from tqdm.auto import tqdm


# --- hyper-parameters -------------------------------------------------------------------------
def check_hyperparameters(*, lr: float | None = None, batch_size: int | None = None,
                          num_epochs: int | None = None, momentum: float | None = None) -> None:
    """Raise ValueError naming the first argument outside its allowed range; None means unchecked."""
    if lr is not None and not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if num_epochs is not None and (not isinstance(num_epochs, int) or isinstance(num_epochs, bool)
                                   or num_epochs < 0):
        raise ValueError(f"num_epochs must be an int >= 0, got {num_epochs!r}")
    if momentum is not None and not (isinstance(momentum, int | float) and 0 <= momentum < 1):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a model without parameters)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


# --- batches ------------------------------------------------------------------------------------
def epoch_order(num_samples: int, epoch: int, *, seed: int = 0, shuffle: bool = True) -> torch.Tensor:
    """The index order of one epoch, int64 (num_samples,): a permutation seeded by seed + epoch, or 0..n−1.

    ``seed + epoch`` is the convention of PyTorch's DistributedSampler: every epoch gets its own
    order, and epoch k's order does not depend on how epochs before it were run (or resumed).
    """
    if not shuffle:
        return torch.arange(num_samples)
    generator = torch.Generator().manual_seed(seed + epoch)
    return torch.randperm(num_samples, generator=generator)


class EpochSampler(Sampler[int]):
    """A DataLoader sampler whose order is ``epoch_order(n, epoch, seed=seed, shuffle=shuffle)``.

    Every ``iter()`` serves the current epoch's order and moves to the next epoch;
    ``set_epoch(k)`` jumps to epoch k (``fit`` calls it, so a resumed run repeats the same orders).
    """

    def __init__(self, num_samples: int, *, seed: int = 0, shuffle: bool = True) -> None:
        """Sample ``num_samples`` indices per epoch, starting at epoch 0."""
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be an int >= 1, got {num_samples!r}")
        self.num_samples, self.seed, self.shuffle, self.epoch = num_samples, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        """Serve epoch ``epoch``'s order on the next ``iter()``."""
        self.epoch = epoch

    def next_order(self) -> torch.Tensor:
        """The current epoch's order (int64 tensor); the following call gives the next epoch's."""
        order = epoch_order(self.num_samples, self.epoch, seed=self.seed, shuffle=self.shuffle)
        self.epoch += 1
        return order

    def __iter__(self) -> Iterator[int]:
        return iter(self.next_order().tolist())

    def __len__(self) -> int:
        return self.num_samples


class TensorLoader:
    """Mini-batches (X[idx], y[idx]) of tensors held in memory on ``device``; the fast DataLoader.

    ``X`` and ``y`` are moved to the device once; each batch is one indexing operation, with no
    per-image Python work. Iterating gives ceil(N / batch_size) batches, the last one smaller.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = False,
                 seed: int = 0, device: torch.device | str | None = None) -> None:
        """Serve X (N, ...) and y (N,) in batches of ``batch_size``, shuffled per epoch when asked."""
        check_hyperparameters(batch_size=batch_size)
        if len(X) != len(y):
            raise ValueError(f"X and y must hold the same number of examples, got {len(X)} and {len(y)}")
        self.X, self.y = X.to(device), y.to(device)
        self.batch_size = batch_size
        self.sampler = EpochSampler(len(X), seed=seed, shuffle=shuffle)

    def __len__(self) -> int:
        return math.ceil(len(self.X) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.sampler.next_order().to(self.X.device)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.X[idx], self.y[idx]


def set_loader_epoch(loader: Iterable, epoch: int) -> None:
    """Tell a loader's sampler which epoch comes next, if it has ``set_epoch`` (ours and DistributedSampler)."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


# --- one epoch ----------------------------------------------------------------------------------
class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the weights are no longer usable."""

    def __init__(self, epoch: int, step: int, lr: float, loss: float) -> None:
        self.epoch, self.step, self.lr, self.loss = epoch, step, lr, loss
        super().__init__(
            f"training diverged: the loss became {loss} at epoch {epoch}, step {step} with lr = {lr:g}. "
            f"The weights are now unusable: build a fresh model and try a smaller lr (e.g. {lr / 10:g})."
        )


def _first_nonfinite(losses: list[torch.Tensor]) -> int | None:
    """Index of the first NaN/inf loss in ``losses`` (one device sync), or None."""
    finite = torch.isfinite(torch.stack(losses))
    return None if bool(finite.all()) else int((~finite).nonzero()[0])


def train_epoch(model: nn.Module, loader: Iterable, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                *, epoch: int = 1, progress: bool = False, check_every: int = 50) -> list[float]:
    """One pass over ``loader`` with zero_grad → backward → step per batch; return every batch's loss.

    Puts the model in training mode. Losses stay on the device and are checked for NaN/inf every
    ``check_every`` steps (and at the end), so a GPU is not made to wait after every batch;
    a non-finite loss raises :class:`TrainingDiverged` naming the first bad step. ``epoch`` is
    only used in messages and the progress bar (1-based, like ``step``).
    """
    device = model_device(model)
    model.train()
    losses: list[torch.Tensor] = []
    checked = 0
    batches = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not progress)
    for X, y in batches:
        X, y = X.to(device), y.to(device)
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()  # gradients accumulate; start each step from zero
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        if len(losses) - checked >= check_every:
            _raise_if_diverged(losses, checked, epoch, optimizer)
            checked = len(losses)
            batches.set_postfix(loss=f"{losses[-1].item():.4f}", refresh=False)
    if not losses:
        raise ValueError("loader gave no batches")
    _raise_if_diverged(losses, checked, epoch, optimizer)
    return torch.stack(losses).tolist()


def _raise_if_diverged(losses: list[torch.Tensor], checked: int, epoch: int,
                       optimizer: torch.optim.Optimizer) -> None:
    bad = _first_nonfinite(losses[checked:])
    if bad is not None:
        step = checked + bad + 1
        raise TrainingDiverged(epoch, step, optimizer.param_groups[0]["lr"], losses[step - 1].item())


def evaluate(model: nn.Module, loader: Iterable, loss_fn: Callable) -> tuple[float, float]:
    """(mean loss over the batches, accuracy in [0, 1]) on ``loader``, in eval mode without gradients.

    The loss is averaged over the number of batches: the loss function already averages within
    each batch. (Dividing by the number of examples instead makes it batch_size times too small.)
    """
    device = model_device(model)
    model.eval()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    num_batches = num_examples = 0
    with torch.no_grad():
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            output = model(X)
            total_loss += loss_fn(output, y)
            correct += (output.argmax(dim=1) == y).sum()
            num_batches, num_examples = num_batches + 1, num_examples + len(y)
    if num_batches == 0:
        raise ValueError("loader gave no batches")
    return (total_loss / num_batches).item(), correct.item() / num_examples


# --- many epochs --------------------------------------------------------------------------------
@dataclass
class History:
    """What ``fit`` measured, one entry per completed epoch (and one per step in ``step_loss``)."""

    train_loss: list[float] = field(default_factory=list)  # mean of the epoch's batch losses
    test_loss: list[float] = field(default_factory=list)  # mean over the test batches
    test_accuracy: list[float] = field(default_factory=list)  # fraction correct, in [0, 1]
    seconds: list[float] = field(default_factory=list)  # wall-clock time of the training pass
    lr: list[float] = field(default_factory=list)  # the learning rate the epoch trained with
    step_loss: list[float] = field(default_factory=list)  # every training batch's loss, in order
    interrupted: str | None = None  # e.g. "during epoch 3" when KeyboardInterrupt stopped fit

    @property
    def num_epochs(self) -> int:
        """How many epochs are complete and recorded."""
        return len(self.train_loss)

    @property
    def total_seconds(self) -> float:
        """Training time of all recorded epochs, in seconds (evaluation excluded)."""
        return sum(self.seconds)


def fit(model: nn.Module, train_loader: Iterable, test_loader: Iterable, loss_fn: Callable,
        optimizer: torch.optim.Optimizer, num_epochs: int, *, history: History | None = None,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, progress: bool = False,
        on_epoch_end: Callable[[History], None] | None = None, check_every: int = 50) -> History:
    """Train until ``history`` holds ``num_epochs`` epochs, evaluating on ``test_loader`` after each.

    - Resuming: pass the History of an earlier (interrupted) call; training continues at epoch
      ``history.num_epochs + 1`` with the model and optimizer as they are.
    - KeyboardInterrupt (Jupyter's stop button): the model keeps the weights it reached, the
      History keeps every complete epoch, ``history.interrupted`` says where, and fit returns it
      with a warning instead of raising.
    - Divergence: a NaN/inf loss raises :class:`TrainingDiverged`; ``history`` keeps the
      epochs before it.
    - ``scheduler.step()``, if given, runs after every epoch (an lr schedule counted in epochs).
    - ``on_epoch_end(history)`` is called after every epoch (e.g. a live curve).
    """
    check_hyperparameters(num_epochs=num_epochs)
    for group in optimizer.param_groups:
        check_hyperparameters(lr=group["lr"], momentum=group.get("momentum"))
    history = history if history is not None else History()
    history.interrupted = None
    epochs = tqdm(range(history.num_epochs, num_epochs), desc="epochs", disable=not progress)
    epoch = history.num_epochs
    try:
        for epoch in epochs:
            set_loader_epoch(train_loader, epoch)
            lr = optimizer.param_groups[0]["lr"]
            start = time.perf_counter()
            losses = train_epoch(model, train_loader, loss_fn, optimizer, epoch=epoch + 1,
                                 progress=progress, check_every=check_every)
            seconds = time.perf_counter() - start  # .tolist() above waited for the device
            test_loss, test_accuracy = evaluate(model, test_loader, loss_fn)
            _record(history, losses, test_loss, test_accuracy, seconds, lr)
            if scheduler is not None:
                scheduler.step()
            epochs.set_postfix(loss=f"{history.train_loss[-1]:.4f}", acc=f"{test_accuracy:.3f}")
            if on_epoch_end is not None:
                on_epoch_end(history)
    except KeyboardInterrupt:
        where = "after" if history.num_epochs == epoch + 1 else "during"
        history.interrupted = f"{where} epoch {epoch + 1}"
        warnings.warn(f"training interrupted {history.interrupted}: the model keeps the weights it "
                      f"reached, the History the {history.num_epochs} complete epoch(s); "
                      "fit(..., history=history) resumes.", stacklevel=2)
    finally:
        epochs.close()
    return history


def _record(history: History, losses: list[float], test_loss: float, test_accuracy: float,
            seconds: float, lr: float) -> None:
    history.step_loss.extend(losses)
    history.train_loss.append(sum(losses) / len(losses))
    history.test_loss.append(test_loss)
    history.test_accuracy.append(test_accuracy)
    history.seconds.append(seconds)
    history.lr.append(lr)


# --- predictions and metrics --------------------------------------------------------------------
def accuracy(output: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows of ``output`` (N, C) (logits or log-probabilities) whose argmax equals y (N,)."""
    if output.dim() != 2 or len(output) != len(y):
        raise ValueError(f"output must be (N, C) and y (N,), got {tuple(output.shape)} and {tuple(y.shape)}")
    return (output.argmax(dim=1) == y).float().mean().item()


def predict(model: nn.Module, loader: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes, true labels), int64 (N,) on the CPU, in the loader's order."""
    device = model_device(model)
    model.eval()
    predicted, labels = [], []
    with torch.no_grad():
        for X, y in loader:
            predicted.append(model(X.to(device)).argmax(dim=1).cpu())
            labels.append(y.cpu())
    return torch.cat(predicted), torch.cat(labels)


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Counts (num_classes, num_classes): row = true class, column = predicted class."""
    index = labels.long() * num_classes + predicted.long()
    return torch.bincount(index, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class_accuracy(confusion: torch.Tensor) -> torch.Tensor:
    """Share of each true class predicted correctly: the diagonal over the row sums, float (C,)."""
    return confusion.diagonal().double() / confusion.sum(dim=1).double()


# --- saving and loading -------------------------------------------------------------------------
def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model.state_dict()`` to ``path`` atomically: a temporary file, then os.replace.

    A crash or interrupt while saving leaves the old file (or none), never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(model.state_dict(), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a state_dict saved by :func:`save_weights` into ``model`` (onto its device); return the model.

    ``weights_only=True`` lets torch.load read tensors and plain containers only, never run code.
    """
    state = torch.load(path, map_location=model_device(model), weights_only=True)
    model.load_state_dict(state)
    return model
