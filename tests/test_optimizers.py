"""The course's Optimizer subclasses against torch.optim, step by step, and the weight-decay helpers."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lessons_src.optimizers import MomentumSGD, PlainAdam, decay_groups, weight_norm

X = torch.randn(64, 12, generator=torch.Generator().manual_seed(0))
Y = torch.randint(0, 4, (64,), generator=torch.Generator().manual_seed(1))


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 4))


def steps(model, optimizer, num_steps):
    for _ in range(num_steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(X), Y).backward()
        optimizer.step()


def assert_same_weights(a, b):
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, rtol=1e-6, atol=1e-7)


@settings(max_examples=15, deadline=None)
@given(lr=st.floats(1e-3, 0.2), momentum=st.floats(0.0, 0.95), nesterov=st.booleans(),
       weight_decay=st.sampled_from([0.0, 1e-3, 0.1]))
def test_momentum_sgd_makes_torch_sgds_steps(lr, momentum, nesterov, weight_decay):
    nesterov = nesterov and momentum > 0
    ours, theirs = make_model(), make_model()
    steps(ours, MomentumSGD(ours.parameters(), lr, momentum, nesterov=nesterov, weight_decay=weight_decay), 30)
    steps(theirs, torch.optim.SGD(theirs.parameters(), lr, momentum=momentum, nesterov=nesterov,
                                  weight_decay=weight_decay), 30)
    assert_same_weights(ours, theirs)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_plain_adam_makes_torch_adams_steps(weight_decay):
    ours, theirs = make_model(), make_model()
    steps(ours, PlainAdam(ours.parameters(), 1e-2, betas=(0.8, 0.99), weight_decay=weight_decay), 50)
    steps(theirs, torch.optim.Adam(theirs.parameters(), 1e-2, betas=(0.8, 0.99), weight_decay=weight_decay), 50)
    assert_same_weights(ours, theirs)


@pytest.mark.parametrize("make", [lambda p: MomentumSGD(p, 0.05, 0.9, nesterov=True), lambda p: PlainAdam(p, 1e-2)])
def test_a_state_dict_round_trip_goes_on_exactly(make):
    model = make_model()
    optimizer = make(model.parameters())
    steps(model, optimizer, 10)
    copy_model = copy.deepcopy(model)
    copy_optimizer = make(copy_model.parameters())
    copy_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    steps(model, optimizer, 10)
    steps(copy_model, copy_optimizer, 10)
    for p, q in zip(model.parameters(), copy_model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_param_groups_keep_their_own_hyper_parameters():
    model = make_model()
    optimizer = MomentumSGD(decay_groups(model, 0.1), lr=0.05, momentum=0.9)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0]
    reference = make_model()
    torch_optimizer = torch.optim.SGD(decay_groups(reference, 0.1), lr=0.05, momentum=0.9)
    steps(model, optimizer, 20)
    steps(reference, torch_optimizer, 20)
    assert_same_weights(model, reference)


def test_decay_groups_decay_matrices_and_spare_biases_and_norm_weights():
    groups = decay_groups(make_model(), 0.05)
    assert groups[0]["names"] == ["0.weight", "3.weight"] and groups[0]["weight_decay"] == 0.05
    assert groups[1]["names"] == ["0.bias", "1.weight", "1.bias", "3.bias"] and groups[1]["weight_decay"] == 0.0
    by_position = decay_groups(make_model().parameters(), 0.05)
    assert by_position[0]["names"] == ["0", "4"] and by_position[1]["names"] == ["1", "2", "3", "5"]
    with pytest.raises(TypeError, match="iterable of parameters"):
        decay_groups([1.0], 0.1)


@pytest.mark.parametrize(("kwargs", "name"), [({"lr": -1}, "lr"), ({"lr": 0.1, "momentum": 1.0}, "momentum"),
                                              ({"lr": 0.1, "weight_decay": -0.1}, "weight_decay"),
                                              ({"lr": 0.1, "nesterov": True}, "nesterov")])
def test_bad_hyper_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MomentumSGD(make_model().parameters(), **kwargs)


def test_bad_adam_betas_are_named():
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        PlainAdam(make_model().parameters(), betas=(0.9, 1.0))
    for bad in (0.9, (0.9,), (0.9, 0.99, 0.999)):
        with pytest.raises(ValueError, match=r"betas must be a pair"):
            PlainAdam(make_model().parameters(), betas=bad)


def test_weight_norm_counts_matrices_only_by_default():
    model = make_model()
    matrices = torch.cat([model[0].weight.flatten(), model[3].weight.flatten()]).norm().item()
    assert weight_norm(model) == pytest.approx(matrices)
    assert weight_norm(model, matrices_only=False) > weight_norm(model)
