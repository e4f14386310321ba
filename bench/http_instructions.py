"""Instructions per client-secrets request under callgrind, beside the bare aiohttp handler.

    python bench/http_instructions.py [--requests 640] [--concurrency 16] [--emulator-args ...]

The noise-free companion of http_load.py, for optimisation work on a shared machine: each server
runs under valgrind's callgrind with instrumentation switched on only after its warm-up (and,
for the emulator, after aiortc has loaded in the background), then --requests requests are sent
--concurrency at a time over as many keep-alive connections, and the instructions the server
executed are divided by the requests. Two runs of the same code agree within about 1 %.

What it does not see: the kernel's share (system calls), cache misses, and the real cost of
hashing (valgrind's emulated CPU makes OpenSSL take a generic path): compare code with it, but
report http_load.py's CPU figures. Needs valgrind (Debian's valgrind package).
"""

from __future__ import annotations

import argparse
import glob
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import http_load

from emulator.testing.process import start_emulator

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 120.0  # a Python server under valgrind starts about 50 times slower
QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


class Connections:
    """Keep-alive connections that each send one request and read its answer, in lockstep."""

    def __init__(self, port: int, request: bytes, count: int) -> None:
        self._request = request
        self._sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        self._files = [s.makefile("rb") for s in self._sockets]

    def round(self) -> None:
        for sock in self._sockets:
            sock.sendall(self._request)
        for answer in self._files:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = answer.readline()
                if not line:
                    raise ConnectionError("the server closed the connection")
                head += line
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(f"not a 200: {head[:80]!r}")
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            answer.read(int(length.group(1)) if length else 0)

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()


def measure(name: str, args: argparse.Namespace, out_dir: Path) -> float:
    out = out_dir / f"{name.replace(' ', '-')}.callgrind"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    requests = http_load.requests_for(token="")  # neither request carries a token
    if name == http_load.BARE:
        proc = subprocess.Popen(
            [*valgrind, sys.executable, str(Path(__file__).parent / "http_load.py"), "--bare"]
            + ["--body-size", "462"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
    else:
        emulator = start_emulator(
            "--turn-port",
            "0",
            *args.emulator_args,
            cwd=ROOT,
            timeout=READY_TIMEOUT,
            log_file=out_dir / "emulator.log",
            prefix=valgrind,
        )
        http_load.wait_rtc_loaded(emulator.base_url, READY_TIMEOUT)
        proc, port = emulator.proc, emulator.port
    connections = Connections(port, http_load.request_bytes(requests[name]), args.concurrency)
    try:
        for _ in range(max(1, 300 // args.concurrency)):  # warm-up: caches, lazy imports
            connections.round()
        rounds = max(1, args.requests // args.concurrency)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, **QUIET)
        for _ in range(rounds):
            connections.round()
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, **QUIET)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, **QUIET)
    finally:
        connections.close()
        proc.terminate()
        proc.wait(60)
    return total_instructions(out) / (rounds * args.concurrency)


def total_instructions(out: Path) -> int:
    """The instructions of every dump callgrind wrote for the run (the dump on request and
    the one at exit, which holds nothing once instrumentation is off)."""
    total = 0
    for path in glob.glob(f"{out}*"):
        counts = [
            int(line.split()[1])
            for line in Path(path).read_text().splitlines()
            if line.startswith(("summary:", "totals:"))
        ]
        total += max(counts, default=0)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=640, help="measured requests (640)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections at once (16)")
    parser.add_argument(
        "--emulator-args", nargs=argparse.REMAINDER, default=[], help="passed to the emulator"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench/http_instructions.py needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="orga-bench-callgrind-") as tmp:
        bare = measure(http_load.BARE, args, Path(tmp))
        emulator = measure("client-secrets", args, Path(tmp))
    print(f"command: python bench/http_instructions.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"{http_load.BARE:16} {bare / 1000:8.1f}k instructions per request")
    print(f"{'client-secrets':16} {emulator / 1000:8.1f}k instructions per request")
    print(f"client-secrets: {bare / emulator:.1%} of the reference by instructions per request")


if __name__ == "__main__":
    main()
