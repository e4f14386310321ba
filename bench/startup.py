"""Cold-start time: from exec of `python -m emulator` to /readyz answering 200.

Beside it, in the same run, the floor: the interpreter plus `import aiohttp.web`, timed the same
way (from exec to the process's exit). The goal is ready within 1.3 x that floor. Also timed: an
emulator started in-process, as the pytest plugin's fixture does: the first start (which pays the
emulator's imports; aiohttp is already imported under pytest) and the following ones.

    .venv/bin/python bench/startup.py [--runs 10] [--workers 1,2] [--load-cores 1]

Prints the median and the spread of each, in milliseconds; writes nothing but the bytecode of
emulator/ and turn_stub/ (compiled first, as an installed emulator has it).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from proc import add_scale_options, pinned_to, split_cores, worker_args

from emulator.testing.process import start_emulator

ROOT = Path(__file__).resolve().parent.parent
READY_POLL = 0.002  # seconds between /readyz polls once it listens


def floor_once() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import aiohttp.web"], check=True)
    return time.perf_counter() - started


def emulator_once(workers: str = "1", cores: set[int] | None = None) -> float:
    """exec of `python -m emulator --port 0` (through the kit's launcher, as the suite starts
    it) to its first /readyz 200; with --workers N, to the supervisor's startup line (printed
    once every worker is ready) and a /readyz 200."""
    started = time.perf_counter()
    emulator = start_emulator(
        *worker_args(workers), cwd=ROOT, preexec_fn=pinned_to(cores) if cores else None
    )  # returns at the startup line: it listens by then
    try:
        url = emulator.base_url + "/readyz"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(READY_POLL)
    finally:
        emulator.stop()


def in_process_once() -> float:
    """The pytest plugin's path: EmulatorServer on free ports in this (warm) process."""
    from emulator.config import Settings
    from emulator.process.server import EmulatorServer

    async def start_and_stop() -> float:
        started = time.perf_counter()
        server = EmulatorServer(Settings(port=0, turn_port=0))
        await server.start()
        elapsed = time.perf_counter() - started
        await server.close()
        return elapsed

    return asyncio.run(start_and_stop())


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"{name:<34} median {statistics.median(ms):6.0f} ms  (min {ms[0]:.0f}, max {ms[-1]:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="cold starts of each (default 10)")
    add_scale_options(parser)
    args = parser.parse_args()
    os.environ.pop("ORGA_EMULATOR_PORT", None)
    # An installed emulator starts from compiled bytecode (pip compiles it; a checkout writes it
    # on its first import), but not where PYTHONDONTWRITEBYTECODE is set: there each start
    # would compile every module changed since, and the figure would be the compiler's.
    for package in ("emulator", "turn_stub"):
        compileall.compile_dir(ROOT / package, quiet=1)
    server_cores = None
    if args.load_cores:
        load_cores, server_cores = split_cores(args.load_cores)
        os.sched_setaffinity(0, load_cores)
    counts = [w.strip() for w in args.workers.split(",")]
    floor: list[float] = []
    starts: dict[str, list[float]] = {count: [] for count in counts}
    for _ in range(args.runs):  # interleaved, so that noise hits all alike
        floor.append(floor_once())
        for count in counts:
            starts[count].append(emulator_once(count, server_cores))
    emulator = starts[counts[0]]
    import aiohttp.web  # noqa: F401  (as under pytest, where pytest-aiohttp has imported it)

    first = in_process_once()  # pays the emulator's own imports, as a fixture's first use does
    warm = [in_process_once() for _ in range(args.runs)]
    print(summary("floor: python -c 'import aiohttp.web'", floor))
    for count in counts:
        name = "orga-emulator to /readyz 200" + (f", {count} workers" if count != "1" else "")
        print(summary(name, starts[count]))
    print(f"{'in-process start, first (imports)':<34} {first * 1000:6.0f} ms")
    print(summary("in-process start (pytest fixture)", warm))
    ratio = statistics.median(emulator) / statistics.median(floor)
    print(f"ratio to the floor: {ratio:.2f} (goal <= 1.30)")
    for count in counts[1:]:
        ratio = statistics.median(starts[count]) / statistics.median(floor)
        print(f"ratio to the floor with {count} workers: {ratio:.2f}")


if __name__ == "__main__":
    main()
