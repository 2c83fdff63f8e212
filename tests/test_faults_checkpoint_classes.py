"""A checkpoint loads all or nothing: another optimizer or scheduler class, or a damaged part, changes nothing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lessons_src.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def make(optimizer_class=torch.optim.SGD, scheduler_class=torch.optim.lr_scheduler.StepLR, seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Linear(4, 3)
    optimizer = optimizer_class(model.parameters(), lr=0.1)
    model(torch.randn(8, 4)).sum().backward()
    optimizer.step()  # so the optimizer has state to save
    if scheduler_class is torch.optim.lr_scheduler.StepLR:
        scheduler = scheduler_class(optimizer, step_size=2, gamma=0.1)
    else:
        scheduler = scheduler_class(optimizer, gamma=0.9)
    return model, optimizer, scheduler


@pytest.fixture
def saved(tmp_path):
    model, optimizer, scheduler = make()
    return save_checkpoint(tmp_path / "run.pt", model, optimizer, scheduler=scheduler)


def test_a_scheduler_of_another_class_is_refused_before_anything_loads(saved):
    model, optimizer, scheduler = make(scheduler_class=torch.optim.lr_scheduler.ExponentialLR, seed=1)
    weights = model.weight.detach().clone()
    with pytest.raises(CheckpointError, match="saved from a StepLR scheduler, not a ExponentialLR"):
        load_checkpoint(saved, model, optimizer, scheduler=scheduler)
    assert torch.equal(model.weight, weights)
    assert scheduler.gamma == 0.9


def test_an_optimizer_of_another_class_is_refused_and_the_model_is_unchanged(saved):
    model, optimizer, scheduler = make(optimizer_class=torch.optim.Adam, seed=1)
    weights = model.weight.detach().clone()
    with pytest.raises(CheckpointError, match="saved from a SGD optimizer, not a Adam"):
        load_checkpoint(saved, model, optimizer, scheduler=scheduler)
    assert torch.equal(model.weight, weights)


def test_damaged_generator_states_are_a_clear_error_and_nothing_changes(saved, tmp_path):
    state = torch.load(saved, weights_only=True)
    state["rng"]["python"] = (3, (-1,) * 625, None)  # random.setstate refuses this
    torch.save(state, tmp_path / "damaged.pt")
    model, optimizer, scheduler = make(seed=1)
    weights, generator = model.weight.detach().clone(), torch.get_rng_state()
    with pytest.raises(CheckpointError, match="random-generator states cannot be restored"):
        load_checkpoint(tmp_path / "damaged.pt", model, optimizer, scheduler=scheduler)
    assert torch.equal(model.weight, weights)
    assert torch.equal(torch.get_rng_state(), generator)


def test_a_missing_optimizer_entry_is_named_in_a_sentence(saved, tmp_path):
    state = torch.load(saved, weights_only=True)
    del state["optimizer"]["state"]
    torch.save(state, tmp_path / "partial.pt")
    model, optimizer, scheduler = make(seed=1)
    with pytest.raises(CheckpointError, match=r"has no entry 'state'\. Build the same optimizer"):
        load_checkpoint(tmp_path / "partial.pt", model, optimizer, scheduler=scheduler)
