"""What every benchmark does with the processes it measures: pin them to a core, read their CPU.

The emulator itself is started by emulator.testing.process, as the test suite starts it."""

from __future__ import annotations

import os
from collections.abc import Callable

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pinned(core: int) -> Callable[[], None]:
    """A preexec_fn that pins the child process to `core`."""
    return lambda: os.sched_setaffinity(0, {core})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
