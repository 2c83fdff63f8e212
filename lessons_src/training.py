"""Training and evaluation loops that return records: ``fit(...) -> History``.

The loops never print or plot. A progress bar is an argument (``progress=True`` shows tqdm) and
a live curve is a callback (``on_epoch_end=LiveCurve(...)``). Everything runs on the device the
model's parameters are on; batches are moved there.

The loaders (:class:`TensorLoader`, :class:`EpochSampler`) live in :mod:`lessons_src.loaders` and
are importable from here too, as are ``save_weights``/``load_weights`` from :mod:`lessons_src.checkpoint`.

Stopping and going on: Ctrl-C (Jupyter's stop button) stops ``fit`` between two steps, never
inside one; ``fit(..., history=history)`` goes on at the next step, and ``save_checkpoint`` /
``load_checkpoint`` (:mod:`lessons_src.checkpoint`) do the same across processes, bit for bit.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau
from tqdm.auto import tqdm

from lessons_src.checkpoint import load_weights, rng_states, save_weights, set_rng_states
from lessons_src.history import History
from lessons_src.interrupts import StopRequests, critical, stoppable
from lessons_src.language import tr
from lessons_src.loaders import EpochSampler, TensorLoader, epoch_batches, epoch_order
from lessons_src.loaders import set_loader_epoch as set_loader_epoch  # re-exported
from lessons_src.metrics import accuracy, confusion_matrix, per_class_accuracy  # re-exported
from lessons_src.optimizers import total_grad_norm
from lessons_src.validation import as_int, as_real, require_class_labels, validate_hyperparameters

__all__ = [
    "epoch_order", "EpochSampler", "TensorLoader", "set_loader_epoch", "epoch_batches", "TrainingDiverged",
    "train_epoch", "evaluate", "fit", "History", "predict", "accuracy", "confusion_matrix", "per_class_accuracy",
    "save_weights", "load_weights", "model_device", "validate_hyperparameters", "EXPLOSION_FACTOR",
]

check_hyperparameters = validate_hyperparameters  # the older name, kept for existing imports

# An epoch whose mean training loss exceeds EXPLOSION_FACTOR × max(|first step's loss|, 1) has diverged,
# even if every loss is finite (Adam at lr = 1e6 reaches ~1e23 without a NaN).
EXPLOSION_FACTOR = 1000


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a model without parameters)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


# --- checks on the way --------------------------------------------------------------------------
class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite, or exploded; the weights are no longer usable."""

    def __init__(self, epoch: int, step: int, lr: float, loss: float, *, optimizer_name: str = "",
                 what: str = "") -> None:
        self.epoch, self.step, self.lr, self.loss = epoch, step, float(lr), loss
        optimizer_name = optimizer_name or tr("the optimizer")
        what = what or tr("the loss became {loss}", loss=loss)
        super().__init__(tr(
            "training diverged: {what} at epoch {epoch}, step {step} with {optimizer} at lr = {lr}. "
            "The weights are now unusable: build a fresh model and try a smaller lr (e.g. {smaller_lr}).",
            what=what, epoch=epoch, step=step, optimizer=optimizer_name, lr=f"{self.lr:g}",
            smaller_lr=f"{self.lr / 10:g}"))


def _first_nonfinite(values: list[torch.Tensor]) -> int | None:
    """Index of the first NaN/inf in a list of 0-d tensors (one device sync), or None."""
    if not values:
        return None
    finite = torch.isfinite(torch.stack(values))
    return None if bool(finite.all()) else int((~finite).nonzero()[0])


def _input_sum(X: torch.Tensor) -> torch.Tensor:
    """A 0-d tensor that is NaN/inf when X holds a NaN/inf (no sync; 0 for integer inputs)."""
    return X.detach().sum() if X.is_floating_point() else torch.zeros((), device=X.device)


def _require_labels_fit(y: torch.Tensor, output: torch.Tensor) -> None:
    """Labels must be class indices below the number of the model's outputs (one sync, first batch only)."""
    if output.dim() == 2:
        require_class_labels(y, len(output), output.shape[1])


def _describe(optimizer: torch.optim.Optimizer) -> tuple[str, float]:
    return type(optimizer).__name__, float(optimizer.param_groups[0]["lr"])


def _raise_if_exploded(losses: list[float], first_loss: float, epoch: int, first_step: int,
                       optimizer: torch.optim.Optimizer) -> None:
    """TrainingDiverged if the epoch's mean loss passed EXPLOSION_FACTOR × max(|first_loss|, 1)."""
    limit = EXPLOSION_FACTOR * max(abs(first_loss), 1.0)
    mean = sum(losses) / len(losses)
    if mean > limit:
        index = next(i for i, loss in enumerate(losses) if loss > limit)
        name, lr = _describe(optimizer)
        raise TrainingDiverged(epoch, first_step + index + 1, lr, losses[index], optimizer_name=name, what=tr(
            "the loss exploded from {first:.3g} to {loss:.3g} (this epoch's mean, {mean:.3g}, is more than {factor} "
            "times the first step's loss)", first=first_loss, loss=losses[index], mean=mean, factor=EXPLOSION_FACTOR))


def _snapshot(model: nn.Module) -> tuple:
    """What a forward pass may change besides the weights: torch's generator(s) and the model's buffers."""
    device = model_device(model)
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda, [b.detach().clone() for b in model.buffers()]


def _restore(model: nn.Module, snapshot: tuple) -> None:
    """Put back what :func:`_snapshot` noted."""
    cpu, cuda, buffers = snapshot
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, model_device(model))
    with torch.no_grad():
        for buffer, saved in zip(model.buffers(), buffers, strict=True):
            buffer.copy_(saved)


class _TrainingPass:
    """The steps of one pass over batches: zero_grad → backward → step, losses kept on the device.

    Every ``check_every`` steps (one device sync) the new losses are checked: a NaN/inf loss raises
    ValueError when that step's inputs were not finite, else TrainingDiverged. After every step the
    torch generator and the model's buffers are noted, so that an interrupt inside the next step can
    put them back (``rollback``) and the run goes on as if the step had never started.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer, *, epoch: int,
                 first_step: int = 0, check_every: int = 50, scheduler: Any = None, stop: StopRequests | None = None,
                 clip_grad_norm: float | None = None, log_grad_norm: bool = True):
        self.model, self.loss_fn, self.optimizer, self.scheduler = model, loss_fn, optimizer, scheduler
        self.epoch, self.first_step, self.check_every, self.stop = epoch, first_step, check_every, stop
        self.clip_grad_norm, self.device = clip_grad_norm, model_device(model)
        self.measure_norm = log_grad_norm or clip_grad_norm is not None  # not computed when nobody reads it
        self.losses: list[torch.Tensor] = []
        self.grad_norms: list[torch.Tensor] = []  # each step's gradient norm before clipping, on the device
        self.input_sums: list[torch.Tensor] = []
        self.checked = 0
        self.saved = _snapshot(model)

    def rollback(self) -> None:
        """Put the generators and buffers back as they were after the last complete step."""
        _restore(self.model, self.saved)

    def run(self, batches: Iterable, *, progress: bool = False, total: int | None = None) -> None:
        """Take one step per batch; with a stop guard, a requested stop ends the pass between two steps."""
        self.model.train()
        bar = tqdm(batches, desc=tr("epoch {epoch}", epoch=self.epoch), leave=False, disable=not progress, total=total,
                   initial=self.first_step)
        iterator = iter(bar)
        try:
            while True:
                if self.stop is not None:
                    self.stop.check()
                batch = next(iterator, None)
                if batch is None:
                    break
                self.step(*batch)
                if len(self.losses) - self.checked >= self.check_every:
                    self.check()
                    bar.set_postfix(loss=f"{self.losses[-1].item():.4f}", refresh=False)
        finally:
            bar.close()

    def step(self, X: torch.Tensor, y: torch.Tensor) -> None:
        """One update on the batch (X, y); the labels of the pass's first batch are validated first."""
        if not self.losses:
            require_class_labels(y, len(X))
        X, y = X.to(self.device), y.to(self.device)
        output = self.model(X)
        if not self.losses:
            try:
                _require_labels_fit(y, output)
            except ValueError:
                self.rollback()  # the forward pass moved BatchNorm's statistics
                raise
        loss = self.loss_fn(output, y)
        self.optimizer.zero_grad()  # gradients accumulate; start each step from zero
        loss.backward()
        grad_norm = (total_grad_norm(self.model.parameters(), self.clip_grad_norm)  # before clipping
                     if self.measure_norm else None)
        with critical(self.stop):  # a second Ctrl-C waits until the update and its record are done
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
            self.losses.append(loss.detach())
            if grad_norm is not None:
                self.grad_norms.append(grad_norm)
            self.input_sums.append(_input_sum(X))
            self.saved = _snapshot(self.model)

    def check(self) -> None:
        """Raise if a loss since the last check is NaN/inf, naming the first bad step."""
        problem = self.problem()
        if problem is not None:
            raise problem
        self.checked = len(self.losses)

    def problem(self) -> Exception | None:
        """The error for the first NaN/inf loss since the last check, or None."""
        bad = _first_nonfinite(self.losses[self.checked:])
        if bad is None:
            return None
        index = self.checked + bad
        bad_input = _first_nonfinite(self.input_sums[:index + 1])
        if bad_input is not None:
            return ValueError(tr(
                "the inputs of epoch {epoch}, step {step} hold NaN or infinite values: the data is not finite (the "
                "learning rate is not the problem). Find them with ~torch.isfinite(X), clean or drop those examples, "
                "and start again from a fresh model.", epoch=self.epoch, step=self.first_step + bad_input + 1))
        name, lr = _describe(self.optimizer)
        return TrainingDiverged(self.epoch, self.first_step + index + 1, lr, self.losses[index].item(),
                                optimizer_name=name)

    def loss_values(self) -> list[float]:
        """The losses of the steps taken so far, as Python floats (one device sync)."""
        return torch.stack(self.losses).tolist() if self.losses else []

    def values(self) -> tuple[list[float], list[float]]:
        """(losses, gradient norms) of the steps taken so far, as Python floats (one device sync)."""
        if not self.losses:
            return [], []
        norms = torch.stack(self.grad_norms).tolist() if self.grad_norms else []  # synced by the losses already
        return torch.stack(self.losses).tolist(), norms


def train_epoch(model: nn.Module, loader: Iterable, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                *, epoch: int = 1, progress: bool = False, check_every: int = 50) -> list[float]:
    """One pass over ``loader`` with zero_grad → backward → step per batch; return every batch's loss.

    Puts the model in training mode. The first batch's labels must be class indices (N,). Losses
    stay on the device and are checked every ``check_every`` steps (and at the end), so a GPU is
    not made to wait after every batch. A NaN/inf loss raises :class:`TrainingDiverged` naming the
    first bad step (a ValueError if that step's inputs were not finite), and so does a mean loss
    above ``EXPLOSION_FACTOR`` × max(|first loss|, 1). ``epoch`` is used in messages only (1-based).
    """
    check_every = as_int("check_every", check_every, low=1)
    steps = _TrainingPass(model, loss_fn, optimizer, epoch=epoch, check_every=check_every, log_grad_norm=False)
    steps.run(loader, progress=progress, total=_length(loader))
    if not steps.losses:
        raise ValueError(tr("{loader} gave no batches", loader="loader"))
    steps.check()
    losses = steps.loss_values()
    _raise_if_exploded(losses, losses[0], epoch, 0, optimizer)
    return losses


def _length(loader: Iterable) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def evaluate(model: nn.Module, loader: Iterable, loss_fn: Callable) -> tuple[float, float]:
    """(mean loss over the batches, accuracy in [0, 1]) on ``loader``, in eval mode without gradients.

    The loss is the mean over the batches: the loss function already averages within each batch, so
    the batch means are summed and divided by the number of batches. (Dividing that sum by the number
    of examples makes it about batch_size times too small. The mean over the examples weights each
    batch mean by its size; the two differ only when the last batch is smaller.)
    The labels must be class indices of shape (N,) (checked on the first batch). A loss that is not
    finite raises ValueError saying whether the inputs or the model's outputs are to blame.
    """
    device = model_device(model)
    model.eval()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    losses: list[torch.Tensor] = []
    input_sums: list[torch.Tensor] = []
    num_examples = 0
    with torch.no_grad():
        for X, y in loader:
            if not losses:
                require_class_labels(y, len(X))
            X, y = X.to(device), y.to(device)
            output = model(X)
            if not losses:
                _require_labels_fit(y, output)
            losses.append(loss_fn(output, y))
            input_sums.append(_input_sum(X))
            total_loss += losses[-1]
            correct += (output.argmax(dim=1) == y).sum()
            num_examples += len(y)
    if not losses:
        raise ValueError(tr("{loader} gave no batches", loader="loader"))
    mean_loss = (total_loss / len(losses)).item()
    if not math.isfinite(mean_loss):
        _explain_nonfinite_evaluation(losses, input_sums)
    return mean_loss, correct.item() / num_examples


def _explain_nonfinite_evaluation(losses: list[torch.Tensor], input_sums: list[torch.Tensor]) -> None:
    index = _first_nonfinite(losses)
    batch, loss = index + 1, losses[index].item()
    if _first_nonfinite(input_sums[:index + 1]) is not None:
        raise ValueError(tr("the loss of batch {batch} is {loss}: its inputs hold NaN or infinite values. The data "
                            "is not finite: find them with ~torch.isfinite(X) and clean or drop those examples.",
                            batch=batch, loss=loss))
    raise ValueError(tr("the loss of batch {batch} is {loss} although its inputs are finite: the model's outputs are "
                        "not finite, so its weights have probably diverged. Train a fresh model with a smaller lr.",
                        batch=batch, loss=loss))


# --- many epochs --------------------------------------------------------------------------------
class _Run:
    """One call of ``fit``: trains and evaluates epoch after epoch, keeping ``history`` up to date."""

    def __init__(self, model: nn.Module, train_loader: Iterable, val_loader: Iterable, loss_fn: Callable,
                 optimizer: torch.optim.Optimizer, history: History, stop: StopRequests, *, scheduler: Any,
                 scheduler_step: str, progress: bool, check_every: int, clip_grad_norm: float | None) -> None:
        self.model, self.train_loader, self.val_loader = model, train_loader, val_loader
        self.loss_fn, self.optimizer, self.history, self.stop = loss_fn, optimizer, history, stop
        self.scheduler, self.scheduler_step = scheduler, scheduler_step
        self.progress, self.check_every, self.clip_grad_norm = progress, check_every, clip_grad_norm
        self.phase, self.saved = "between epochs", None

    def epoch(self) -> None:
        """Train (the rest of) the next epoch, evaluate it, record it and step an epoch scheduler."""
        history = self.history
        if history.partial_steps == 0:
            history.partial_lr = float(self.optimizer.param_groups[0]["lr"])
        length = _length(self.train_loader)
        if not history.partial_trained and (length is None or history.partial_steps < length):
            self.train()
        elif not history.partial_trained and history.partial_steps:
            self._check_explosion()  # stopped after the epoch's last step: train() never ran its check
        if history.partial_steps == 0:
            raise ValueError(tr("{loader} gave no batches", loader="train_loader"))
        history.partial_trained = True
        self.phase, self.saved = "evaluation", _snapshot(self.model)
        val_loss, val_accuracy = evaluate(self.model, stoppable(self.val_loader, self.stop), self.loss_fn)
        with critical(self.stop):
            self.phase = "between epochs"
            _close_epoch(history, val_loss, val_accuracy)
            if self.scheduler is not None and self.scheduler_step == "epoch":
                if isinstance(self.scheduler, ReduceLROnPlateau):
                    self.scheduler.step(val_loss)
                else:
                    self.scheduler.step()

    def train(self) -> None:
        """The training pass of epoch ``history.num_epochs + 1``, from its next step to its end."""
        history = self.history
        epoch, first_step = history.num_epochs + 1, history.partial_steps
        batch_scheduler = self.scheduler if self.scheduler_step == "batch" else None
        steps = _TrainingPass(self.model, self.loss_fn, self.optimizer, epoch=epoch, first_step=first_step,
                              check_every=self.check_every, scheduler=batch_scheduler, stop=self.stop,
                              clip_grad_norm=self.clip_grad_norm)
        self.phase, recorded, start = "training", False, time.perf_counter()
        try:
            steps.run(epoch_batches(self.train_loader, epoch - 1, first_step), progress=self.progress,
                      total=_length(self.train_loader))
            with critical(self.stop):
                steps.check()
                losses, grad_norms = steps.values()
                earlier = history.step_loss[len(history.step_loss) - first_step:]
                if earlier or losses:
                    first_loss = (history.step_loss or losses)[0]
                    _raise_if_exploded(earlier + losses, first_loss, epoch, 0, self.optimizer)
                self._record_steps(losses, grad_norms, start)
                recorded = True
        except KeyboardInterrupt:
            with critical(self.stop):
                steps.rollback()  # an interrupt inside a step: back to the end of the last complete one
                problem = steps.problem()  # a NaN before the stop is reported as what it is
                if problem is None and not recorded:
                    self._record_steps(*steps.values(), start)
            if problem is not None:
                raise problem from None
            raise

    def _check_explosion(self) -> None:
        """The explosion check of :meth:`train`, on the steps of the current epoch already recorded."""
        history = self.history
        losses = history.step_loss[len(history.step_loss) - history.partial_steps:]
        _raise_if_exploded(losses, history.step_loss[0], history.num_epochs + 1, 0, self.optimizer)

    def _record_steps(self, losses: list[float], grad_norms: list[float], start: float) -> None:
        self.history.step_loss.extend(losses)
        self.history.grad_norm.extend(grad_norms)
        self.history.partial_steps += len(losses)
        self.history.partial_seconds += time.perf_counter() - start  # .tolist() waited for the device

    def interrupted(self) -> None:
        """Note where the run stopped, put back what a half-done step or evaluation changed, and warn."""
        history = self.history
        if self.phase == "evaluation":
            _restore(self.model, self.saved)  # evaluation draws no random numbers, but a custom model might
        epoch = history.num_epochs + 1
        if self.phase == "evaluation":
            where = f"during the evaluation of epoch {epoch}"
        elif history.partial_steps:
            where = f"during epoch {epoch}, after step {history.partial_steps}"
        else:
            where = f"after epoch {history.num_epochs}" if history.num_epochs else "before epoch 1"
        history.interrupted, history.generators = where, rng_states()  # a record, kept in English
        if self.phase == "evaluation":
            said = tr("during the evaluation of epoch {epoch}", epoch=epoch)
        elif history.partial_steps:
            said = tr("during epoch {epoch}, after step {step}", epoch=epoch, step=history.partial_steps)
        else:
            said = (tr("after epoch {epoch}", epoch=history.num_epochs) if history.num_epochs
                    else tr("before epoch 1"))
        kept = {"where": said, "epochs": history.num_epochs, "steps": history.partial_steps, "epoch": epoch}
        warnings.warn(tr("training interrupted {where}: the model keeps the weights of the last complete step, the "
                         "History records {epochs} complete epoch(s) and {steps} step(s) of epoch {epoch}. "
                         "fit(..., history=history) goes on from there; save_checkpoint(path, model, optimizer, "
                         "history=history) keeps it on disk.", **kept) if history.partial_steps else
                      tr("training interrupted {where}: the model keeps the weights of the last complete step, the "
                         "History records {epochs} complete epoch(s). fit(..., history=history) goes on from there; "
                         "save_checkpoint(path, model, optimizer, history=history) keeps it on disk.", **kept),
                      stacklevel=3)


def _close_epoch(history: History, val_loss: float, val_accuracy: float) -> None:
    """Move the finished epoch from the ``partial_*`` fields into the per-epoch lists."""
    losses = history.step_loss[len(history.step_loss) - history.partial_steps:]
    history.train_loss.append(sum(losses) / len(losses))
    history.val_loss.append(val_loss)
    history.val_accuracy.append(val_accuracy)
    history.seconds.append(history.partial_seconds)
    history.lr.append(history.partial_lr)
    history.partial_steps, history.partial_seconds, history.partial_lr, history.partial_trained = 0, 0.0, None, False


def _validate_fit_arguments(optimizer: torch.optim.Optimizer, num_epochs: Any, scheduler: Any,
                            scheduler_step: Any, check_every: Any) -> tuple[int, int]:
    num_epochs = as_int("num_epochs", num_epochs, low=0)
    check_every = as_int("check_every", check_every, low=1)
    for group in optimizer.param_groups:
        validate_hyperparameters(lr=group["lr"], momentum=group.get("momentum"))
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(tr("{name} must be 'epoch' or 'batch', got {value}", name="scheduler_step",
                            value=repr(scheduler_step)))
    if scheduler is not None and getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError(tr("scheduler must be built on the optimizer given to fit, e.g. StepLR(optimizer, ...)"))
    if isinstance(scheduler, ReduceLROnPlateau) and scheduler_step == "batch":
        raise ValueError(tr("scheduler_step must be 'epoch' for ReduceLROnPlateau: it needs the validation loss, "
                            "which fit measures once per epoch"))
    return num_epochs, check_every


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable, loss_fn: Callable,
        optimizer: torch.optim.Optimizer, num_epochs: int, *, history: History | None = None,
        scheduler: Any = None, scheduler_step: str = "epoch", progress: bool = False,
        on_epoch_end: Callable[[History], Any] | Sequence[Callable[[History], Any]] | None = None,
        check_every: int = 50, clip_grad_norm: float | None = None) -> History:
    """Train until ``history`` holds ``num_epochs`` epochs, evaluating on ``val_loader`` after each.

    ``val_loader`` serves held-out examples to choose by (a validation split of the training data); keep
    the test set for one final :func:`evaluate`, after every choice is made.

    - Labels must be class indices of shape (N,) (checked on the first batch of each pass).
    - Schedulers: with ``scheduler_step="epoch"`` (the default) ``scheduler.step()`` runs once after
      every epoch's evaluation, and ``ReduceLROnPlateau`` gets ``scheduler.step(val_loss)``; with
      ``scheduler_step="batch"`` it runs after every optimizer step (warm-up, ``OneCycleLR``; count
      its total steps as ``num_epochs * len(train_loader)``). ``history.lr`` is the lr an epoch started with.
    - Ctrl-C (Jupyter's stop button) is honoured before the next step or evaluation batch (a second
      Ctrl-C at once, but never inside an optimizer update). fit returns the History with a warning:
      the model keeps the weights of the last complete step, ``history.interrupted`` says where, and
      the History records the unfinished epoch's steps (``partial_*`` fields).
    - Resuming: pass that History (``history=history``), with the same model, optimizer and
      scheduler, or as :func:`lessons_src.checkpoint.load_checkpoint` restored them. Training goes
      on at ``history.position``, in the same batch order, so History and weights end up identical
      to an unbroken run's (same thread count). An interrupted evaluation is redone, not the epoch.
    - Divergence: a NaN/inf training loss raises :class:`TrainingDiverged` (a ValueError when the
      inputs were not finite), as does an epoch whose mean loss passes ``EXPLOSION_FACTOR`` (1000) ×
      max(|first step's loss|, 1). ``history`` keeps the epochs before it.
    - ``history.grad_norm`` holds every step's gradient norm (all parameters together, before clipping),
      kept on the device like the losses. ``clip_grad_norm=max_norm`` scales each step's gradients down
      to that norm when they are longer (``torch.nn.utils.clip_grad_norm_``) before the optimizer step.
    - ``on_epoch_end(history)`` (one callable or a list) is called after every epoch (e.g. a live curve,
      save_checkpoint, or :class:`lessons_src.early_stopping.EarlyStopping`); when one returns True,
      training stops after that epoch.
    """
    num_epochs, check_every = _validate_fit_arguments(optimizer, num_epochs, scheduler, scheduler_step, check_every)
    if clip_grad_norm is not None:
        clip_grad_norm = as_real("clip_grad_norm", clip_grad_norm, low=0.0, low_open=True)
    history = history if history is not None else History()
    callbacks = (list(on_epoch_end) if isinstance(on_epoch_end, list | tuple)
                 else [] if on_epoch_end is None else [on_epoch_end])
    history.interrupted = None
    if history.generators is not None:  # go on from the generators as they were at the stop
        set_rng_states(history.generators)
        history.generators = None
    with StopRequests() as stop:
        run = _Run(model, train_loader, val_loader, loss_fn, optimizer, history, stop, scheduler=scheduler,
                   scheduler_step=scheduler_step, progress=progress, check_every=check_every,
                   clip_grad_norm=clip_grad_norm)
        epochs = tqdm(total=num_epochs, initial=min(history.num_epochs, num_epochs), desc=tr("epochs"),
                      disable=not progress)
        try:
            while history.num_epochs < num_epochs:
                run.epoch()
                epochs.update()
                epochs.set_postfix(loss=f"{history.train_loss[-1]:.4f}", acc=f"{history.val_accuracy[-1]:.3f}")
                if any([callback(history) is True for callback in callbacks]):  # every callback runs
                    break
                stop.check()
        except KeyboardInterrupt:
            with critical(stop):
                run.interrupted()
        finally:
            epochs.close()
    return history


# --- predictions and metrics --------------------------------------------------------------------
def predict(model: nn.Module, loader: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes, true labels), int64 (N,) on the CPU, in the loader's order.

    The labels must be class indices of shape (N,) (checked on the first batch).
    """
    device = model_device(model)
    model.eval()
    predicted, labels = [], []
    with torch.no_grad():
        for X, y in loader:
            if not labels:
                require_class_labels(y, len(X))
            output = model(X.to(device))
            if not labels:
                _require_labels_fit(y, output)
            predicted.append(output.argmax(dim=1).cpu())
            labels.append(y.cpu())
    if not labels:
        raise ValueError(tr("{loader} gave no batches", loader="loader"))
    return torch.cat(predicted), torch.cat(labels)
