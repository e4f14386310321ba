"""Benchmark turn_stub's relay (and coturn's, as a reference, where installed).

    python bench/turn_relay.py [--clients 8] [--step 1.5] [--no-coturn]

The server runs in a subprocess pinned to one core; this process (the load) and
the UDP echo peer are pinned to another. N clients allocate over UDP, bind a
channel to the echo peer and pump ChannelData round trips at an offered rate;
the rate is raised until a step loses packets, then bisected. Printed per
server: the highest round-trip rate with 0 % loss, the server's CPU time per
round trip at that rate, Allocate latency p50/p95 (the 401 round included) and
whether 1,000 concurrent allocations succeed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aioice import stun
from aioice.turn import make_integrity_key
from proc import cpu_seconds, pinned

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"
REALM = "orga-emulator"
UDP_TRANSPORT = 0x11000000
CHANNEL = 0x4000
ECHO_SCRIPT = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
while True:
    data, addr = sock.recvfrom(65536)
    sock.sendto(data, addr)
"""


# Processes


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    address: tuple[str, int]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads)."""
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_turn_stub(core: int, allocations: int) -> Server:
    process = subprocess.Popen(
        [
            *[sys.executable, "-m", "turn_stub"],
            *["--port", "0", "--secret", SECRET, "--realm", REALM],
            *["--max-allocations", str(allocations), "--max-allocations-per-user", "100"],
            # The peers are on loopback, which turn_stub refuses by default (as coturn does,
            # hence coturn's --allow-loopback-peers below).
            *["--allow-peer", "127.0.0.0/8"],
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=pinned(core),
    )
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("turn_stub did not start")
    port = int(line.split("udp 127.0.0.1:")[1].split()[0])
    return Server("turn_stub", process, ("127.0.0.1", port))


def free_port() -> int:
    for _ in range(100):
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def start_coturn(binary: str, core: int, workdir: str) -> Server:
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            *["-n", "--no-cli", "--no-tls", "--no-dtls", "--use-auth-secret"],
            *["--static-auth-secret", SECRET, "--realm", REALM],
            *["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"],
            *["--listening-port", str(port), "--allow-loopback-peers"],
            *["--pidfile", os.path.join(workdir, "turnserver.pid"), "--log-file", "stdout"],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=pinned(core),
    )
    server = Server("coturn", process, ("127.0.0.1", port))
    # Up once it answers a Binding request.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        request = bytes(stun.Message(stun.Method.BINDING, stun.Class.REQUEST))
        for _ in range(50):
            sock.sendto(request, server.address)
            try:
                sock.recv(2048)
                return server
            except TimeoutError:
                if process.poll() is not None:
                    break
    server.stop()
    raise RuntimeError("coturn did not start")


def start_echo_peer(core: int) -> tuple[subprocess.Popen, tuple[str, int]]:
    peer = shutil.which("turnutils_peer")
    if peer:
        port = free_port()
        process = subprocess.Popen(
            [peer, "-L", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=pinned(core),
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.1)
            for _ in range(50):
                sock.sendto(b"probe", ("127.0.0.1", port))
                try:
                    sock.recv(64)
                    return process, ("127.0.0.1", port)
                except TimeoutError:
                    continue
        process.kill()
    process = subprocess.Popen(
        [sys.executable, "-c", ECHO_SCRIPT],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=pinned(core),
    )
    return process, ("127.0.0.1", int(process.stdout.readline()))


# A minimal TURN client on raw non-blocking sockets


@dataclass
class Client:
    sock: socket.socket
    user: str
    username: str = ""
    key: bytes = b""
    nonce: bytes = b""
    frame: bytes = b""
    received: int = 0


async def transact(sock: socket.socket, request: stun.Message, wait: float = 2.0) -> stun.Message:
    loop = asyncio.get_running_loop()
    data = bytes(request)
    for _ in range(3):
        await loop.sock_sendall(sock, data)
        try:
            async with asyncio.timeout(wait):
                while True:
                    response = stun.parse_message(await loop.sock_recv(sock, 4096))
                    if response.transaction_id == request.transaction_id:
                        return response
        except TimeoutError:
            continue
    raise TimeoutError("no STUN response")


def new_client(server: tuple[str, int], user: str) -> Client:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    sock.connect(server)
    return Client(sock, user)


async def signed(client: Client, method: stun.Method, attributes: dict) -> stun.Message:
    request = stun.Message(method, stun.Class.REQUEST, attributes=dict(attributes))
    username = f"{int(time.time()) + 3600}:{client.user}"
    if not client.key:
        challenge = await transact(client.sock, request)
        if challenge.attributes.get("ERROR-CODE", (0,))[0] == 437:
            raise StaleFiveTuple(challenge)
        if "NONCE" not in challenge.attributes:
            raise RuntimeError(f"{method.name} challenge: {challenge}")
        client.nonce = challenge.attributes["NONCE"]
        password = rest_password(username)
        client.key = make_integrity_key(username, challenge.attributes["REALM"], password)
        client.username = username
        request = stun.Message(method, stun.Class.REQUEST, attributes=dict(attributes))
    request.attributes.update({"USERNAME": client.username, "REALM": REALM, "NONCE": client.nonce})
    request.add_message_integrity(client.key)
    response = await transact(client.sock, request)
    if response.message_class != stun.Class.RESPONSE:
        raise RuntimeError(f"{method.name} failed: {response.attributes.get('ERROR-CODE')}")
    return response


def rest_password(username: str) -> str:
    digest = hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class StaleFiveTuple(RuntimeError):
    """The server still holds an allocation for this 5-tuple (coturn keeps released ones a
    while, and the OS hands the port out again)."""


async def allocate(client: Client) -> float:
    """Allocate (401 round included); return the latency in seconds."""
    for _ in range(5):
        started = time.perf_counter()
        try:
            await signed(client, stun.Method.ALLOCATE, {"REQUESTED-TRANSPORT": UDP_TRANSPORT})
        except StaleFiveTuple:
            server = client.sock.getpeername()
            client.sock.close()
            client.sock = new_client(server, client.user).sock  # another local port
            continue
        return time.perf_counter() - started
    raise RuntimeError("no fresh 5-tuple after 5 tries")


async def release(client: Client) -> None:
    with contextlib.suppress(Exception):
        await signed(client, stun.Method.REFRESH, {"LIFETIME": 0})
    client.sock.close()


# Measurements


@dataclass
class Result:
    name: str
    best_rate: float = 0.0
    best_cpu_us: float = 0.0
    steps: list[tuple[float, int, int, float]] = field(default_factory=list)
    allocate_p50_ms: float = 0.0
    allocate_p95_ms: float = 0.0
    concurrent_ok: int = 0
    concurrent_seconds: float = 0.0


async def pump(server: Server, clients: list[Client], rate: float, seconds: float) -> tuple:
    """Offer ``rate`` round trips/s for ``seconds``; return (sent, received, cpu s)."""
    loop = asyncio.get_running_loop()
    for client in clients:
        client.received = 0

        def on_readable(client: Client = client) -> None:
            sock = client.sock
            while True:
                try:
                    data = sock.recv(4096)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return
                if data[:2] == b"\x40\x00":
                    client.received += 1

        loop.add_reader(client.sock.fileno(), on_readable)
    cpu_before = server.cpu_seconds()
    sent = 0
    count = len(clients)
    started = time.perf_counter()
    end = started + seconds
    try:
        while (now := time.perf_counter()) < end:
            due = int(rate * (now - started))
            while sent < due:
                client = clients[sent % count]
                try:
                    client.sock.send(client.frame)
                except BlockingIOError:
                    pass  # counted as sent: it is lost
                sent += 1
            await asyncio.sleep(0.0005)
        # Let the last round trips come back (a benchmark, not a test: a fixed grace time).
        await asyncio.sleep(0.3)
    finally:
        for client in clients:
            loop.remove_reader(client.sock.fileno())
    cpu = server.cpu_seconds() - cpu_before
    return sent, sum(c.received for c in clients), cpu


async def measure(server: Server, peer: tuple[str, int], args: argparse.Namespace) -> Result:
    result = Result(server.name)

    # Allocate latency: sequential allocations, each with its 401 round.
    # The sockets stay open until every sample is taken: a port the OS hands out again right
    # after a release can still name coturn's old allocation (437 on the next Allocate).
    latencies = []
    sampled = []
    for i in range(args.latency_samples):
        client = new_client(server.address, f"latency-{i}")
        latencies.append(await allocate(client))
        sampled.append(client)
    for client in sampled:
        await release(client)
    latencies.sort()
    result.allocate_p50_ms = statistics.median(latencies) * 1000
    result.allocate_p95_ms = latencies[int(len(latencies) * 0.95) - 1] * 1000

    # 1,000 concurrent allocations.
    many = [new_client(server.address, f"many-{i}") for i in range(args.allocations)]
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(allocate(c) for c in many), return_exceptions=True)
    result.concurrent_seconds = time.perf_counter() - started
    result.concurrent_ok = sum(1 for o in outcomes if isinstance(o, float))
    await asyncio.gather(*(release(c) for c in many))

    # Relay: N clients, a channel each to the echo peer.
    clients = [new_client(server.address, f"relay-{i}") for i in range(args.clients)]
    payload = b"x" * args.payload
    for client in clients:
        await allocate(client)
        await signed(
            client,
            stun.Method.CHANNEL_BIND,
            {"CHANNEL-NUMBER": CHANNEL, "XOR-PEER-ADDRESS": peer},
        )
        client.frame = struct.pack("!HH", CHANNEL, len(payload)) + payload
    await pump(server, clients, 500, 0.3)  # warm-up

    good, bad = 0.0, None
    rate = args.start_rate
    for _ in range(args.max_steps):
        sent, received, cpu = await pump(server, clients, rate, args.step)
        result.steps.append((rate, sent, received, cpu))
        if received >= sent:
            if rate > good:
                good = rate
                result.best_rate = received / args.step
                result.best_cpu_us = cpu / received * 1e6 if received else 0.0
        else:
            bad = rate if bad is None else min(bad, rate)
        if bad is None:
            rate *= 2
        elif bad - good <= max(good * 0.1, 250):
            break
        else:
            rate = (good + bad) / 2
    await asyncio.gather(*(release(c) for c in clients))
    return result


def report(results: list[Result], args: argparse.Namespace) -> None:
    print()
    for result in results:
        print(f"{result.name}: offered round trips/s, each for {args.step} s")
        for rate, sent, received, cpu in result.steps:
            loss = (sent - received) / sent * 100 if sent else 0.0
            print(
                f"    {rate:9.0f}/s  sent {sent:7d}  received {received:7d}"
                f"  loss {loss:5.2f} %  server CPU {cpu:5.2f} s"
            )
    print()
    names = [r.name for r in results]
    print(f"{'':44s}" + "".join(f"{n:>14s}" for n in names))
    rows = [
        ("round trips/s at 0 % loss", [f"{r.best_rate:.0f}" for r in results]),
        ("server CPU µs per ChannelData round trip", [f"{r.best_cpu_us:.1f}" for r in results]),
        ("Allocate p50 (401 round included), ms", [f"{r.allocate_p50_ms:.2f}" for r in results]),
        ("Allocate p95 (401 round included), ms", [f"{r.allocate_p95_ms:.2f}" for r in results]),
        (
            f"{args.allocations} concurrent allocations",
            [f"{r.concurrent_ok}/{args.allocations}" for r in results],
        ),
        ("  ... in seconds", [f"{r.concurrent_seconds:.2f}" for r in results]),
    ]
    for label, values in rows:
        print(f"{label:44s}" + "".join(f"{v:>14s}" for v in values))
    print(
        f"\n{args.clients} clients, {args.payload}-byte payloads, UDP, server pinned to core "
        f"{args.server_core}, load and echo peer on core {args.load_core}."
    )


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


async def main_async(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {args.load_core})
    peer_process, peer = start_echo_peer(args.load_core)
    results = []
    try:
        with running(start_turn_stub(args.server_core, args.allocations + args.clients + 10)) as s:
            results.append(await measure(s, peer, args))
        coturn = shutil.which("turnserver") or shutil.which("turnserver", path="/usr/sbin")
        if coturn and not args.no_coturn:
            with tempfile.TemporaryDirectory() as workdir:
                with running(start_coturn(coturn, args.server_core, workdir)) as s:
                    results.append(await measure(s, peer, args))
    finally:
        peer_process.kill()
        peer_process.wait()
    report(results, args)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Output: relayed packets/s at each offered rate, loss in %, CPU in % of one "
        "core, Allocate latency in ms, memory in MiB. coturn's files go to a temporary "
        "directory, removed afterwards.",
    )
    parser.add_argument(
        "--clients", type=int, default=8, help="relay clients, one allocation each (8)"
    )
    parser.add_argument(
        "--payload", type=int, default=100, help="ChannelData payload in bytes (100)"
    )
    parser.add_argument("--step", type=float, default=1.5, help="seconds per offered rate (1.5)")
    parser.add_argument(
        "--start-rate", type=float, default=1000, help="first offered rate, packets/s (1000)"
    )
    parser.add_argument("--max-steps", type=int, default=12, help="rate steps at most (12)")
    parser.add_argument(
        "--allocations", type=int, default=1000, help="allocations held at once, memory test (1000)"
    )
    parser.add_argument(
        "--latency-samples", type=int, default=200, help="Allocates timed one after another (200)"
    )
    parser.add_argument("--server-core", type=int, default=0, help="core for the server (0)")
    parser.add_argument("--load-core", type=int, default=1, help="core for the load (1)")
    parser.add_argument("--no-coturn", action="store_true", help="skip the coturn reference")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_async(args))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main_async(args))


if __name__ == "__main__":
    main()
