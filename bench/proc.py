"""What every benchmark does with the processes it measures: pin them to a core, read their CPU.

The emulator itself is started by emulator.testing.process, as the test suite starts it."""

from __future__ import annotations

import argparse
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


# --- --workers and --load-cores, shared by every benchmark ----------------------------------------


def parse_cores(text: str) -> set[int]:
    """`1`, `0,2` or `2-3`: a set of core numbers."""
    cores: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise argparse.ArgumentTypeError(f"not cores like 1, 0,2 or 2-3: {text!r}")
        cores.update(range(int(low), int(high or low) + 1))
    return cores


def add_scale_options(parser: argparse.ArgumentParser) -> None:
    """--workers (the emulator's) and --load-cores (the load generator's cores; the emulator,
    every worker of it, gets the others)."""
    parser.add_argument(
        "--workers",
        default="1",
        help="the emulator's --workers: N or auto; a benchmark that compares takes a list, "
        "1,2, and runs each in turn (default 1)",
    )
    parser.add_argument(
        "--load-cores",
        type=parse_cores,
        metavar="CORES",
        help="cores for the load generator (e.g. 1, or 2-3); the emulator is pinned to the "
        "other cores this process may use",
    )


def split_cores(load: set[int]) -> tuple[set[int], set[int]]:
    """(load cores, server cores) out of this process's affinity; SystemExit if either is
    empty or names a core it may not use."""
    allowed = os.sched_getaffinity(0)
    if not load or load - allowed:
        raise SystemExit(f"--load-cores {sorted(load)}: not within {sorted(allowed)}")
    server = allowed - load
    if not server:
        raise SystemExit(f"--load-cores {sorted(load)} leaves no core for the emulator")
    return load, server


def pinned_to(cores: set[int]) -> Callable[[], None]:
    """A preexec_fn that pins the child (and the workers it starts) to `cores`."""
    return lambda: os.sched_setaffinity(0, cores)


def worker_args(workers: str) -> list[str]:
    """The emulator's arguments for --workers (none for one: the single process as ever)."""
    return [] if workers in ("", "1") else ["--workers", workers]


def tree_cpu_seconds(pid: int) -> float:
    """CPU of `pid` and every live descendant (a supervisor and its workers)."""
    return sum(tree_cpu_by_pid(pid).values())


def tree_cpu_by_pid(pid: int) -> dict[int, float]:
    """CPU seconds of `pid` and of every live descendant, each on its own."""
    try:
        cpu = {pid: cpu_seconds(pid)}
    except OSError:  # gone meanwhile (a worker restarting)
        return {}
    for child in _children(pid):
        cpu.update(tree_cpu_by_pid(child))
    return cpu


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(p) for p in listing.read().split()]
    except OSError:
        return []
