"""Fault injection: kill the process with SIGKILL at a named point (for the fault tests).

Long-running commands call :func:`kill_point` at the moments where a crash is most likely to
leave damage -- between two files of a set, after a record but during its checkpoint, after a
generation chunk, before the pair file is written. Nothing happens unless the environment
variable ``CODEC_JAX_KILL_AT`` names the point, as ``NAME`` (the first time it is reached) or
``NAME:N`` (the N-th time); then the process kills itself with SIGKILL, exactly as an
out-of-memory killer or ``kill -9`` would, with no clean-up. tests/cli/test_faults.py uses it to
check that every command resumes or refuses cleanly after such a kill.

Points: ``train:epoch_saved`` (an epoch's metrics line appended, its checkpoint save started),
``pair:searched`` (pairs found, file not written), ``flatten:signal_written`` (signal.root
written, background.root not), ``generate:chunk_written`` (a chunk file written).
"""

from __future__ import annotations

import os
import signal

__all__ = ["KILL_AT_VARIABLE", "kill_point"]

KILL_AT_VARIABLE = "CODEC_JAX_KILL_AT"
_reached: dict[str, int] = {}


def kill_point(name: str) -> None:
    """SIGKILL this process if ``CODEC_JAX_KILL_AT`` is ``name`` or ``name:N`` and this is the
    N-th time (default: first) the point is reached; otherwise do nothing."""
    target = os.environ.get(KILL_AT_VARIABLE)
    if not target:
        return
    point, _, count = target.rpartition(":")
    if not count.isdigit():
        point, count = target, ""
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == (int(count) if count else 1):
        os.kill(os.getpid(), signal.SIGKILL)
