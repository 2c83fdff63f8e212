"""Lesson 10's helpers reproduce each mistake faithfully; its self-checks accept right and reject wrong."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lessons_src import set_seed
from lessons_src.checks import check_buggy_line, check_fixed_evaluate, check_train_epoch
from lessons_src.models import SourceModel
from lessons_src.pitfalls import (
    BUGGY_SNIPPETS,
    STEP_ORDERS,
    DropoutBatchNormMLP,
    TrainConfig,
    accuracy_in_batches,
    mean_test_losses,
    saved_tensor_bytes,
    sort_by_class,
    train_steps,
    tutorial_mlp,
)
from lessons_src.training import TensorLoader, evaluate


def _toy(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 20, generator=generator), torch.randint(0, 3, (n,), generator=generator)


def _run(order: str, steps: int | None = None) -> tuple[list[float], nn.Module]:
    set_seed(0)
    model = SourceModel()
    X, y = _toy()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return train_steps(model, TensorLoader(X, y, 16), nn.CrossEntropyLoss(), optimizer, order=order,
                       max_steps=steps), model


def test_relu_on_logits_changes_only_the_output_and_keeps_the_initial_weights():
    set_seed(0)
    plain = tutorial_mlp()
    set_seed(0)
    clipped = tutorial_mlp(relu_on_logits=True)
    assert all(torch.equal(p, q) for p, q in zip(plain.parameters(), clipped.parameters(), strict=True))
    X = torch.randn(8, 1, 28, 28)
    assert torch.equal(clipped(X), torch.relu(plain(X))) and (plain(X) < 0).any()


def test_zero_grad_order_is_harmless_and_forgetting_it_is_not():
    before, model_before = _run("zero_backward_step")
    after, model_after = _run("backward_step_zero")
    forgot, _ = _run("no_zero_grad")
    assert before == after and len(before) == 6
    assert all(torch.equal(p, q) for p, q in zip(model_before.parameters(), model_after.parameters(), strict=True))
    assert forgot[:2] == before[:2] and forgot[2] != before[2]
    assert len(_run("no_zero_grad", steps=4)[0]) == 4


def test_train_steps_rejects_an_unknown_order():
    with pytest.raises(ValueError, match="order must be one of"):
        _run("step_first")
    assert all(len(_run(order, steps=2)[0]) == 2 for order in STEP_ORDERS)  # each named order runs


def test_the_three_test_losses_are_the_batch_mean_the_example_mean_and_the_bug():
    set_seed(0)
    model, (X, y) = SourceModel(), _toy(100)
    loader = TensorLoader(X, y, 16)  # 7 batches, the last of 4
    losses = mean_test_losses(model, loader, nn.CrossEntropyLoss())
    assert losses["per batch"] / losses["sum / examples"] == pytest.approx(100 / 7)
    assert losses["per batch"] == pytest.approx(evaluate(model, loader, nn.CrossEntropyLoss())[0], rel=1e-6)
    with torch.no_grad():
        assert losses["per example"] == pytest.approx(nn.CrossEntropyLoss()(model(X), y).item(), rel=1e-6)
    assert losses["per example"] != pytest.approx(losses["per batch"], rel=1e-6)  # the small last batch
    even = mean_test_losses(model, TensorLoader(X, y, 20), nn.CrossEntropyLoss())  # 5 batches of 20
    assert even["per batch"] == pytest.approx(even["per example"], rel=1e-6)


def test_sort_by_class_is_a_stable_sort_of_the_pairs():
    X = torch.arange(6.0)
    y = torch.tensor([2, 0, 1, 0, 2, 1])
    X_sorted, y_sorted = sort_by_class(X, y)
    assert y_sorted.tolist() == [0, 0, 1, 1, 2, 2] and X_sorted.tolist() == [1, 3, 2, 5, 0, 4]


def test_saved_tensor_bytes_counts_the_graph_only_with_gradients():
    layer = nn.Linear(10, 5)
    X = torch.randn(4, 10)
    with_grad = saved_tensor_bytes(lambda: layer(X))
    with torch.no_grad():
        without = saved_tensor_bytes(lambda: layer(X))
    assert with_grad >= 4 * 10 * 4 and without == 0


def test_dropout_batchnorm_model_and_accuracy_in_batches_keep_the_mode():
    set_seed(0)
    model = DropoutBatchNormMLP()
    X, y = torch.randn(30, 1, 28, 28), torch.randint(0, 10, (30,))
    model.eval()
    full = (model(X).argmax(dim=1) == y).float().mean().item()
    assert accuracy_in_batches(model, X, y, 7) == pytest.approx(full) and not model.training
    model.train()
    accuracy_in_batches(model, X, y, 10)
    assert model.training
    with pytest.raises(ValueError, match=r"p must be a finite number in \[0, 1\)"):
        DropoutBatchNormMLP(p=1.0)


def test_train_config_is_frozen_and_checked():
    config = TrainConfig(lr=0.1, batch_size=64, num_epochs=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.num_epoch = 5
    with pytest.raises(ValueError, match="lr must be"):
        TrainConfig(lr=-1.0, batch_size=64, num_epochs=10)


def _snippet_scene() -> dict:
    """What the snippets use: a seeded linear model on 10 classes, a loader of 4 batches, an optimizer."""
    generator = torch.Generator().manual_seed(3)
    X, y = torch.randn(40, 1, 28, 28, generator=generator), torch.randint(0, 10, (40,), generator=generator)
    set_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    loader = DataLoader(TensorDataset(X, y), batch_size=10)
    return {"torch": torch, "nn": nn, "model": model, "loss_fn": nn.CrossEntropyLoss(), "train_loader": loader,
            "test_loader": loader, "optimizer": torch.optim.SGD(model.parameters(), lr=0.1), "X_all": X, "y_all": y}


def _trained_as_it_should_be(scene: dict) -> torch.Tensor:
    """The weights after one correct epoch over the scene's loader, from the scene's initial weights."""
    model = copy.deepcopy(scene["model"])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for X, y in scene["train_loader"]:
        optimizer.zero_grad()
        scene["loss_fn"](model(X), y).backward()
        optimizer.step()
    return model[1].weight


def _snippet_is_right(name: str, code: str) -> bool:
    """Run ``code`` in a fresh scene and say whether it did what the lesson says the fixed code does."""
    scene = _snippet_scene()
    expected = _trained_as_it_should_be(scene) if name == "train" else None
    try:
        exec(code, scene)
    except RuntimeError:  # e.g. argmax(0) of a batch compared with its labels
        return False
    if name == "train":
        return torch.allclose(scene["model"][1].weight, expected)
    if name == "evaluate":
        return scene["test_loss"] == pytest.approx(evaluate(scene["model"], scene["test_loader"], scene["loss_fn"])[0])
    if name == "accuracy":
        with torch.no_grad():
            return scene["correct"] == (scene["model"](scene["X_all"]).argmax(1) == scene["y_all"]).sum().item()
    return bool((scene["model"](scene["X_all"]) < 0).any())  # "model": logits must be free to be negative


@pytest.mark.parametrize("name", list(BUGGY_SNIPPETS))
def test_the_stored_line_is_the_bug_and_its_fix_repairs_the_snippet(name):
    bug = BUGGY_SNIPPETS[name]
    assert not _snippet_is_right(name, bug.code)
    assert _snippet_is_right(name, bug.fixed_code())


@pytest.mark.parametrize("name", list(BUGGY_SNIPPETS))
def test_check_buggy_line_accepts_the_line_and_explains_wrong_answers(name):
    bug = BUGGY_SNIPPETS[name]
    right, wrong = check_buggy_line(name, bug.line), check_buggy_line(name, bug.line % len(bug.code.splitlines()) + 1)
    assert right and repr(right).startswith("✓") and bug.why in repr(right)
    assert not wrong and "is fine" in repr(wrong) and "Hint" in repr(wrong)
    assert "no answer yet" in repr(check_buggy_line(name, ...))
    assert "a line number (an int)" in repr(check_buggy_line(name, "4"))
    assert "the snippet has lines 1 to" in repr(check_buggy_line(name, 99))


def test_check_buggy_line_rejects_an_unknown_snippet():
    with pytest.raises(ValueError, match="snippet must be one of"):
        check_buggy_line("optimizer", 1)


def _train_epoch_variant(*, train_mode=True, zero_grad=True, returns="batches", order="before"):
    def fn(model, loader, loss_fn, optimizer):
        if train_mode:
            model.train()
        losses, sizes = [], []
        for X, y in loader:
            loss = loss_fn(model(X), y)
            if zero_grad and order == "before":
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if zero_grad and order == "after":
                optimizer.zero_grad()
            losses.append(loss.item())
            sizes.append(len(y))
        return {"batches": sum(losses) / len(losses), "last": losses[-1],
                "examples": sum(lo * n for lo, n in zip(losses, sizes, strict=True)) / sum(sizes),
                "sum": sum(losses)}[returns]
    return fn


def test_check_train_epoch_accepts_both_orders_and_means_and_names_each_mistake():
    for variant in (_train_epoch_variant(), _train_epoch_variant(order="after"),
                    _train_epoch_variant(returns="examples")):
        assert check_train_epoch(variant)
    cases = {"eval mode": _train_epoch_variant(train_mode=False),
             "gradients of the batches added up": _train_epoch_variant(zero_grad=False),
             "last batch's loss": _train_epoch_variant(returns="last"),
             "sum of the batch losses": _train_epoch_variant(returns="sum")}
    for phrase, fn in cases.items():
        result = check_train_epoch(fn)
        assert not result and phrase in repr(result), (phrase, repr(result))


def test_check_train_epoch_leaves_the_untouched_exercise_without_a_hint():
    def my_train_epoch(model, loader, loss_fn, optimizer):
        """The placeholder as the notebook shows it."""
        ...

    result = check_train_epoch(my_train_epoch)
    assert not result and "no answer yet" in repr(result) and "Hint" not in repr(result)


def _evaluate_variant(*, eval_mode=True, no_grad=True, divide_by="batches", axis=1):
    def fn(model, loader, loss_fn):
        if eval_mode:
            model.eval()
        total, weighted, correct, count, batches = 0.0, 0.0, 0, 0, 0
        with torch.set_grad_enabled(not no_grad):
            for X, y in loader:
                output = model(X)
                total += loss_fn(output, y).item()
                weighted += loss_fn(output, y).item() * len(y)
                correct += (output.argmax(axis) == y).sum().item() if axis == 1 else 0
                count, batches = count + len(y), batches + 1
        loss = {"batches": total / batches, "examples (bug)": total / count, "weighted": weighted / count,
                "weighted per batch": weighted / batches}[divide_by]
        return loss, correct / count
    return fn


def test_check_fixed_evaluate_accepts_both_means_and_names_each_mistake():
    own = check_fixed_evaluate(evaluate)  # the course's evaluate is right, but the exercise asks for the learner's
    assert not own and "course's own evaluate" in repr(own)
    assert check_fixed_evaluate(lambda model, loader, loss_fn: evaluate(model, loader, loss_fn))
    per_batch, per_example = check_fixed_evaluate(_evaluate_variant()), check_fixed_evaluate(
        _evaluate_variant(divide_by="weighted"))
    assert per_batch and "mean loss over the batches" in repr(per_batch)
    assert per_example and "mean loss over the examples" in repr(per_example)
    cases = {"gradients on": _evaluate_variant(no_grad=False), "training mode": _evaluate_variant(eval_mode=False),
             "number of examples": _evaluate_variant(divide_by="examples (bug)"),
             "divided by the number of batches": _evaluate_variant(divide_by="weighted per batch"),
             "accuracy": _evaluate_variant(axis=0), "no answer yet": None}
    for phrase, fn in cases.items():
        result = check_fixed_evaluate(fn)
        assert not result and phrase in repr(result), (phrase, repr(result))
