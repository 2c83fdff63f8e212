"""Ctrl-C during a long call, honoured at safe points instead of wherever the program happens to be.

Jupyter's stop button (Kernel → Interrupt) sends the kernel SIGINT, which Python turns into a
KeyboardInterrupt at the next bytecode: in the middle of an optimizer update, or between two
lines that record one step. :class:`StopRequests` notes the request instead, and the caller
raises it where stopping is safe (``check()``); a second Ctrl-C stops at once, outside
:func:`critical` blocks.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["StopRequests", "critical", "stoppable"]


class StopRequests:
    """Ctrl-C (SIGINT) during ``fit``: the first stops it at the next safe point, a second one at once.

    Safe points are before each training step and each evaluation batch. A second Ctrl-C (for a
    loader that hangs) raises KeyboardInterrupt where the program is, except inside an optimizer
    update, which it lets finish. Signals reach the main thread only; elsewhere nothing is installed.
    """

    def __init__(self) -> None:
        self.requests = 0
        self.critical = False
        self._previous: Any = None

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous) or previous == signal.SIG_DFL:  # leave an ignored SIGINT ignored
                self._previous = previous
                signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: object) -> None:
        self.requests += 1
        if self.requests > 1 and not self.critical:
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if a stop was requested."""
        if self.requests:
            raise KeyboardInterrupt


@contextmanager
def critical(stop: StopRequests | None) -> Iterator[None]:
    """A block that a second Ctrl-C does not cut in half (an update and its record)."""
    if stop is None or stop.critical:
        yield
        return
    stop.critical = True
    try:
        yield
    finally:
        stop.critical = False


def stoppable(loader: Iterable, stop: StopRequests) -> Iterator:
    """The loader's batches, with a requested stop honoured before each one."""
    for batch in loader:
        stop.check()
        yield batch
