"""Gradient norms in the History and clipping by norm in fit, checked against a loop written out with torch."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lessons_src.checkpoint import load_checkpoint, save_checkpoint
from lessons_src.history import History
from lessons_src.optimizers import total_grad_norm
from lessons_src.training import TensorLoader, TrainingDiverged, fit, set_loader_epoch

X = torch.randn(256, 20, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()  # three classes, learnable


def make_run(seed: int = 0, lr: float = 0.1):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 3))
    return model, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def run(model, optimizer, num_epochs=2, **kwargs) -> History:
    return fit(model, TensorLoader(X, Y, 32, shuffle=True, seed=1), TensorLoader(X, Y, 128), nn.CrossEntropyLoss(),
               optimizer, num_epochs, **kwargs)


def by_hand(model, optimizer, num_epochs=2, max_norm=None) -> tuple[list[float], list[float]]:
    """The same steps with clip_grad_norm_ written in the loop: (losses, norms before clipping)."""
    losses, norms = [], []
    loader = TensorLoader(X, Y, 32, shuffle=True, seed=1)
    for epoch in range(num_epochs):
        set_loader_epoch(loader, epoch)
        for Xb, yb in loader:
            loss = nn.functional.cross_entropy(model(Xb), yb)
            optimizer.zero_grad()
            loss.backward()
            grads = [p.grad for p in model.parameters()]
            norm = torch.sqrt(sum((g**2).sum() for g in grads))
            if max_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
            losses.append(loss.item())
            norms.append(norm.item())
    return losses, norms


@pytest.mark.parametrize("max_norm", [None, 0.5])
def test_fit_records_every_steps_norm_before_clipping_and_clips_like_torch(max_norm):
    model, optimizer = make_run()
    history = run(model, optimizer, clip_grad_norm=max_norm)
    reference, reference_optimizer = make_run()
    losses, norms = by_hand(reference, reference_optimizer, max_norm=max_norm)
    assert len(history.grad_norm) == len(history.step_loss) == 16
    assert history.step_loss == pytest.approx(losses, rel=1e-6)
    assert history.grad_norm == pytest.approx(norms, rel=1e-5)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
    if max_norm is not None:
        assert max(history.grad_norm) > max_norm  # recorded before clipping


def test_a_limit_above_every_norm_changes_nothing_bit_for_bit():
    plain = run(*make_run())
    clipped = run(*make_run(), clip_grad_norm=10 * max(plain.grad_norm))
    assert clipped.step_loss == plain.step_loss and clipped.grad_norm == plain.grad_norm


def test_clipping_keeps_a_too_large_lr_from_diverging():
    with pytest.raises(TrainingDiverged):
        run(*make_run(lr=50.0), num_epochs=3)
    history = run(*make_run(lr=50.0), num_epochs=3, clip_grad_norm=0.01)
    assert all(math.isfinite(loss) for loss in history.step_loss)


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, "1"])
def test_a_bad_clip_grad_norm_is_named(bad):
    with pytest.raises(ValueError, match="clip_grad_norm"):
        run(*make_run(), clip_grad_norm=bad)


def test_resuming_a_clipped_run_is_bit_identical(tmp_path):
    model, optimizer = make_run()
    unbroken = run(model, optimizer, num_epochs=3, clip_grad_norm=0.5)
    first, first_optimizer = make_run()
    history = run(first, first_optimizer, num_epochs=1, clip_grad_norm=0.5)
    save_checkpoint(tmp_path / "run.pt", first, first_optimizer, history=history)
    fresh, fresh_optimizer = make_run(seed=1)
    history = load_checkpoint(tmp_path / "run.pt", fresh, fresh_optimizer)
    history = run(fresh, fresh_optimizer, num_epochs=3, history=history, clip_grad_norm=0.5)
    assert history.step_loss == unbroken.step_loss and history.grad_norm == unbroken.grad_norm
    for p, q in zip(fresh.parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_record_saved_before_gradient_norms_loads_with_nan_norms_and_resumes(tmp_path):
    model, optimizer = make_run()
    history = run(model, optimizer, num_epochs=1)
    old = history.to_dict()
    del old["grad_norm"]
    restored = History.from_dict(old)
    assert len(restored.grad_norm) == len(restored.step_loss) and all(math.isnan(g) for g in restored.grad_norm)
    assert History.from_dict(history.to_dict()) == history
    path = save_checkpoint(tmp_path / "old.pt", model, optimizer, history=restored)
    state = torch.load(path, weights_only=True)
    del state["history"]["grad_norm"]
    torch.save(state, path)
    resumed = load_checkpoint(path, *make_run(seed=1))
    assert len(resumed.grad_norm) == len(resumed.step_loss)


def test_total_grad_norm_is_the_norm_of_all_gradients_and_clips_like_torch():
    model, _ = make_run()
    nn.functional.cross_entropy(model(X), Y).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    want = torch.cat([g.flatten() for g in grads]).norm()
    assert torch.allclose(total_grad_norm(model.parameters()), want)
    assert torch.allclose(total_grad_norm(model.parameters(), want.item() / 2), want)  # returns the norm before
    clipped = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    assert clipped == pytest.approx(want.item() / 2, rel=1e-5)
    assert total_grad_norm(nn.Linear(2, 2).parameters()) == 0  # no gradients yet


def test_train_epoch_does_not_measure_the_norm_it_would_throw_away(monkeypatch):
    import lessons_src.training as training

    calls = []
    monkeypatch.setattr(training, "total_grad_norm", lambda *args: calls.append(args) or torch.zeros(()))
    model, optimizer = make_run()
    training.train_epoch(model, TensorLoader(X, Y, 32), nn.CrossEntropyLoss(), optimizer)
    assert calls == []
    history = run(model, optimizer, num_epochs=1)
    assert len(calls) == len(history.step_loss) == 8
