"""Shared helpers for the course on optimizing neural networks with PyTorch.

Modules are organised by responsibility: ``surfaces`` and ``descent`` for 2-D toy problems,
``data`` for FashionMNIST, ``models``, ``training``, ``plotting``, ``widgets`` and ``checks``.
"""

from lessons_src.runtime import pick_device, set_seed

__all__ = ["pick_device", "set_seed"]
