"""HTTP benchmark: client-secrets and ice-config beside a bare aiohttp handler, on one core.

    python bench/http_load.py [--duration 10] [--connections 64] [--rounds 3]
    python bench/http_load.py --workers 2 --server-cores 0,1 --load-cores 0,1
    python bench/http_load.py --side-by-side --rounds 8 --endpoints client-secrets

The emulator runs in its own process pinned to the server cores (default: core 1); so does the
reference, a bare aiohttp app (uvloop, no middleware, no access log) answering a POST with a
constant JSON body as long as a client-secrets response: the ceiling for one core. The load
comes from one process per load core (default: core 0; keep-alive HTTP/1.1 over raw asyncio
streams, so the client is not the bottleneck). Each round measures the reference, then each
endpoint, and prints requests/s, latency p50/p99, the server's CPU (% of one core and
microseconds per request, over its whole process tree) and each endpoint's ratio to the
reference of the same round: of requests/s, and of CPU per request (the steadier figure on a
shared machine). With several rounds it also prints the ratio of each server's cheapest round:
on a machine whose speed drifts between runs, noise only adds time. With --side-by-side the
reference and each endpoint are served at once, half the connections each, and the ratio is
of their CPU per request over the same window: both see the same neighbours.
Goals: >= 3,000 client-secrets/s and p99 <= 20 ms at 64 connections on one core (issue 2);
client-secrets at >= 50 % of the bare handler's requests/s with the access log on (issue 14).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from proc import cpu_seconds

if TYPE_CHECKING:
    from emulator.testing.process import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk_orga_ai_emulator_dev_key"
BARE = "bare aiohttp"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cores(text: str) -> set[int]:
    return {int(core) for core in text.split(",")}


def pinned_to(cpus: set[int]) -> Callable[[], None]:
    """A preexec_fn that pins the child process (and what it forks) to `cpus`."""
    return lambda: os.sched_setaffinity(0, cpus)


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants (the workers of `--workers N`)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += cpu_seconds(current)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue  # it exited in between
    return total


# --- load worker (runs in its own process, one per load core) ------------------------------------


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
    print("measuring", flush=True)  # the parent starts the server's CPU count here
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(host, port, request, started + duration, latencies, errors)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "errors": len(errors), "elapsed": elapsed}


def _uvloop_run():
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def request_bytes(written: str) -> bytes:
    """A request of requests_for(), as the bytes sent (it is written with escapes for argv)."""
    return written.encode().decode("unicode_escape").encode()


def worker_main(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {args.client_cpu})
    gc.disable()  # the load generator's own pauses must not show up as server latency
    request = request_bytes(args.request)
    result = _uvloop_run()(_load(args.host, args.port, request, args.connections, args.duration))
    Path(args.result_file).write_text(json.dumps(result))  # too long for a pipe read in one go


# --- the reference: a bare aiohttp app (runs in its own process) -------------------------------


def bare_main(args: argparse.Namespace) -> None:
    """POST /bare answers a constant JSON body of `--body-size` bytes; prints its port."""
    from aiohttp import web

    filler = "x" * max(0, args.body_size - len(json.dumps({"pad": ""})))
    body = json.dumps({"pad": filler}).encode()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/bare", handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, args.host, 0).start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    _uvloop_run()(serve())


# --- orchestration ------------------------------------------------------------------------------


# The kit is imported where it is used, not by the load worker (which runs this file too): its
# start-up time counts in the server's CPU figure.


def start_pinned_emulator(args, log_path: Path) -> EmulatorProcess:
    from emulator.testing.process import start_emulator

    extra = ["--log-level", args.log_level] if args.log_level else []
    if args.workers is not None:
        extra += ["--workers", args.workers]
    # Its log to a file, as a pipe would cost it (and this machine) more under load.
    return start_emulator(
        "--turn-port",
        "0",
        *extra,
        cwd=ROOT,
        preexec_fn=pinned_to(cores(args.server_cores)),
        log_file=log_path,
    )


def wait_rtc_loaded(base_url: str, timeout: float = 60.0) -> None:
    """Until /readyz says aiortc, loaded in the background after the start, is there: its
    import must not fall inside the measured requests."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=5) as answer:
            if b'"loading": []' in answer.read():
                return
        time.sleep(0.2)
    raise TimeoutError(f"aiortc did not load within {timeout:g} s")


def start_bare(args, body_size: int) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--bare", "--body-size", str(body_size)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=pinned_to(cores(args.server_cores)),
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def run_load(
    args, port: int | list[int], request: str | list[str], server_pid: int | list[int]
) -> dict:
    """The load from every load core at once, the server's CPU counted over the same window.
    Given several ports (and server pids), each load core splits its connections over them
    evenly, and the CPU is that of every server; given as many requests, each port gets its
    own."""
    load_cores = sorted(cores(args.load_cores))
    ports = port if isinstance(port, list) else [port]
    each_request = request if isinstance(request, list) else [request] * len(ports)
    asked = dict(zip(ports, each_request, strict=True))
    server_pids = server_pid if isinstance(server_pid, list) else [server_pid]
    targets = [(core, target) for core in load_cores for target in ports]
    share, extra = divmod(args.connections, len(targets))
    results_dir = Path(tempfile.mkdtemp(prefix="orga-bench-"))
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                "--port",
                str(target),
                "--request",
                asked[target],
                "--connections",
                str(share + (1 if i < extra else 0)),
                "--duration",
                str(args.duration),
                "--client-cpu",
                str(core),
                "--result-file",
                str(results_dir / f"{core}-{target}.json"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, (core, target) in enumerate(targets)
    ]
    for worker in workers:  # the warm-up is over when every worker says so
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "measuring"
    cpu_before, wall_before = list(map(tree_cpu_seconds, server_pids)), time.perf_counter()
    for worker in workers:
        worker.wait()
        worker.stdout.close()  # type: ignore[union-attr]
    cpu_each = [tree_cpu_seconds(pid) - cpu_before[i] for i, pid in enumerate(server_pids)]
    cpu = sum(cpu_each)
    wall = time.perf_counter() - wall_before
    if any(worker.returncode for worker in workers):
        raise RuntimeError("a load worker failed")
    results = {
        (core, target): json.loads((results_dir / f"{core}-{target}.json").read_text())
        for core, target in targets
    }
    shutil.rmtree(results_dir)
    latencies = [value for result in results.values() for value in result["latencies"]]
    requests = len(latencies)
    # With a server per port (ports and pids paired in order): each one's own figures.
    each = [
        sum(len(r["latencies"]) for (_, target), r in results.items() if target == port)
        for port in ports
    ]
    per_server = (
        [cpu_each[i] / each[i] * 1e6 if each[i] else float("nan") for i in range(len(ports))]
        if len(ports) == len(server_pids)
        else []
    )
    return {
        "cpu_us_per_request_each": per_server,
        "requests": requests,
        "rps": sum(len(r["latencies"]) / r["elapsed"] for r in results.values()),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "errors": sum(r["errors"] for r in results.values()),
        "cpu_share": cpu / wall,
        "cpu_us_per_request": cpu / requests * 1e6,
    }


async def mint_token(base_url: str) -> str:
    from emulator.testing.backend import OrgaBackend

    backend = OrgaBackend(base_url, API_KEY)
    try:
        return await backend.mint_token("bench@example.com")
    finally:
        await backend.close()


def client_secrets_body_size(base_url: str) -> int:
    request = urllib.request.Request(
        base_url + "/v1/realtime/client-secrets?email=bench%40example.com",
        method="POST",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return len(response.read())


# Side by side: CPU per request of the reference and of an endpoint, served at once on the
# server core, each loaded by half the connections: both see the same neighbours and drift, so
# the ratio of each round moves by a few per cent where runs one after the other move by tens.
Pairs = dict[str, list[tuple[float, float]]]  # per endpoint: (reference, own) us/req per round


def side_by_side_round(args, round_: int, endpoints, requests, bare, emulator, into: Pairs) -> None:
    bare_proc, bare_port = bare
    pids = [bare_proc.pid, emulator.proc.pid]
    for name in endpoints:
        result = run_load(args, [bare_port, emulator.port], [requests[BARE], requests[name]], pids)
        reference, own = result["cpu_us_per_request_each"]
        into.setdefault(name, []).append((reference, own))
        print(
            f"{round_:5d} {name:16} {own:7.1f} us/req beside {BARE} at {reference:.1f} us/req: "
            f"{reference / own:5.1%} by CPU/req ({result['errors']} errors)",
            flush=True,
        )


def print_side_by_side(rounds: Pairs) -> None:
    for name, pairs in rounds.items():
        ratios = [reference / own for reference, own in pairs]
        print(
            f"{name}: {statistics.median(ratios):.1%} of the reference by CPU per request, "
            f"side by side (median of {len(ratios)} rounds; from {min(ratios):.1%} to "
            f"{max(ratios):.1%})"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="The emulator's log goes to $TMPDIR/orga-emulator-bench-http.log.",
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of load per run (default 10)"
    )
    parser.add_argument(
        "--connections", type=int, default=64, help="keep-alive connections (default 64)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds of runs (default 1)")
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="serve the reference and each endpoint at once, half the connections each, and "
        "compare their CPU per request over the same window (steadier on a shared machine)",
    )
    parser.add_argument(
        "--endpoints",
        default="client-secrets,ice-config",
        help="endpoints to load, comma-separated (default client-secrets,ice-config)",
    )
    parser.add_argument(
        "--server-cores", default="1", help="cores for the emulator and the reference (1)"
    )
    parser.add_argument(
        "--load-cores", default="0", help="cores for the load, one process each (0)"
    )
    parser.add_argument("--workers", help="passed to the emulator as --workers (not by default)")
    parser.add_argument("--log-level", help="passed to the emulator as --log-level (its default)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--body-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client-cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--request", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    return parser.parse_args()


def requests_for(token: str) -> dict[str, str]:
    return {
        BARE: ("POST /bare HTTP/1.1\\r\\nHost: bench\\r\\nContent-Length: 0\\r\\n\\r\\n"),
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


def main() -> None:
    args = parse_args()
    if args.worker:
        return worker_main(args)
    if args.bare:
        return bare_main(args)

    endpoints = args.endpoints.split(",")
    log_path = Path(tempfile.gettempdir()) / "orga-emulator-bench-http.log"
    emulator = start_pinned_emulator(args, log_path)
    bare = None
    try:
        wait_rtc_loaded(emulator.base_url)
        token = asyncio.run(mint_token(emulator.base_url))
        body_size = client_secrets_body_size(emulator.base_url)
        bare, bare_port = start_bare(args, body_size)
        requests = requests_for(token)
        print("command: python " + shlex.join(["bench/http_load.py", *sys.argv[1:]]))
        print(
            f"servers on CPU {args.server_cores} (emulator --workers {args.workers or '-'}, "
            f"--log-level {args.log_level or 'default'}; the reference answers "
            f"{body_size} bytes), load on CPU {args.load_cores}, {args.connections} "
            f"connections, {args.duration:.0f} s per run"
        )
        header = ("round", "endpoint", "req/s", "p50 ms", "p99 ms", "errors", "CPU", "us/req")
        if not args.side_by_side:
            print("{:>5} {:16} {:>8} {:>7} {:>7} {:>6} {:>5} {:>7}  vs reference".format(*header))
        ratios: dict[str, list[tuple[float, float]]] = {name: [] for name in endpoints}
        side_by_side: Pairs = {}
        cpu_per_request: dict[str, list[float]] = {name: [] for name in (BARE, *endpoints)}
        for round_ in range(1, args.rounds + 1):
            if args.side_by_side:
                side_by_side_round(
                    args, round_, endpoints, requests, (bare, bare_port), emulator, side_by_side
                )
                continue
            reference = None
            for name in (BARE, *endpoints):
                server = bare if name == BARE else emulator.proc
                port = bare_port if name == BARE else emulator.port
                result = run_load(args, port, requests[name], server.pid)
                cpu_per_request[name].append(result["cpu_us_per_request"])
                line = (
                    f"{round_:5d} {name:16} {result['rps']:8.0f} {result['p50_ms']:7.2f} "
                    f"{result['p99_ms']:7.2f} {result['errors']:6d} "
                    f"{result['cpu_share'] * 100:4.0f}% {result['cpu_us_per_request']:7.0f}"
                )
                if reference is None:
                    reference = result
                else:
                    rps = result["rps"] / reference["rps"]
                    cpu = reference["cpu_us_per_request"] / result["cpu_us_per_request"]
                    ratios[name].append((rps, cpu))
                    line += f"  {rps:5.1%} of req/s, {cpu:5.1%} by CPU/req"
                print(line, flush=True)
        if args.side_by_side:
            return print_side_by_side(side_by_side)
        for name, pairs in ratios.items():
            print(
                f"{name}: {statistics.median(p[0] for p in pairs):.1%} of the reference's req/s, "
                f"{statistics.median(p[1] for p in pairs):.1%} by CPU per request "
                f"(median of {len(pairs)} round{'s' if len(pairs) > 1 else ''})"
            )
            if len(pairs) > 1:
                # A busy neighbour only ever adds time: each server's cheapest round is the
                # estimate least touched by it, whichever rounds it fell in.
                best = min(cpu_per_request[BARE]) / min(cpu_per_request[name])
                print(f"{name}: {best:.1%} by CPU per request, the best round of each")
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(10)
        emulator.proc.terminate()
        emulator.proc.wait(10)


if __name__ == "__main__":
    main()
