"""client-secrets with 1 and N workers: throughput, latency and server CPU per request.

    python bench/workers_load.py [--workers 1,2] [--load-cores 1] [--rounds 3] [--duration 5]
    python bench/workers_load.py --workers 1,2 --reference two-processes

Each worker count is started in turn (rounds interleaved, so that the noise of a shared machine
hits all alike), pinned to the cores --load-cores leaves it; the load is bench/http_load.py's
own load generator (keep-alive HTTP/1.1 on raw streams), on the load cores. The server's CPU is
the supervisor's and every worker's, read from /proc. Prints, per worker count, the median over
the rounds of requests/s, p50/p99 and CPU per request, and each against the first count: on a
machine whose load shares the server's cores, the CPU per request is the coordination tax.

With --reference two-processes, each round also runs two plain emulators (--workers 1 each,
nothing shared, their own ports, the load split evenly between them) on the same cores: what
two interpreters taking turns on the server's cores cost without any coordination, the
baseline for --workers 2.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

import http_load
from proc import add_scale_options, pinned_to, split_cores, worker_args

from emulator.testing.process import start_emulator

ROOT = Path(__file__).resolve().parent.parent
REQUEST = http_load.requests_for(token="")["client-secrets"]


def measure(
    servers: dict[str, list[str]], server_cores: set[int], load_cpu: int, args: argparse.Namespace
) -> dict:
    """The load over the emulators given (a name for each one's log: its arguments), all started
    at once on the server cores; the CPU is that of each one's whole process tree."""
    emulators = []
    try:
        for name, extra in servers.items():
            emulators.append(
                start_emulator(
                    *extra,
                    "--turn-port",
                    "0",
                    cwd=ROOT,
                    preexec_fn=pinned_to(server_cores),
                    log_file=Path(tempfile.gettempdir()) / f"orga-emulator-bench-{name}.log",
                    timeout=60,
                )
            )
        for emulator in emulators:
            asyncio.run(http_load.mint_token(emulator.base_url))  # every worker is up by now
        load = argparse.Namespace(
            connections=args.connections, duration=args.duration, load_cores=str(load_cpu)
        )
        # CPU over the measured window (after each load process's warm-up).
        result = http_load.run_load(
            load, [e.port for e in emulators], REQUEST, [e.pid for e in emulators]
        )
        return {**result, "cpu_us": result["cpu_us_per_request"]}
    finally:
        for emulator in emulators:
            emulator.stop()


# Two emulators side by side, sharing nothing: half the connections each.
TWO_PLAIN = {"two-processes-0": [], "two-processes-1": []}
TWO_PROCESSES = "2 processes"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_scale_options(parser)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each count (default 3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument(
        "--reference",
        choices=["two-processes"],
        help="also run two plain emulators sharing nothing, as the baseline of two workers",
    )
    args = parser.parse_args()
    load_cores, server_cores = split_cores(args.load_cores or {1})
    counts = [c.strip() for c in args.workers.split(",")]
    runs: dict[str, list[dict]] = {c: [] for c in counts}
    if args.reference:
        runs[TWO_PROCESSES] = []
    print(
        f"client-secrets, {args.connections} connections, {args.duration:.0f} s x "
        f"{args.rounds} rounds; server on cores {sorted(server_cores)}, load on "
        f"{sorted(load_cores)}"
    )
    for _ in range(args.rounds):
        for count in counts:
            servers = {f"workers-{count}": worker_args(count)}
            runs[count].append(measure(servers, server_cores, min(load_cores), args))
        if args.reference:
            runs[TWO_PROCESSES].append(measure(TWO_PLAIN, server_cores, min(load_cores), args))
    header = ("workers", "req/s", "p50 ms", "p99 ms", "errors", "CPU/req us", "server CPU")
    print("{:>8} {:>9} {:>8} {:>8} {:>7} {:>11} {:>11}".format(*header))
    medians = {}
    for count in runs:
        rows = runs[count]
        # the figures of each round (run_load also gives a list per server: not a figure here)
        m = {
            k: statistics.median(r[k] for r in rows)
            for k, v in rows[0].items()
            if k != "elapsed" and isinstance(v, int | float)
        }
        medians[count] = m
        print(
            f"{count:>8} {m['rps']:9.0f} {m['p50_ms']:8.2f} {m['p99_ms']:8.2f} "
            f"{int(sum(r['errors'] for r in rows)):7d} {m['cpu_us']:11.0f} "
            f"{100 * m['cpu_share']:10.0f}%"
        )
    first = medians[counts[0]]
    for count in list(runs)[1:]:
        m = medians[count]
        what = count if count == TWO_PROCESSES else f"{count} workers"
        print(
            f"{what} against {counts[0]}: CPU per request "
            f"{m['cpu_us'] / first['cpu_us']:.2f}x, throughput {m['rps'] / first['rps']:.2f}x"
        )


if __name__ == "__main__":
    main()
