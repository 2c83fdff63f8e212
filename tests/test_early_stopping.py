"""EarlyStopping keeps the best epoch's weights and stops fit after `patience` epochs without improvement."""

from __future__ import annotations

import pytest
import torch

from lessons_src.early_stopping import EarlyStopping
from lessons_src.history import History
from lessons_src.training import fit


def test_keeps_the_lowest_validation_loss_and_counts_patience():
    model = torch.nn.Linear(2, 2)
    stopper = EarlyStopping(model, patience=2)
    history = History()
    decisions = []
    for epoch, val_loss in enumerate([1.0, 0.8, 0.9, 0.7, 0.75, 0.71], start=1):
        history.val_loss.append(val_loss)
        history.train_loss.append(0.0)
        with torch.no_grad():
            model.weight.fill_(epoch)  # each epoch's weights are recognisable
        assert history.num_epochs == epoch
        decisions.append(stopper(history))
    assert decisions == [False, False, False, False, False, True]
    assert (stopper.best_epoch, stopper.best_loss) == (4, 0.7)
    assert stopper.restore() == 4 and torch.all(model.weight == 4)
    with pytest.raises(RuntimeError, match="on_epoch_end"):
        EarlyStopping(model).restore()
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(model, patience=0)


def test_fit_stops_when_a_callback_says_so_and_runs_every_callback():
    generator = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 3, generator=generator), torch.randint(0, 2, (64,), generator=generator)
    loader = [(X[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    model = torch.nn.Linear(3, 2)
    seen = []
    history = fit(model, loader, loader, torch.nn.functional.cross_entropy,
                  torch.optim.SGD(model.parameters(), lr=0.1), 10,
                  on_epoch_end=[lambda h: seen.append(h.num_epochs), lambda h: h.num_epochs == 3])
    assert history.num_epochs == 3 and seen == [1, 2, 3]
    stopper = EarlyStopping(model, patience=1)
    fit(model, loader, loader, torch.nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=50.0), 30,
        on_epoch_end=stopper)
    assert stopper.best_epoch is not None and stopper.restore() >= 1
