"""Saving and loading: a model's weights, and full checkpoints that let training go on exactly.

- A **weights file** (:func:`save_weights`) holds ``model.state_dict()``: enough to use the model,
  not to go on training it the same way (the optimizer's momentum buffers are not in it).
- A **checkpoint** (:func:`save_checkpoint`) holds the model's, the optimizer's and the scheduler's
  state, the :class:`History` (which records the position: epoch, and step within the epoch) and
  the states of the random generators (torch, CUDA when used, NumPy, Python's ``random``). Loaded
  with :func:`load_checkpoint`, in this process or a fresh one, ``fit(..., history=history)`` gives
  the same History and bit-identical weights as a run that was never stopped (same thread count).

Files are written atomically: to a temporary file in the same folder, flushed to disk, then
``os.replace``-d over the target, so a crash leaves the old file or the new one, never half of one.
The file gets the mode a plain ``open(path, "w")`` gives (the umask's, or the old file's), and the
next save removes temporary files that a crashed save left behind. Every load uses
``torch.load(weights_only=True)``, which reads tensors and plain containers and never runs code.
"""

from __future__ import annotations

import copy
import errno
import glob
import os
import pickle
import random
import re
import secrets
import stat
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lessons_src.history import History
from lessons_src.language import tr

__all__ = ["CheckpointError", "save_weights", "load_weights", "save_checkpoint", "load_checkpoint",
           "rng_states", "set_rng_states"]

FORMAT = "lessons_src checkpoint"
VERSION = 1


def how_to_save() -> str:
    """How to write a file this module reads, in the language in use (a function: the language may change)."""
    return tr("save it again from the code that trained it with save_checkpoint(path, model, optimizer, "
              "history=history), or save_weights(model, path) for the weights alone")


def _noun(what: str) -> str:
    """``what`` ("checkpoint", "weights file", "model", "optimizer", "scheduler") in the language in use."""
    return {"checkpoint": tr("checkpoint"), "weights file": tr("weights file"), "model": tr("model"),
            "optimizer": tr("optimizer"), "scheduler": tr("scheduler")}.get(what, what)


class CheckpointError(ValueError):
    """A file is not the checkpoint or weights file it was given as."""


# --- random generators -------------------------------------------------------------------------
def rng_states() -> dict[str, Any]:
    """The states of torch's CPU generator, CUDA's (if CUDA was used), NumPy's and Python's, as plain data."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": random.getstate(),
    }


def set_rng_states(states: Mapping[str, Any]) -> None:
    """Put every generator back in the state :func:`rng_states` returned."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy_state = states["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


# --- writing -----------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``.<name>.<pid>.<token>.tmp`` files of ``path`` whose writing process is gone."""
    for temporary in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        parts = temporary.name[len(path.name) + 2:-len(".tmp")].split(".")
        writer_alive = len(parts) == 2 and parts[0].isdigit() and _pid_alive(int(parts[0]))
        if not writer_alive:
            temporary.unlink(missing_ok=True)


def _write_atomically(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` through a temporary file, fsync and os.replace; return the path."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    except OSError as err:
        raise type(err)(err.errno, tr("cannot save to {path}: {reason}. Choose a folder you can write, "
                                      "e.g. under your home folder", path=path, reason=err.strerror)) from None
    try:
        with os.fdopen(handle, "wb") as f:
            if path.exists():
                os.fchmod(f.fileno(), stat.S_IMODE(path.stat().st_mode))  # keep the old file's mode
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException as err:
        temporary.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None:
            raise type(err)(err.errno, tr("cannot save to {path}: {reason}; the old file, if any, is unchanged",
                                          path=path, reason=err.strerror)) from None
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


# --- reading -----------------------------------------------------------------------------------
def _read(path: str | os.PathLike, what: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with one short message for every kind of bad file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, tr("no {what} at {path}", what=_noun(what), path=path))
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, tr("{path} is a folder; give the path of the {what} itself", path=path,
                                                 what=_noun(what)))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise
    except Exception as err:  # noqa: BLE001 - torch reports a bad file in many ways (EOFError, RuntimeError...)
        found = re.search(r"GLOBAL ([\w.]+)", str(err)) if isinstance(err, pickle.UnpicklingError) else None
        if found:
            raise CheckpointError(tr(
                "{path} holds a pickled Python object ({kind}), for example a whole model saved with "
                "torch.save(model), not a {what}; a safe load reads only tensors and plain containers. "
                "To fix it, {how_to_save}.", path=path, kind=found.group(1), what=_noun(what),
                how_to_save=how_to_save())) from None
        size = path.stat().st_size
        raise CheckpointError(tr(
            "{path} is not a {what}: it is empty, truncated or not a PyTorch file ({size} bytes). "
            "If a save was cut short, use the previous file; to make a new one, {how_to_save}.",
            path=path, what=_noun(what), size=size, how_to_save=how_to_save())) from None


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in obj.items())


def _is_checkpoint(obj: Any) -> bool:
    return isinstance(obj, Mapping) and obj.get("format") == FORMAT


def _load_into(target: Any, state: Any, path: Path, what: str) -> None:
    """``target.load_state_dict(state)`` with a one-paragraph message when the shapes or names disagree."""
    try:
        target.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        reason = (tr("its saved state has no entry {key}", key=repr(err.args[0])) if isinstance(err, KeyError)
                  else str(err).strip().splitlines()[0].rstrip("."))
        raise CheckpointError(tr("the {what} in {path} does not fit this {kind}: {reason}. "
                                 "Build the same {what} as when it was saved, then load.", what=_noun(what),
                                 path=path, kind=type(target).__name__, reason=reason)) from None


# --- weights -----------------------------------------------------------------------------------
def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model.state_dict()`` to ``path`` atomically; return the path (folders are created)."""
    return _write_atomically(model.state_dict(), path)


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load weights saved by :func:`save_weights` (or a checkpoint's) into ``model``; return the model."""
    path = Path(path)
    state = _read(path, "weights file")
    if _is_checkpoint(state):
        state = state["model"]
    if not _is_state_dict(state):
        raise CheckpointError(tr("{path} holds a {kind}, not a model's state_dict (names mapped to tensors). "
                                 "To fix it, {how_to_save}.", path=path, kind=type(state).__name__,
                                 how_to_save=how_to_save()))
    _load_into(model, state, path, "model")
    return model


# --- checkpoints -------------------------------------------------------------------------------
def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer, *,
                    scheduler: Any = None, history: History | None = None) -> Path:
    """Write everything a run needs to go on exactly (see the module docstring) to ``path``; return the path.

    After an interrupt the random generators are saved as they were at the stop (``history.generators``),
    so work done in between changes nothing; otherwise they are saved as they are now, the state the
    next step would start from (save right after ``fit`` returns, or from its ``on_epoch_end``).
    """
    state = {
        "format": FORMAT, "version": VERSION, "model_class": type(model).__name__,
        "optimizer_class": type(optimizer).__name__,
        "scheduler_class": None if scheduler is None else type(scheduler).__name__,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "history": (history if history is not None else History()).to_dict(),
        # after an interrupt, the generators as they were at the stop (whatever ran since)
        "rng": history.generators if history is not None and history.generators is not None else rng_states(),
        "num_threads": torch.get_num_threads(),
    }
    return _write_atomically(state, path)


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer, *,
                    scheduler: Any = None) -> History:
    """Restore model, optimizer, scheduler and random generators from ``path``; return the run's History.

    Build the model, optimizer and scheduler as for the original run, load, then call
    ``fit(..., history=history)``: it goes on at ``history.position``.
    """
    path = Path(path)
    state = _read(path, "checkpoint")
    if _is_state_dict(state):
        raise CheckpointError(tr(
            "{path} holds only a model's weights (a state_dict, as save_weights writes): no optimizer state, "
            "History or position, so training cannot go on exactly from it. Load it with load_weights(model, "
            "path); to be able to resume, save with save_checkpoint(path, model, optimizer, history=history).",
            path=path))
    if not _is_checkpoint(state):
        raise CheckpointError(tr("{path} holds a {kind} that is not a checkpoint of this course. "
                                 "To fix it, {how_to_save}.", path=path, kind=type(state).__name__,
                                 how_to_save=how_to_save()))
    if state["version"] != VERSION:
        raise CheckpointError(tr("{path} is a version {saved} checkpoint; this code reads version {version}.",
                                 path=path, saved=state["version"], version=VERSION))
    if (state["scheduler"] is None) != (scheduler is None):
        if scheduler is None:
            raise CheckpointError(tr("{path} holds a scheduler's state: pass scheduler= the scheduler, so that the "
                                     "learning rate goes on as it was.", path=path))
        raise CheckpointError(tr("{path} has no scheduler state: drop the scheduler, so that the learning rate "
                                 "goes on as it was.", path=path))
    _require_same_classes(state, path, optimizer=optimizer, scheduler=scheduler)
    _load_all_or_nothing(state, path, model, optimizer, scheduler)
    if state["num_threads"] != torch.get_num_threads():
        warnings.warn(tr("{path} was saved with {saved} torch threads, this process uses {now}: the resumed run "
                         "can differ in the last bits (torch.set_num_threads({saved}) makes it exact).",
                         path=path, saved=state["num_threads"], now=torch.get_num_threads()), stacklevel=2)
    return History.from_dict(state["history"])


def _require_same_classes(state: Mapping[str, Any], path: Path, **targets: Any) -> None:
    """Refuse, before anything is loaded, an optimizer or scheduler of another class than the saved one."""
    for what, target in targets.items():
        saved = state.get(f"{what}_class")
        if target is not None and saved is not None and saved != type(target).__name__:
            raise CheckpointError(tr("{path} was saved from a {saved} {what}, not a {kind}: build a {saved} as in "
                                     "the original run, then load.", path=path, saved=saved, what=_noun(what),
                                     kind=type(target).__name__))


def _load_all_or_nothing(state: Mapping[str, Any], path: Path, model: nn.Module,
                         optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
    """Load model, optimizer, scheduler and generators; if any part fails, put every one back as it was."""
    before = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()),
              None if scheduler is None else copy.deepcopy(scheduler.state_dict()), rng_states())
    try:
        _load_into(model, state["model"], path, "model")
        _load_into(optimizer, state["optimizer"], path, "optimizer")
        if scheduler is not None:
            _load_into(scheduler, state["scheduler"], path, "scheduler")
        try:
            set_rng_states(state["rng"])
        except (TypeError, ValueError, OverflowError, KeyError, IndexError, RuntimeError):
            raise CheckpointError(tr("{path} is damaged: its random-generator states cannot be restored. "
                                     "Use the previous file or save again.", path=path)) from None
    except BaseException:
        model.load_state_dict(before[0])
        optimizer.load_state_dict(before[1])
        if scheduler is not None:
            scheduler.load_state_dict(before[2])
        set_rng_states(before[3])
        raise
