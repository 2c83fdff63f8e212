"""The record of a training run: what each epoch measured, every step's loss, and where the run stands.

``fit`` fills a :class:`History`; a checkpoint stores it; ``fit(..., history=history)`` reads from it
where to go on. It holds plain numbers only, so it is saved and loaded with ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from lessons_src.language import tr


@dataclass
class History:
    """What ``fit`` measured, one entry per completed epoch (and one per step in ``step_loss``).

    A run stopped inside an epoch also keeps that epoch's progress in the ``partial_*`` fields, so
    that ``fit(..., history=history)`` goes on at the next step instead of training the epoch again.
    """

    train_loss: list[float] = field(default_factory=list)  # mean of the epoch's batch losses
    val_loss: list[float] = field(default_factory=list)  # mean over the validation batches
    val_accuracy: list[float] = field(default_factory=list)  # fraction correct on validation, in [0, 1]
    seconds: list[float] = field(default_factory=list)  # wall-clock time of the training pass
    lr: list[float] = field(default_factory=list)  # the learning rate the epoch started with
    step_loss: list[float] = field(default_factory=list)  # every training step's loss, in order
    # every step's gradient norm (all parameters together, before any clipping), aligned with step_loss;
    # NaN for the steps of a record saved before the course logged it
    grad_norm: list[float] = field(default_factory=list)
    interrupted: str | None = None  # e.g. "during epoch 3, after step 40" when Ctrl-C stopped fit
    # The unfinished epoch (number num_epochs + 1), when fit stopped inside it:
    partial_steps: int = 0  # its steps taken; their losses are the last entries of step_loss
    partial_seconds: float = 0.0  # their wall-clock time
    partial_lr: float | None = None  # the learning rate it started with
    partial_trained: bool = False  # its training pass is complete; only its evaluation is missing
    # torch/NumPy/Python random-generator states when fit stopped: resuming starts from them, so random
    # numbers drawn between the stop and the resume (or before a later save_checkpoint) change nothing
    generators: dict[str, Any] | None = None

    @property
    def num_epochs(self) -> int:
        """How many epochs are complete and recorded."""
        return len(self.train_loss)

    @property
    def total_seconds(self) -> float:
        """Training time of all recorded epochs, in seconds (evaluation excluded)."""
        return sum(self.seconds)

    @property
    def position(self) -> tuple[int, int]:
        """(epoch, step): training goes on with this epoch (1-based) after this many of its steps."""
        return self.num_epochs + 1, self.partial_steps

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain lists, numbers and strings (what a checkpoint stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> History:
        """Rebuild a History from :meth:`to_dict`'s output; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        renamed = {old: new for old, new in (("test_loss", "val_loss"), ("test_accuracy", "val_accuracy"))
                   if old in fields and new not in fields}
        if renamed:  # saved by an earlier version of the course, whose fit evaluated on the loader it was given
            warnings.warn(tr("this History was saved by an earlier version of the course: its {fields} are the numbers "
                             "of the set fit evaluated on, loaded as val_loss / val_accuracy", fields=sorted(renamed)),
                          stacklevel=2)
            fields = {renamed.get(key, key): value for key, value in fields.items()}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(tr("a History has no field(s) {unknown}; known fields: {known}", unknown=unknown,
                                known=sorted(known)))
        if "grad_norm" not in fields:  # saved before gradient norms were logged: keep the lists aligned
            fields = {**fields, "grad_norm": [math.nan] * len(fields.get("step_loss", []))}
        return cls(**fields)
