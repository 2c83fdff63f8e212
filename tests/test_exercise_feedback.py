"""Exercise feedback teaches: no hint before an attempt, hints that guide without the answer, predictions compared."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from lessons_src import checks

# checks that take a question argument before the answer, with a valid question
LEADING_ARGUMENTS = {"check_label_of": ("Sneaker",), "check_buggy_line": ("train",)}
EXERCISE_CHECKS = sorted(name for name, fn in vars(checks).items()
                         if name.startswith("check_") and name != "check_answer" and inspect.isfunction(fn))


def feedback(name: str, answer) -> str:
    return repr(getattr(checks, name)(*LEADING_ARGUMENTS.get(name, ()), answer))


def test_every_exercise_check_is_collected():
    assert len(EXERCISE_CHECKS) >= 15 and "check_fixed_evaluate" in EXERCISE_CHECKS


@pytest.mark.parametrize("name", EXERCISE_CHECKS)
def test_an_untouched_exercise_gets_no_hint(name):
    """The `...` a notebook ships with says what to do, and keeps the hint for after a real attempt."""
    untouched, attempted = feedback(name, ...), feedback(name, "not an answer")
    assert "no answer yet" in untouched, untouched
    assert "Hint" in attempted, attempted
    hint = attempted.split("Hint: ", 1)[1]
    assert "Hint" not in untouched and hint not in untouched, untouched


# Fragments that would hand over the answer, for the checks whose hints used to contain it.
ANSWER_FRAGMENTS = {
    "check_gradient_at_2_minus_1": ("−6(", "-6(", "(4, 0)", "instead of −6"),
    "check_max_stable_lr_ravine": ("2/λmax", "2 / λmax", "0.1"),
    "check_loader_from_frame": ("TensorDataset(", "DataLoader(", "dtype=torch.float32", "drop(columns"),
    "check_train_epoch": ("zero_grad()", "model.train()", ".item()"),
    "check_resume": ("load_checkpoint", "history=", "optimizer state"),
    "check_tanh_hidden_gradient": ("1 − tanh", "1 - tanh"),
    "check_equivalent_lr": ("η·(1 − β)", "0.05"),
    "check_batch_size_for_third_std": ("1/√B", "72", "9 times"),
    "check_mse_gradient": ("2·(Xw − y)", "Xᵀ"),
}


@pytest.mark.parametrize("name", sorted(ANSWER_FRAGMENTS))
def test_a_hint_guides_without_containing_the_answer(name):
    hint = feedback(name, "not an answer").split("Hint: ", 1)[1]
    assert not [fragment for fragment in ANSWER_FRAGMENTS[name] if fragment in hint], hint


def test_a_placeholder_function_counts_as_no_answer_but_a_forgotten_return_does_not():
    def unfinished(X, y, w):
        """Still the exercise's placeholder."""
        ...

    def forgot_return(X, y, w):
        X.T @ (X @ w - y)

    assert "no answer yet" in repr(checks.check_mse_gradient(unfinished))
    result = checks.check_mse_gradient(forgot_return)
    assert "returned None" in repr(result) and "Hint" in repr(result)


def test_gradient_checks_name_a_missing_constant_factor():
    def summed(X, y, w):
        return 2 * X.T @ (X @ w - y)

    def no_two(X, y, w):
        return X.T @ (X @ w - y) / X.shape[0]

    assert "m = 7 times" in repr(checks.check_mse_gradient(summed))
    assert "half of autograd's" in repr(checks.check_mse_gradient(no_two))


def test_compare_prediction_comments_and_never_fails():
    assert "No prediction written; the answer is 6." in repr(checks.compare_prediction(..., 6, what="the answer"))
    assert checks.compare_prediction(6, 6.0, what="w.grad")
    assert checks.compare_prediction(np.float64(0.52), 0.5, what="a share", rtol=0.1)
    wrong = checks.compare_prediction(4, 6.0, what="w.grad", why="Each pass adds 2.")
    assert not wrong and repr(wrong) == "✗ You predicted 4, but w.grad is 6. Each pass adds 2."
    assert checks.compare_prediction(" Error ", "error", what="the call", choices=("error", "works"))
    maybe = checks.compare_prediction("maybe", "error", what="the call", choices=("error", "works"))
    assert not maybe and "not one of" in repr(maybe)
    assert checks.compare_prediction(None, None, what=".grad") and not checks.compare_prediction(0, None, what=".grad")
    assert checks.compare_prediction(True, True, what="equal") and not checks.compare_prediction(1, True, what="x")
    assert checks.compare_prediction(torch.tensor(2.0), 2.0, what="a tensor")
    assert not checks.compare_prediction("two", 2.0, what="a number")
    assert checks.compare_prediction([4, 1], {1, 4}, what="a set")
    assert not checks.compare_prediction([1], {1, 4}, what="a set")
    assert not checks.compare_prediction(3, {3}, what="a set")


def _mlp_class(*layers_after_flatten, placeholder=False):
    """A learner's class whose forward flattens, then runs these layers (or is still the `...`)."""
    class LearnerMLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Sequential(torch.nn.Flatten(), *layers_after_flatten)

        def forward(self, x):
            return self.layers(x)

    class Untouched(torch.nn.Module):
        def __init__(self):
            super().__init__()

        def forward(self, x):
            ...

    return Untouched if placeholder else LearnerMLP


def test_the_model_class_check_accepts_the_tutorial_network_and_diagnoses_each_departure():
    L, R = torch.nn.Linear, torch.nn.ReLU
    right = _mlp_class(L(784, 512), R(), L(512, 512), R(), L(512, 10))
    assert checks.check_model_class(right)
    assert "no answer yet" in repr(checks.check_model_class(_mlp_class(placeholder=True)))
    verdicts = {
        "clips the logits": _mlp_class(L(784, 512), R(), L(512, 512), R(), L(512, 10), R()),
        "layer sizes": _mlp_class(L(784, 128), R(), L(128, 10)),
        "which layers an activation": _mlp_class(L(784, 512), L(512, 512), R(), R(), L(512, 10)),
        "not one row of 10": _mlp_class(L(784, 512), R(), L(512, 512), R(), L(512, 3)),
    }
    for expected, cls in verdicts.items():
        verdict = checks.check_model_class(cls)
        assert not verdict and expected in repr(verdict) and "Hint" in repr(verdict), repr(verdict)
    assert "subclass of nn.Module" in repr(checks.check_model_class(int))


def test_the_model_class_check_accepts_layers_declared_in_any_order():
    """Only the order forward uses the layers in matters, not the order __init__ declares them in."""
    class Reversed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.out, self.hidden2, self.hidden1 = (torch.nn.Linear(512, 10), torch.nn.Linear(512, 512),
                                                    torch.nn.Linear(784, 512))

        def forward(self, x):
            return self.out(torch.relu(self.hidden2(torch.relu(self.hidden1(x.flatten(1))))))

    assert checks.check_model_class(Reversed), repr(checks.check_model_class(Reversed))


def test_the_sgd_momentum_step_check_names_each_slip():
    import numpy as np

    def right_step(w, b, g, lr, mu, nesterov):
        b = mu * b + g
        return (w - lr * (g + mu * b) if nesterov else w - lr * b), b

    def no_nesterov(w, b, g, lr, mu, nesterov):
        b = mu * b + g
        return w - lr * b, b

    def velocity(w, b, g, lr, mu, nesterov):
        v = mu * b - lr * g
        return w + v, v

    def uphill(w, b, g, lr, mu, nesterov):
        b = mu * b + g
        return w + lr * b, b

    def forgetful(w, b, g, lr, mu, nesterov):
        return right_step(w, b, g, lr, mu, nesterov)[0], np.zeros(2)

    assert checks.check_sgd_momentum_step(right_step)
    for fn, expected in ((no_nesterov, "flag changes nothing"), (velocity, "velocity"), (uphill, "uphill"),
                         (forgetful, "buffer is not")):
        verdict = checks.check_sgd_momentum_step(fn)
        assert not verdict and expected in repr(verdict), repr(verdict)


def test_the_epoch_and_evaluate_checks_hand_over_a_real_loader():
    """Answers that use len(loader.dataset), as the lessons' own loops do, are judged like any other."""
    def per_example_epoch(model, loader, loss_fn, optimizer):
        model.train()
        total = 0.0
        for X, y in loader:
            loss = loss_fn(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
        return total / len(loader.dataset)

    def tensor_epoch(model, loader, loss_fn, optimizer):
        model.train()
        total = 0
        for X, y in loader:
            loss = loss_fn(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total = total + loss
        return total / len(loader)

    def evaluate_like_lesson_07(model, loader, loss_fn):
        model.eval()
        total, correct = 0.0, 0
        with torch.no_grad():
            for X, y in loader:
                logits = model(X)
                total += loss_fn(logits, y).item()
                correct += (logits.argmax(dim=1) == y).sum().item()
        return total / len(loader), correct / len(loader.dataset)

    assert checks.check_train_epoch(per_example_epoch)
    verdict = checks.check_train_epoch(tensor_epoch)
    assert not verdict and "graph alive" in repr(verdict)
    evaluated = checks.check_fixed_evaluate(evaluate_like_lesson_07)
    assert evaluated, repr(evaluated)


def test_the_two_epoch_experiment_check_trains_and_reads_the_curves():
    """The lesson 08 experiment: a good lr passes, a short one and a blow-up are named (trains ~3 s each)."""
    assert checks.check_two_epoch_lr(0.2)
    slow = checks.check_two_epoch_lr(1e-3)
    assert not slow and "still falls" in repr(slow), repr(slow)
    blown = checks.check_two_epoch_lr(20.0)
    assert not blown and "blew up" in repr(blown), repr(blown)


def test_the_resume_check_tells_a_restart_lost_weights_lost_momentum_and_a_lost_schedule_apart():
    import warnings

    from lessons_src.checkpoint import load_checkpoint
    from lessons_src.training import fit

    def resume(path, model, optimizer, scheduler, train, val, loss_fn, num_epochs):
        history = load_checkpoint(path, model, optimizer, scheduler=scheduler)
        return fit(model, train, val, loss_fn, optimizer, num_epochs, history=history, scheduler=scheduler)

    def restart(path, model, optimizer, scheduler, train, val, loss_fn, num_epochs):
        load_checkpoint(path, model, optimizer, scheduler=scheduler)
        return fit(model, train, val, loss_fn, optimizer, num_epochs, scheduler=scheduler)

    def no_schedule_in_fit(path, model, optimizer, scheduler, train, val, loss_fn, num_epochs):
        history = load_checkpoint(path, model, optimizer, scheduler=scheduler)
        return fit(model, train, val, loss_fn, optimizer, num_epochs, history=history)

    def weights_lost(path, model, optimizer, scheduler, train, val, loss_fn, num_epochs):
        other = torch.nn.Linear(4, 3)
        history = load_checkpoint(path, other, torch.optim.SGD(other.parameters(), lr=0.1, momentum=0.9),
                                  scheduler=scheduler)  # the weights went into another model
        return fit(model, train, val, loss_fn, optimizer, num_epochs, history=history, scheduler=scheduler)

    def momentum_lost(path, model, optimizer, scheduler, train, val, loss_fn, num_epochs):
        history = load_checkpoint(path, model, optimizer, scheduler=scheduler)
        optimizer.state.clear()  # as if only the weights had been saved
        return fit(model, train, val, loss_fn, optimizer, num_epochs, history=history, scheduler=scheduler)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert checks.check_resume(resume), repr(checks.check_resume(resume))
        cases = {"started again": restart, "schedule did not come back": no_schedule_in_fit,
                 "did not start from the saved weights": weights_lost, "something else the run needs": momentum_lost}
        for expected, fn in cases.items():
            verdict = checks.check_resume(fn)
            assert not verdict and expected in repr(verdict), (expected, repr(verdict))
