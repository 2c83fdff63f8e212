"""Early stopping: keep the weights of the epoch with the lowest validation loss, and stop once it has not
improved for ``patience`` epochs. Used as ``fit(..., on_epoch_end=EarlyStopping(model, patience=5))``."""

from __future__ import annotations

import copy

import torch
from torch import nn

from lessons_src.history import History
from lessons_src.language import tr
from lessons_src.validation import as_int


class EarlyStopping:
    """Remembers the best epoch by validation loss (a copy of its weights); tells ``fit`` when to stop."""

    def __init__(self, model: nn.Module, patience: int = 5) -> None:
        self.model = model
        self.patience = as_int("patience", patience, low=1)
        self.best_loss = float("inf")
        self.best_epoch: int | None = None  # 1-based, as History counts epochs
        self.best_state: dict[str, torch.Tensor] | None = None

    def __call__(self, history: History) -> bool:
        """After an epoch: keep its weights if its validation loss is the lowest so far; True means stop."""
        if history.val_loss[-1] < self.best_loss:
            self.best_loss, self.best_epoch = history.val_loss[-1], history.num_epochs
            self.best_state = copy.deepcopy(self.model.state_dict())
        return history.num_epochs - self.best_epoch >= self.patience

    def restore(self) -> int:
        """Load the best epoch's weights into the model; returns that epoch's number."""
        if self.best_state is None:
            raise RuntimeError(tr("no epoch has finished yet: pass this object to fit(..., on_epoch_end=...) first"))
        self.model.load_state_dict(self.best_state)
        return self.best_epoch
