"""Shared helpers for the course on optimizing neural networks with PyTorch.

Modules are organised by responsibility: ``surfaces`` and ``descent`` for 2-D toy problems;
``batches``, ``sample_losses`` and ``minibatch`` for mini-batches; ``timing``; ``data`` for
FashionMNIST; ``models``; ``loaders``, ``training``, ``history``, ``interrupts``,
``early_stopping`` and ``checkpoint`` for training, exact resume and saving; ``metrics`` for scores
of predictions; ``optimizers`` (optimizers written as ``torch.optim.Optimizer`` subclasses, weight-decay
groups, gradient norms) and ``init_stats`` (initialization schemes, per-layer statistics at step 0);
``schedules`` and ``range_test`` for choosing and scheduling the learning rate; ``runtime`` for seeds, the device and
CPU threads; ``pitfalls``; ``validation`` for argument checks; ``plotting`` (static drawing) and
``readouts`` (text); ``landscape`` for a real network's loss landscape (directions, slices, paths, curvature);
``distributed``, ``workers`` and ``launch`` for data-parallel training with ``torch.distributed`` (process groups,
gradient averaging, the worker processes and their launchers);
``live``, ``widgets``, ``schedule_explorer`` and ``landscape_explorer`` for the live explorers;
``checks``, ``code_checks``, ``loop_checks``, ``optimizer_checks``, ``landscape_checks`` and ``distributed_checks``
for the exercises' self-checks, built on ``feedback``; ``figures`` for the static figures; ``language`` for the
language the helpers speak (English, 中文, 日本語) and ``editions`` for building the translated notebooks.
"""

from lessons_src.language import use_language
from lessons_src.runtime import pick_device, set_seed, use_free_cores

__all__ = ["pick_device", "set_seed", "use_free_cores", "use_language"]
