"""HTTP benchmark: client-secrets and ice-config throughput and latency.

    python bench/http_load.py [--duration 10] [--connections 64]

The emulator runs in its own process pinned to CPU 0; the load comes from another process pinned
to CPU 1 (keep-alive HTTP/1.1 over raw asyncio streams, so the client is not the bottleneck).
Prints requests/s, latency p50/p99 and the server's CPU use for each endpoint.
Goal (issue 2): >= 3,000 client-secrets/s and p99 <= 20 ms at 64 connections on one core.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from proc import cpu_seconds, pinned

if TYPE_CHECKING:
    from emulator.testing.process import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk_orga_ai_emulator_dev_key"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- load worker (runs in its own process) ------------------------------------------------------


async def _connection(host, port, request: bytes, deadline: float, latencies: list, errors: list):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def _load(host: str, port: int, request: bytes, connections: int, duration: float) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    warmup_deadline = time.perf_counter() + 1.0
    await asyncio.gather(
        *(_connection(host, port, request, warmup_deadline, [], []) for _ in range(connections))
    )
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(host, port, request, started + duration, latencies, errors)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "errors": len(errors),
        "elapsed": elapsed,
    }


def worker_main(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {args.client_cpu})
    gc.disable()  # the load generator's own pauses must not show up as server latency
    request = args.request.encode().decode("unicode_escape").encode()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    print(json.dumps(run(_load(args.host, args.port, request, args.connections, args.duration))))


# --- orchestration ------------------------------------------------------------------------------


# The kit is imported where it is used, not by the load worker (which runs this file too): its
# start-up time counts in the server's CPU figure.


def start_pinned_emulator(server_cpu: int, log_path: Path) -> EmulatorProcess:
    from emulator.testing.process import start_emulator

    # Its log to a file, as a pipe would cost it (and this machine) more under load.
    return start_emulator(
        "--turn-port", "0", cwd=ROOT, preexec_fn=pinned(server_cpu), log_file=log_path
    )


def run_load(args, port: int, request: str) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            "--port",
            str(port),
            "--request",
            request,
            "--connections",
            str(args.connections),
            "--duration",
            str(args.duration),
            "--client-cpu",
            str(args.client_cpu),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


async def mint_token(base_url: str) -> str:
    from emulator.testing.backend import OrgaBackend

    backend = OrgaBackend(base_url, API_KEY)
    try:
        return await backend.mint_token("bench@example.com")
    finally:
        await backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Output: requests/s, latency in ms (p50, p99), the server's CPU in % of one core. "
        "The emulator's log goes to $TMPDIR/orga-emulator-bench-http.log.",
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of load per endpoint (default 10)"
    )
    parser.add_argument(
        "--connections", type=int, default=64, help="keep-alive connections (default 64)"
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="core for the emulator (0)")
    parser.add_argument("--client-cpu", type=int, default=1, help="core for the load (1)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--request", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args)

    log_path = Path(tempfile.gettempdir()) / "orga-emulator-bench-http.log"
    emulator = start_pinned_emulator(args.server_cpu, log_path)
    proc, port = emulator.proc, emulator.port
    try:
        token = asyncio.run(mint_token(emulator.base_url))
        requests = {
            "client-secrets": (
                "POST /v1/realtime/client-secrets?email=bench%40example.com HTTP/1.1\\r\\n"
                f"Host: bench\\r\\nAuthorization: Bearer {API_KEY}\\r\\n"
                "Content-Length: 0\\r\\n\\r\\n"
            ),
            "ice-config": (
                "GET /v1/realtime/ice-config HTTP/1.1\\r\\n"
                f"Host: bench\\r\\nAuthorization: Bearer {token}\\r\\n\\r\\n"
            ),
        }
        print(
            f"emulator on CPU {args.server_cpu}, load on CPU {args.client_cpu}, "
            f"{args.connections} connections, {args.duration:.0f} s per endpoint"
        )
        header = ("endpoint", "req/s", "p50 ms", "p99 ms", "errors", "server CPU")
        print("{:16} {:>9} {:>8} {:>8} {:>7} {:>11}".format(*header))
        for name, request in requests.items():
            cpu_before, wall_before = cpu_seconds(proc.pid), time.perf_counter()
            result = run_load(args, port, request)
            cpu = (cpu_seconds(proc.pid) - cpu_before) / (time.perf_counter() - wall_before)
            print(
                f"{name:16} {result['rps']:9.0f} {result['p50_ms']:8.2f} {result['p99_ms']:8.2f} "
                f"{result['errors']:7d} {cpu * 100:10.0f}%"
            )
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
