"""Graceful termination: SIGTERM stops long work at its next safe point.

The command line turns SIGTERM into a request (:func:`request_stop`). Code that has safe points
-- the training loop, between two steps -- runs inside :func:`safe_points` and calls
:func:`check` at each: once a stop is requested, :func:`check` raises :class:`Terminated` there,
so no library call (e.g. an asynchronous checkpoint write) is cut in the middle. Outside such code
the request is answered at once: the handler raises :class:`Terminated` wherever the program is,
as Ctrl-C raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["Terminated", "request_stop", "safe_points", "check", "reset"]

_requested = threading.Event()
_active = 0  # how many safe-point regions are running (nested runs count separately)


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM); handled like Ctrl-C by every clean-up path."""


def request_stop() -> bool:
    """Ask running work to stop. Returns True when a safe-point region will raise at its next
    :func:`check` (the caller should then return), False when none is running (the caller should
    raise :class:`Terminated` itself)."""
    _requested.set()
    return _active > 0


@contextlib.contextmanager
def safe_points() -> Iterator[None]:
    """A region whose code calls :func:`check` at its safe points."""
    global _active
    _active += 1
    try:
        yield
    finally:
        _active -= 1


def check() -> None:
    """Raise :class:`Terminated` if a stop was requested."""
    if _requested.is_set():
        raise Terminated()


def reset() -> None:
    """Forget a request (the command line calls it when it starts)."""
    _requested.clear()
