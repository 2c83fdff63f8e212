"""Reproducibility and device selection."""

from __future__ import annotations

import random

import numpy as np
import torch

from lessons_src.validation import as_int


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (CPU and every GPU) with ``seed``."""
    seed = as_int("seed", seed, low=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(prefer: str | None = None) -> torch.device:
    """Return ``prefer`` if given, else the best available device: cuda, then mps, then cpu."""
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"prefer={prefer!r} but CUDA is not available on this machine")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
