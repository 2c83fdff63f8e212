"""Self-checks for the exercises of the training lessons (05, 07-10) in which the learner writes code: a
loader, an accuracy, a training step, the network as a class, an epoch, an evaluation. Each runs the
learner's code on a seeded case, compares it with a correct version and names the usual slip.
"""

from __future__ import annotations

import copy
import functools
import math
import tempfile
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from lessons_src.checkpoint import save_checkpoint
from lessons_src.data import fashion_mnist_splits, normalize
from lessons_src.feedback import (
    CheckResult,
    as_array,
    call_learner,
    is_placeholder,
    no_answer,
    right,
    unanswered,
    wrong,
)
from lessons_src.history import History
from lessons_src.language import tr
from lessons_src.models import TutorialMLP
from lessons_src.pitfalls import DropoutBatchNormMLP
from lessons_src.training import TensorLoader, TrainingDiverged, evaluate, fit


# --- lesson 05: a loader from a DataFrame -------------------------------------------------------
def check_loader_from_frame(fn: Any) -> CheckResult:
    """Does ``fn(frame, label, batch_size)`` serve a DataFrame's rows as float32 (features, label) batches, each
    feature column standardized (mean 0, standard deviation 1 over the frame)?

    The features are every column except ``label``, which may sit anywhere in the frame. Either standard deviation
    is accepted: over n (``ddof=0``, torch's ``unbiased=False``) or over n − 1 (pandas' default).
    """
    what = tr("a standardized DataLoader from a DataFrame")
    hint = tr("section 3 turned a frame into a loader, and section 4 standardized features: which columns are the "
              "features here, what are their means and spreads, and which dtype do the tensors need?")
    generator = torch.Generator().manual_seed(4)
    values = (torch.randn(23, 3, generator=generator, dtype=torch.float64) * torch.tensor([1.0, 10.0, 0.1])
              + torch.tensor([5.0, -20.0, 0.3])).numpy()
    frame = pd.DataFrame({"a": values[:, 0], "malignant": np.arange(23) % 2, "b": values[:, 1], "c": values[:, 2]})
    loader, failure = call_learner(fn, what, hint, frame.copy(), "malignant", 5)
    if failure is not None:
        return failure
    if loader is None:
        return wrong(what, tr("your function returned None; it should return the DataLoader"), hint)
    try:
        batches = list(loader)
    except TypeError:
        return wrong(what, tr("got {kind}, which cannot be iterated", kind=type(loader).__name__), hint)
    if len(batches) != 5:
        return wrong(what, tr("23 rows in batches of 5 make 5 batches, got {count}", count=len(batches)), hint)
    for batch in batches:
        pair = isinstance(batch, list | tuple) and len(batch) == 2
        if not (pair and all(isinstance(t, torch.Tensor) for t in batch)):
            return wrong(what, tr("each batch should be a pair of tensors (X, y)"), hint)
        if batch[0].dtype != torch.float32 or batch[1].dtype != torch.float32:
            return wrong(what, tr("got dtypes {features} and {labels}, expected torch.float32 for both",
                                  features=batch[0].dtype, labels=batch[1].dtype), hint)
    X = torch.cat([b[0] for b in batches]).double()
    y = torch.cat([b[1] for b in batches]).double()
    if X.shape != (23, 3) or y.shape != (23,):
        return wrong(what, tr("expected features (23, 3) and labels (23,) over all batches, got {features} "
                              "and {labels} (is the label column among the features?)",
                              features=tuple(X.shape), labels=tuple(y.shape)), hint)
    labels = frame["malignant"].to_numpy(dtype=float)
    for ddof in (0, 1):
        standardized = (values - values.mean(axis=0)) / values.std(axis=0, ddof=ddof)
        rows, expected = torch.cat([X, y[:, None]], dim=1).numpy(), np.column_stack([standardized, labels])
        order_got, order_want = np.lexsort(rows.T[::-1]), np.lexsort(expected.T[::-1])
        if np.allclose(rows[order_got], expected[order_want], atol=1e-5):
            return right(what, tr("5 batches of float32 (X, y), every row once, each feature with mean 0 and std 1"))
    means, stds = X.mean(dim=0).numpy().round(2), X.std(dim=0).numpy().round(2)
    if not np.allclose(means, 0, atol=1e-3) or not np.allclose(stds, 1, atol=0.05):
        return wrong(what, tr("the features served have means {means} and standard deviations "
                              "{stds}; each column should have mean 0 and standard deviation 1",
                              means=means.tolist(), stds=stds.tolist()), hint)
    return wrong(what, tr("the rows served are not the frame's rows, standardized (features in the frame's column "
                          "order, then the label)"), hint)


# --- lesson 07: the network as a class --------------------------------------------------------------
def check_model_class(cls: Any) -> CheckResult:
    """Is ``cls`` the tutorial's network (784 → 512 → 512 → 10, ReLU between, logits out) as an ``nn.Module``?"""
    what = tr("the network as a class")
    hint = tr("section 2 describes the layers in order; flatten each (1, 28, 28) image first, and let the last "
              "layer's outputs through untouched.")
    if unanswered(cls):
        return no_answer(what, tr("with your class"))
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        return wrong(what, tr("expected a subclass of nn.Module, got {answer}", answer=repr(cls)), hint)
    if is_placeholder(cls.forward):
        return no_answer(what, tr("in forward"))
    model, failure = call_learner(cls, what, hint)
    if failure is not None:
        return failure
    generator = torch.Generator().manual_seed(11)
    X = torch.rand(64, 1, 28, 28, generator=generator)
    output, failure = call_learner(model, what, hint, X)
    if failure is not None:
        return failure
    if not isinstance(output, torch.Tensor) or output.shape != (64, 10):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        return wrong(what, tr("for a batch of 64 images it returned {shape}, not one row of 10 logits per image",
                              shape=shape), hint)
    reference = TutorialMLP()
    parameters = _parameters_in_call_order(model, X)  # the order of declaration in __init__ does not matter
    shapes = [tuple(p.shape) for p in parameters]
    if shapes != [tuple(p.shape) for p in reference.parameters()]:
        count = sum(p.numel() for p in model.parameters())
        return wrong(what, tr("its layers hold {count:,} numbers in tensors of shapes {shapes}; compare them with "
                              "the layer sizes of section 2", count=count, shapes=shapes), hint)
    with torch.no_grad():
        for mine, theirs in zip(parameters, reference.parameters(), strict=True):
            mine.copy_(theirs)
        output, expected = model(X), reference(X)
    if (output >= 0).all() and (expected < 0).any():
        return wrong(what, tr("no output is ever negative: something after the last layer clips the logits"), hint)
    if not torch.allclose(output, expected, atol=1e-5):
        return wrong(what, tr("the layer sizes are right, but with the same weights its outputs differ from the "
                              "tutorial network's: check which layers an activation sits between"), hint)
    return right(what, tr("{count:,} parameters, the tutorial's network exactly",
                          count=sum(p.numel() for p in model.parameters())))


def _parameters_in_call_order(model: torch.nn.Module, X: torch.Tensor) -> list[torch.nn.Parameter]:
    """``model``'s parameters in the order ``forward`` uses their modules (modules never called go last)."""
    called: list[torch.nn.Module] = []
    owners = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    hooks = [m.register_forward_pre_hook(lambda module, args: called.append(module)) for m in owners]
    try:
        with torch.no_grad():
            model(X)
    finally:
        for hook in hooks:
            hook.remove()
    ordered = list({id(m): m for m in called + owners}.values())
    return [p for m in ordered for p in m.parameters(recurse=False)]


# --- lessons 07 and 10: an epoch written (07), an evaluation fixed (10) ------------------------------
def _mistakes_scene(num_examples: int, seed: int) -> tuple[torch.nn.Module, DataLoader]:
    """A seeded DropoutBatchNormMLP and ``num_examples`` random images in a DataLoader of batches of 16 (in order,
    the last one smaller): a real loader, so ``len(loader)`` and ``len(loader.dataset)`` work as in the lessons."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(num_examples, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (num_examples,), generator=generator)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = DropoutBatchNormMLP()
    return model, DataLoader(TensorDataset(X, y), batch_size=16)


def _run_epoch(model: torch.nn.Module, loader: DataLoader, *, zero_grad: bool) -> list[tuple[float, int]]:
    """A reference epoch of SGD (lr 0.05) in training mode; returns every batch's (mean loss, size)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    model.train()
    record = []
    for X, y in loader:
        loss = torch.nn.functional.cross_entropy(model(X), y)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        record.append((loss.item(), len(y)))
    return record


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.allclose(p, q, atol=1e-6) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def _mean_losses(record: list[tuple[float, int]]) -> dict[str, float]:
    """The mean over batches and the mean over examples of batch mean losses (``record``: (loss, size) pairs)."""
    num_examples = sum(size for _, size in record)
    return {"batches": sum(loss for loss, _ in record) / len(record),
            "examples": sum(loss * size for loss, size in record) / num_examples,
            "sum over examples": sum(loss for loss, _ in record) / num_examples,
            "last batch": record[-1][0], "sum": sum(loss for loss, _ in record)}


def check_train_epoch(fn: Any) -> CheckResult:
    """Does the learner's ``fn(model, loader, loss_fn, optimizer)`` train one correct epoch and return its mean loss?"""
    return _check_epoch(fn, "train_epoch", tr("which mode did the last evaluation leave the model in, what does "
                                              "backward() do to a .grad that already holds something (section 4), "
                                              "and how do you turn one loss per batch into one number for the "
                                              "epoch?"))


def _check_epoch(fn: Any, what: str, hint: str) -> CheckResult:
    """One epoch of ``fn`` against a correct one (a seeded scene with Dropout and BatchNorm); names the usual slips."""
    model, loader = _mistakes_scene(40, seed=9)  # batches of 16, 16 and 8
    references = {}
    for zero_grad in (True, False):
        references[zero_grad] = copy.deepcopy(model)
        with torch.random.fork_rng():
            torch.manual_seed(10)  # the same Dropout masks in every run
            record = _run_epoch(references[zero_grad], loader, zero_grad=zero_grad)
        if zero_grad:
            want = _mean_losses(record)
    modes: list[bool] = []
    model.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    model.eval()  # as the last evaluation left it
    with torch.random.fork_rng():
        torch.manual_seed(10)
        got, failure = call_learner(fn, what, hint, model, loader, torch.nn.functional.cross_entropy,
                                    torch.optim.SGD(model.parameters(), lr=0.05))
    if failure is not None:
        return failure
    if not modes:
        return wrong(what, tr("your function never called the model"), hint)
    if not all(modes):
        return wrong(what, tr("the model ran in eval mode, where the last evaluation left it: Dropout and BatchNorm "
                              "behaved as at test time while it trained"), hint)
    if not _same_weights(model, references[True]):
        detail = (tr("the gradients of the batches added up: each step used the sum of all gradients so far")
                  if _same_weights(model, references[False]) else
                  tr("the weights after the epoch differ from those of a correct epoch"))
        return wrong(what, detail, hint)
    if got is None:
        return wrong(what, tr("the weights are right; your function returned None: return the epoch's mean loss"),
                     hint)
    if isinstance(got, torch.Tensor) and got.requires_grad:
        return wrong(what, tr("the weights are right, but you returned a tensor that still needs its graph: adding "
                              "loss tensors keeps every batch's graph alive; add loss.item() and return a number"),
                     hint)
    if isinstance(got, torch.Tensor):
        return wrong(what, tr("the weights are right; return the mean loss as a Python number (.item()), not a "
                              "tensor"), hint)
    value = as_array(got)
    if value is None or value.shape != ():
        return wrong(what, tr("the weights are right; now return the epoch's mean loss as one number, got {answer}",
                              answer=repr(got)), hint)
    if any(math.isclose(float(value), want[key], rel_tol=1e-5) for key in ("batches", "examples")):
        return right(what, tr("training mode, clean gradients every step, and the epoch's mean loss"))
    named = next((key for key in ("last batch", "sum", "sum over examples")
                  if math.isclose(float(value), want[key], rel_tol=1e-5)), None)
    detail = {"last batch": tr("you returned the last batch's loss, which depends on that one batch"),
              "sum": tr("you returned the sum of the batch losses; it grows with the number of batches"),
              "sum over examples": tr("you divided the sum of the batch means by the number of examples: each "
                                      "batch loss is already a mean, so this is about batch_size times too small")}
    return wrong(what, detail.get(named, tr("the mean loss is {want:.4f}, you returned {got:.4f}",
                                            want=want["batches"], got=float(value))), hint)


def check_fixed_evaluate(fn: Any) -> CheckResult:
    """Is ``fn(model, loader, loss_fn)`` a correct (mean test loss, accuracy): eval mode, no gradients?

    Both honest means are accepted: the mean of the batch means, and the mean over the examples (each batch
    mean weighted by its size). They differ when the last batch is smaller; the check says by how much.
    """
    what = tr("a fixed evaluate")
    hint = tr("which mode must the model be in, does the test need a graph for backward, what is each batch loss "
              "already the mean of, and over which axis does a prediction choose a class?")
    if fn is evaluate:
        return wrong(what, tr("that is the course's own evaluate; write yours, fixing the snippet above"), hint)
    model, loader = _mistakes_scene(50, seed=8)  # batches of 16, 16, 16 and 2
    model.train()
    model(torch.cat([X for X, _ in loader]))  # give BatchNorm running statistics that differ from a batch's own
    model.eval()
    with torch.no_grad():
        record = [(torch.nn.functional.cross_entropy(model(X), y).item(), len(y)) for X, y in loader]
        want_accuracy = sum(int((model(X).argmax(dim=1) == y).sum()) for X, y in loader) / 50
    want = _mean_losses(record)
    grad_was_on: list[bool] = []

    def loss_fn(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        grad_was_on.append(torch.is_grad_enabled())
        return torch.nn.functional.cross_entropy(output, target)

    model.train()
    got, failure = call_learner(fn, what, hint, model, loader, loss_fn)
    if failure is not None:
        return failure
    if not (isinstance(got, tuple | list) and len(got) == 2):
        return wrong(what, tr("expected a pair (loss, accuracy), got {answer}", answer=repr(got)), hint)
    if any(grad_was_on):
        return wrong(what, tr("the loss was computed with gradients on, which builds a graph nobody uses"), hint)
    if model.training:
        return wrong(what, tr("the model is still in training mode, so Dropout and BatchNorm act as in training"),
                     hint)
    loss, accuracy = (float(v) for v in got)
    if math.isclose(loss, want["sum over examples"], rel_tol=1e-4):
        return wrong(what, tr("the loss is the sum of the batch means divided by the number of examples; each batch "
                              "loss is already a mean, so that is about batch_size times too small"), hint)
    if math.isclose(loss, sum(lo * n for lo, n in record) / len(record), rel_tol=1e-4):
        return wrong(what, tr("you weighted each batch mean by its size but divided by the number of batches; a sum "
                              "over examples is divided by the number of examples"), hint)
    kind = next((key for key in ("batches", "examples") if math.isclose(loss, want[key], rel_tol=1e-4)), None)
    if kind is None:
        return wrong(what, tr("the mean loss is {batches:.4f} over the batches ({examples:.4f} over "
                              "the examples), you returned {loss:.4f}",
                              batches=want["batches"], examples=want["examples"], loss=loss), hint)
    if not math.isclose(accuracy, want_accuracy, abs_tol=1e-6):
        return wrong(what, tr("the loss is right; the accuracy is {want:.4f}, you returned {got:.4f}",
                              want=want_accuracy, got=accuracy), hint)
    if kind == "batches":
        return right(what, tr("eval mode, no gradients, argmax over the classes, and the mean loss over the batches "
                              "({batches:.4f}; over the examples it is {examples:.4f}: the last batch holds 2 "
                              "examples, and the mean over the batches counts each of them 8 times as much)",
                              batches=want["batches"], examples=want["examples"]))
    return right(what, tr("eval mode, no gradients, argmax over the classes, and the mean loss over the examples "
                          "({examples:.4f}; over the batches it is {batches:.4f}: the last batch holds 2 "
                          "examples, and the mean over the batches counts each of them 8 times as much)",
                          batches=want["batches"], examples=want["examples"]))



# --- lesson 08: an experiment on validation --------------------------------------------------------
TWO_EPOCH_TARGET = 0.845  # validation accuracy of plain SGD (no momentum) after 2 epochs, batch 64


@functools.cache
def _normalized_splits():
    """The normalized training and validation tensors of lesson 07's split (loaded once per kernel)."""
    splits = fashion_mnist_splits()
    return (normalize(splits.train[0]), splits.train[1]), (normalize(splits.val[0]), splits.val[1])


def check_two_epoch_lr(lr: Any) -> CheckResult:
    """Train the tutorial network for 2 epochs of plain SGD (no momentum) at ``lr``, batch 64, shuffled, on the
    normalized training split; is its validation accuracy at least ``TWO_EPOCH_TARGET``? If not, say what the
    training loss did."""
    what = tr("an lr that reaches {target:.1%} validation accuracy in two epochs", target=TWO_EPOCH_TARGET)
    hint = tr("look at how the training loss moves within the second epoch: still falling steadily means the steps "
              "are too short; flat or rising, or a blow-up, means too long. Try lrs a factor 3 apart.")
    if unanswered(lr):
        return no_answer(what, tr("with your lr"))
    try:
        (X, y), (X_val, y_val) = _normalized_splits()
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = TutorialMLP()
            history = fit(model, TensorLoader(X, y, 64, shuffle=True, seed=0), TensorLoader(X_val, y_val, 1000),
                          torch.nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=float(lr)), 2)
    except TrainingDiverged:
        return wrong(what, tr("with lr = {lr} the loss blew up", lr=lr), hint)
    except (TypeError, ValueError) as error:
        return wrong(what, tr("this lr cannot train: {error}", error=error), hint)
    accuracy = history.val_accuracy[-1]
    second = history.step_loss[len(history.step_loss) // 2:]  # the second epoch's steps
    early, late = np.mean(second[:len(second) // 2]), np.mean(second[len(second) // 2:])
    if accuracy >= TWO_EPOCH_TARGET:
        return right(what, tr("lr = {lr}: {accuracy:.1%} on validation after 2 epochs", lr=lr, accuracy=accuracy))
    trend = (tr("within the second epoch the training loss still falls ({early:.3f} → {late:.3f})",
                early=early, late=late) if late < 0.97 * early
             else tr("within the second epoch the training loss hardly falls ({early:.3f} → {late:.3f})",
                     early=early, late=late))
    return wrong(what, tr("lr = {lr}: {accuracy:.1%} on validation after 2 epochs; {trend}",
                          lr=lr, accuracy=accuracy, trend=trend), hint)


# --- lesson 09: resuming a run from its checkpoint ---------------------------------------------------
def _resume_scene(seed: int):
    """A seeded linear classifier with SGD + momentum and a step schedule, and small train / validation loaders."""
    generator = torch.Generator().manual_seed(5)
    X, y = torch.randn(96, 4, generator=generator), torch.randint(0, 3, (96,), generator=generator)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2], gamma=0.1)  # epoch 3 at lr / 10
    return (model, optimizer, scheduler, TensorLoader(X[:64], y[:64], 16, shuffle=True, seed=3),
            TensorLoader(X[64:], y[64:], 32))


def check_resume(fn: Any) -> CheckResult:
    """Does ``fn(path, model, optimizer, scheduler, train_loader, val_loader, loss_fn, num_epochs)`` go on with the
    run saved at ``path`` so that it ends exactly like the run that was never stopped?"""
    what = "resume(...)"
    hint = tr("a run is more than its weights: what else did section 3 save, what gives each part back, and what "
              "does fit need to be given to go on where the run stopped, on the same schedule?")
    loss_fn = torch.nn.functional.cross_entropy
    unbroken, unbroken_optimizer, unbroken_scheduler, train, val = _resume_scene(seed=1)
    want = fit(unbroken, train, val, loss_fn, unbroken_optimizer, 3, scheduler=unbroken_scheduler)
    first, first_optimizer, first_scheduler, train, val = _resume_scene(seed=1)
    with tempfile.TemporaryDirectory() as folder:
        history = fit(first, train, val, loss_fn, first_optimizer, 1, scheduler=first_scheduler)
        path = save_checkpoint(f"{folder}/run.pt", first, first_optimizer, scheduler=first_scheduler, history=history)
        model, optimizer, scheduler, train, val = _resume_scene(seed=2)  # fresh objects, other initial weights
        got, failure = call_learner(fn, what, hint, path, model, optimizer, scheduler, train, val, loss_fn, 3)
    if failure is not None:
        return failure
    if not isinstance(got, History):
        return wrong(what, tr("return the History that fit returns, got {kind}", kind=type(got).__name__), hint)
    if got.num_epochs != 3:
        return wrong(what, tr("the History holds {count} epoch(s); the run should end with 3 (fit's num_epochs "
                              "is the total, not how many more)", count=got.num_epochs), hint)
    same_weights = torch.equal(model.weight, unbroken.weight) and torch.equal(model.bias, unbroken.bias)
    if same_weights and got.step_loss == want.step_loss and got.lr == want.lr:
        return right(what, tr("weights, momentum, schedule, History and batch order restored: the run ends exactly "
                              "as the one that was never stopped"))
    stop = len(want.step_loss) // 3  # the steps of the saved first epoch
    if got.step_loss[:stop] != want.step_loss[:stop]:
        return wrong(what, tr("the first epoch's steps are not the saved run's: the run started again from the "
                              "beginning instead of going on from the checkpoint"), hint)
    if got.step_loss[stop] != want.step_loss[stop]:
        return wrong(what, tr("it went on from the saved position, but the first step after the stop already has "
                              "another loss: the model did not start from the saved weights"), hint)
    if got.lr != want.lr:
        return wrong(what, tr("the epochs ran at learning rates {got}, the unbroken run's at {want}: the schedule "
                              "did not come back, or was not stepped", got=got.lr, want=want.lr), hint)
    return wrong(what, tr("it went on from the saved position with the saved weights and schedule, yet its steps "
                          "part from the unbroken run's soon after: something else the run needs did not come back"),
                 hint)
