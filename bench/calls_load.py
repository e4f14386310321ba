"""Load on /v1/realtime/calls: N concurrent audio sessions against one core.

The emulator runs in a subprocess pinned to one core (live echo mode, so every packet goes back);
this process drives the load from another core: N SDK-shaped aiortc peers, each sending
speech-like Opus (pre-encoded once, so the client stays cheap) and one data-channel message a
second, and counting what comes back off the wire without decoding it. Then the same load, with
fewer sessions so it is not saturated, against a stock aiortc echo (the remote track handed to
addTrack) in a tiny aiohttp server, as the reference.

    python bench/calls_load.py                  # 25 sessions, ~1 min
    python bench/calls_load.py --sessions 40 --seconds 30 --audio speech
    python bench/calls_load.py --workers 1,2 --load-cores 1 --stock-sessions 0
        # each worker count in turn, the emulator on every core but 1, the load on core 1

    python bench/calls_load.py --workers 1,2 --load-cores 1 --sessions-per-worker 10
        # 10 sessions on 1 worker, then 20 on 2: each process holds 10 in both runs

    python bench/calls_load.py --workers 1,2 --load-cores 1 --reference two-processes
        # and two plain emulators side by side, nothing shared, given the sessions as the two
        # workers got them: what two interpreters cost by themselves, the baseline for 2

Prints: server CPU per session (% of one core, from /proc/<pid>/stat over the steady window,
the supervisor's and every worker's summed with --workers), and each process's share;
sessions per worker;
frames sent, echoed and lost; /calls server time p50/p95 (the emulator's access log); offer ->
session.created p50/p95; echo delay in live mode; the stock echo's CPU and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from proc import (
    add_scale_options,
    pinned_to,
    split_cores,
    tree_cpu_by_pid,
    worker_args,
)

from emulator.config import DEV_API_KEY
from emulator.testing.client import OrgaClient
from emulator.testing.process import EmulatorProcess, start_emulator
from emulator.testing.tracks import PacketTrack
from emulator.testing.tracks import encode_opus as encode_frames

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 48000
FRAME = 960  # 20 ms
VOICED_DBOV = -50  # the emulator's default --vad-threshold-dbov
CALLS_LOG = re.compile(r"POST /v1/realtime/calls 200 ([\d.]+)ms")
WORKER_TAG = re.compile(r"\[worker (\d+)\]")
WORKER_PIDS = re.compile(r"workers: \d+ \(pids ([\d, ]+)\)")
TWO_PROCESSES = "two-processes"


# --- audio, encoded once --------------------------------------------------------------------


def _frames_tone(seconds: float, rng: random.Random) -> list[list[int]]:
    """A tone with a syllable-like on/off envelope; a little noise makes every packet unique."""
    import math

    frames = []
    for i in range(int(seconds * 50)):
        on = (i % 75) < 40  # 800 ms voiced, 700 ms pause: longer than the turn hang-over
        freq = 180 + 40 * ((i // 5) % 6)
        amp = 6000 if on else 0
        base = i * FRAME
        frames.append(
            [
                int(amp * math.sin(2 * math.pi * freq * (base + n) / SAMPLE_RATE))
                + rng.randint(-24, 24)
                for n in range(FRAME)
            ]
        )
    return frames


def _frames_speech(rng: random.Random) -> list[list[int]]:
    espeak = shutil.which("espeak-ng")
    if not espeak:
        raise SystemExit("--audio speech needs espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        text = "Hello, this is a load test of the emulator. It speaks, pauses, and speaks again."
        subprocess.run([espeak, "-w", str(wav), text], check=True)
        container = av.open(str(wav))
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        samples: list[int] = []
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                samples.extend(memoryview(bytes(out.planes[0])).cast("h")[: out.samples])
        container.close()
    samples += [0] * (FRAME - len(samples) % FRAME)
    return [
        [s + rng.randint(-24, 24) for s in samples[i : i + FRAME]]
        for i in range(0, len(samples), FRAME)
    ]


def dbov(samples: list[int]) -> int:
    """The RFC 6464 level of a frame, as Chrome computes it before encoding."""
    import math

    rms = math.sqrt(sum(x * x for x in samples) / len(samples)) if samples else 0.0
    return max(-127, min(0, round(20 * math.log10(rms / 32768)))) if rms else -127


def encode_opus(frames: list[list[int]]) -> list[bytes]:
    import array

    return encode_frames([array.array("h", samples).tobytes() for samples in frames])


# --- the load client ------------------------------------------------------------------------


def _send_audio_levels(sender: Any, levels: dict[bytes, int]) -> None:
    """Bench client only: put the RFC 6464 level on each pre-encoded packet, as Chrome does.

    aiortc adds the extension only for frames it encodes itself; this per-instance wrapper of
    RTCRtpSender._next_encoded_frame (aiortc 1.16) adds it for pre-encoded packets, so the
    emulator's voice detection sees what it sees from a browser.
    """
    next_encoded_frame = sender._next_encoded_frame

    async def with_level(codec: Any) -> Any:
        frame = await next_encoded_frame(codec)
        if frame is not None and frame.payloads:
            frame.audio_level = levels.get(frame.payloads[0], -127)
        return frame

    sender._next_encoded_frame = with_level


@dataclass
class BenchPeer:
    """One SDK-like client (emulator.testing.client.OrgaClient) sending pre-encoded Opus and
    counting, off the wire, what comes back."""

    base_url: str
    http: aiohttp.ClientSession
    payloads: list[bytes]
    unique: set[bytes]
    levels: dict[bytes, int]
    offset: int
    client: OrgaClient = field(init=False)
    sent: int = 0
    sent_voiced: int = 0
    received: int = 0
    echoed: int = 0
    delays: list[float] = field(default_factory=list)
    messages_sent: int = 0
    replies: int = 0
    offer_to_created: float | None = None
    calls_client_ms: float | None = None
    counting: bool = False
    _sent_at: dict[bytes, float] = field(default_factory=dict)
    _posted_at: float = 0.0

    def __post_init__(self) -> None:
        self.created = asyncio.Event()
        self.client = OrgaClient(
            self.base_url,
            DEV_API_KEY,
            "load@example.com",
            http=self.http,
            on_audio_packet=self._on_rtp,
        )
        self.client.prepare(ice_servers=[])
        self.client.channel.on("message", self._on_message)
        self.client.attach_microphone(PacketTrack(self.payloads, self.on_sent, offset=self.offset))
        _send_audio_levels(self.client.audio.sender, self.levels)

    def on_sent(self, payload: bytes, at: float) -> None:
        self._sent_at[payload] = at
        if self.counting:
            self.sent += 1
            self.sent_voiced += self.levels.get(payload, -127) > VOICED_DBOV

    def _on_rtp(self, payload: bytes, arrived: float) -> None:
        if not self.counting:
            return
        self.received += 1
        sent_at = self._sent_at.get(payload)
        if sent_at is not None:
            self.echoed += 1
            if payload in self.unique:
                self.delays.append(arrived - sent_at)

    def _on_message(self, message: str) -> None:
        event = json.loads(message)
        if event.get("type") == "session.created" and self.offer_to_created is None:
            self.offer_to_created = time.perf_counter() - self._posted_at
            self.created.set()
        elif event.get("type") == "response.output_item.done" and self.counting:
            self.replies += event.get("text", "").startswith("message ")
        elif event.get("type") == "stock.ready":
            self.created.set()

    async def connect(self, stock: bool) -> None:
        offer = {**await self.client.offer(), "candidates": []}
        if stock:
            self._posted_at = time.perf_counter()
            resp = await self.http.post(self.base_url + "/offer", json={"offer": offer})
            status, body = resp.status, await resp.json()
        else:
            token = await self.client.mint_token()
            self._posted_at = time.perf_counter()
            status, body = await self.client.post_call(token, offer)
        self.calls_client_ms = (time.perf_counter() - self._posted_at) * 1000
        assert status == 200, body
        await self.client.apply_answer(body)

    async def chat(self) -> None:
        """One data-channel message a second."""
        while True:
            await asyncio.sleep(1.0)
            if self.client.channel.readyState == "open" and self.counting:
                self.client.send_text(f"message {self.messages_sent}")
                self.messages_sent += 1

    def stop_sending(self) -> None:
        self.client.attach_microphone(None)


# --- servers --------------------------------------------------------------------------------


def start_pinned_emulator(
    cores: set[int], sessions: int, mode: str, workers: str
) -> EmulatorProcess:
    return start_emulator(
        *worker_args(workers),
        "--no-turn",
        "--echo-mode",
        mode,
        "--max-sessions",
        str(sessions + 10),
        "--log-level",
        "info",
        cwd=ROOT,
        preexec_fn=pinned_to(cores),
        timeout=30,
    )


def start_stock(cores: set[int], port_file: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--serve-stock", str(port_file)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=pinned_to(cores),
    )


async def serve_stock(port_file: str) -> None:
    """The reference: aiortc's stock echo (decode, jitter buffer, re-encode, audio level)."""
    from aiohttp import web

    pcs: set[RTCPeerConnection] = set()

    async def offer(request: web.Request) -> web.Response:
        body = await request.json()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pcs.add(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                pc.addTrack(track)

        @pc.on("datachannel")
        def on_datachannel(channel) -> None:
            channel.send(json.dumps({"type": "stock.ready"}))

            @channel.on("message")
            def on_message(message: str) -> None:
                text = json.loads(message).get("data", {}).get("text", "")
                channel.send(json.dumps({"type": "response.output_item.done", "text": text}))

        await pc.setRemoteDescription(RTCSessionDescription(body["offer"]["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = {"sdp": pc.localDescription.sdp, "type": "answer"}
        return web.json_response({"conversation_id": "stock", "answer": answer})

    app = web.Application()
    app.router.add_post("/offer", offer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    _write(Path(port_file), str(runner.addresses[0][1]))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await asyncio.gather(*(pc.close() for pc in pcs))
    await runner.cleanup()


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _read_port(path: Path) -> int | None:
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text else None


async def wait_port(port_file: Path, proc: subprocess.Popen, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        port = _read_port(port_file)
        if port is not None:
            return port
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()}")
        await asyncio.sleep(0.05)
    raise SystemExit("server did not start")


# --- one run --------------------------------------------------------------------------------


@dataclass
class RunResult:
    name: str
    sessions: int
    cpu_percent: float
    window: float
    peers: list[BenchPeer]
    server_calls_ms: list[float] = field(default_factory=list)
    exit_code: int | None = None
    per_worker: dict[str, int] = field(default_factory=dict)  # sessions opened by each
    per_process: dict[str, float] = field(default_factory=dict)  # % of a core, by role

    @property
    def per_session(self) -> float:
        return self.cpu_percent / self.sessions


async def run(
    name: str,
    args: argparse.Namespace,
    payloads: list[bytes],
    unique: set[bytes],
    levels: dict[bytes, int],
    stock: bool,
    split: list[int] | None = None,
) -> RunResult:
    """One measured run. With `split`, one emulator per entry, side by side (each started as
    --workers says, on its own port) and given that many of the sessions (dealt out in turn),
    their CPU summed."""
    split = split or [args.stock_sessions if stock else args.sessions]
    processes = len(split)
    sessions = args.stock_sessions if stock else args.sessions
    loop = asyncio.get_running_loop()
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as tmp:
        pump = None
        if stock:
            port_file = Path(tmp) / "port"
            procs.append(start_stock(args.server_cores, port_file))
            log_lines: list[str] = []
            stderr = procs[0].stderr
            pump = loop.run_in_executor(None, lambda: log_lines.extend(stderr))
            logs = [log_lines]
        else:
            emulators = []
            try:
                for _ in range(processes):
                    emulators.append(
                        start_pinned_emulator(
                            args.server_cores,
                            max(split),
                            args.echo_mode,
                            args.workers,
                        )
                    )
            finally:
                procs.extend(e.proc for e in emulators)
            logs = [e.output for e in emulators]
        try:
            if stock:
                base_urls = [f"http://127.0.0.1:{await wait_port(port_file, procs[0])}"]
            else:
                base_urls = [e.base_url for e in emulators]
            # A connection per request, so that /calls reach every worker (--workers).
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as http:
                peers = [
                    BenchPeer(base_urls[k], http, payloads, unique, levels, i * 7 % len(payloads))
                    for i, k in enumerate(_deal(split))
                ]
                # As users arrive: one at a time by default, so /calls times are not queueing.
                gate = asyncio.Semaphore(args.connect_concurrency)

                async def connect(peer: BenchPeer) -> None:
                    async with gate:
                        await peer.connect(stock)
                        async with asyncio.timeout(20):
                            await peer.created.wait()

                await asyncio.gather(*(connect(p) for p in peers))
                chats = [asyncio.ensure_future(p.chat()) for p in peers]
                await asyncio.sleep(args.warmup)
                for peer in peers:
                    peer.counting = True
                # Every process of the server: a supervisor and each of its workers.
                cpu0, t0 = _cpu(procs), time.monotonic()
                await asyncio.sleep(args.seconds)
                cpu1, t1 = _cpu(procs), time.monotonic()
                owners = {pid: p.pid for p in procs for pid in tree_cpu_by_pid(p.pid)}
                for peer in peers:
                    peer.stop_sending()
                await asyncio.sleep(0.5)  # in-flight echoes
                for peer in peers:
                    peer.counting = False
                for chat in chats:
                    chat.cancel()
                await asyncio.gather(*(p.client.hangup() for p in peers))
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [await loop.run_in_executor(None, proc.wait, 10) for proc in procs]
            exit_code = next((code for code in codes if code), 0)
            if pump is not None:
                await pump
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    window = t1 - t0
    used = {pid: cpu1[pid] - cpu0[pid] for pid in cpu1.keys() & cpu0.keys()}
    result = RunResult(name, sessions, 100 * sum(used.values()) / window, window, peers)
    result.exit_code = exit_code
    result.per_process = _roles(procs, logs, owners, used, window)
    for number, lines in enumerate(logs, 1):
        for line in lines:
            match = CALLS_LOG.search(line)
            if match:
                result.server_calls_ms.append(float(match.group(1)))
                worker = WORKER_TAG.search(line)
                if worker or processes > 1:
                    key = f"worker {worker.group(1)}" if worker else ""
                    if processes > 1:
                        key = f"process {number}" + (f" {key}" if key else "")
                    result.per_worker[key] = result.per_worker.get(key, 0) + 1
    return result


def _deal(split: list[int]) -> list[int]:
    """Which server each session goes to: in turn, each until it has its share."""
    left, order = list(split), []
    while any(left):
        for k, n in enumerate(left):
            if n:
                order.append(k)
                left[k] -= 1
    return order


def _cpu(procs: list[subprocess.Popen]) -> dict[int, float]:
    """CPU seconds of every process of each server's tree, by pid."""
    cpu: dict[int, float] = {}
    for proc in procs:
        cpu.update(tree_cpu_by_pid(proc.pid))
    return cpu


def _roles(
    procs: list[subprocess.Popen],
    logs: list[list[str]],
    owners: dict[int, int],
    used: dict[int, float],
    window: float,
) -> dict[str, float]:
    """Each process's share (% of a core) under the name of its part: the supervisor and its
    workers (numbered from the startup line's pids, as the log's tags), or `process N`."""
    shares: dict[str, float] = {}
    for number, (proc, lines) in enumerate(zip(procs, logs, strict=True), 1):
        prefix = f"process {number} " if len(procs) > 1 else ""
        pids = next((m.group(1) for x in lines if (m := WORKER_PIDS.search(x))), None)
        workers = [int(p) for p in pids.split(",")] if pids else []
        for pid, seconds in sorted(used.items()):
            if owners.get(pid) != proc.pid:
                continue
            if pid == proc.pid:
                role = "supervisor" if workers else ""
            elif pid in workers:
                role = f"worker {workers.index(pid)}"
            else:
                role = f"pid {pid}"  # a worker restarted since the startup line
            shares[(prefix + role).strip() or "process"] = 100 * seconds / window
    return shares


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def report(result: RunResult, live: bool, mode: str) -> None:
    peers = result.peers
    sent = sum(p.sent for p in peers)
    print(f"\n== {result.name}: {result.sessions} sessions, {result.window:.1f} s steady window")
    print(
        f"server CPU: {result.cpu_percent:.1f}% of one core, {result.per_session:.2f}% per session"
    )
    if mode == "turn":
        # Turn mode replays utterances (with pre-roll and tail), not the pauses between them.
        print(
            f"audio frames: sent {sent}, voiced {sum(p.sent_voiced for p in peers)}, "
            f"replayed {sum(p.echoed for p in peers)}"
        )
    else:
        # min(): a packet sent just before the window opened may come back just after.
        back = min(sent, sum(p.echoed if live else p.received for p in peers))
        what = "echoed (same payload back)" if live else "received (re-encoded)"
        print(
            f"audio frames: sent {sent}, {what} {back}, lost {sent - back} "
            f"({100 * (sent - back) / max(sent, 1):.2f}%)"
        )
    print(
        f"data channel: {sum(p.messages_sent for p in peers)} messages sent, "
        f"{sum(p.replies for p in peers)} replies"
    )
    if result.server_calls_ms:
        ms = result.server_calls_ms
        print(f"/calls server time: p50 {pct(ms, 0.5):.1f} ms, p95 {pct(ms, 0.95):.1f} ms")
    client_ms = [p.calls_client_ms for p in peers if p.calls_client_ms is not None]
    print(
        f"/calls round trip at the client: p50 {pct(client_ms, 0.5):.1f} ms, "
        f"p95 {pct(client_ms, 0.95):.1f} ms"
    )
    created = [1000 * p.offer_to_created for p in peers if p.offer_to_created is not None]
    if created:
        print(
            f"offer -> session.created: p50 {pct(created, 0.5):.0f} ms, "
            f"p95 {pct(created, 0.95):.0f} ms"
        )
    delays = [1000 * d for p in peers for d in p.delays]
    if live and delays:
        what = "live echo delay" if mode == "live" else "turn replay delay (hang-over included)"
        print(
            f"{what} (client send -> echo received, both stacks included): "
            f"p50 {pct(delays, 0.5):.1f} ms, p95 {pct(delays, 0.95):.1f} ms, "
            f"max {max(delays):.1f} ms"
        )
    if result.per_worker:
        spread = ", ".join(f"{k}: {n}" for k, n in sorted(result.per_worker.items()))
        print(f"sessions per worker: {spread}")
    if len(result.per_process) > 1:
        shares = ", ".join(f"{k} {v:.1f}%" for k, v in result.per_process.items())
        print(f"server CPU by process (% of one core): {shares}")
    print(f"server exit code after SIGTERM: {result.exit_code}")


async def main_async(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    if args.audio == "speech":
        frames = _frames_speech(rng)
    else:
        frames = _frames_tone(6.0, rng)
    payloads = encode_opus(frames)
    levels = {p: dbov(f) for p, f in zip(payloads, frames, strict=True)}
    counts: dict[bytes, int] = {}
    for p in payloads:
        counts[p] = counts.get(p, 0) + 1
    unique = {p for p, n in counts.items() if n == 1}
    counts_of_workers = [w.strip() for w in args.workers.split(",")]
    print(
        f"audio: {args.audio}, {len(payloads)} pre-encoded Opus packets "
        f"({len(unique)} unique), server on cores {sorted(args.server_cores)} "
        f"(workers: {', '.join(counts_of_workers)}), load on cores {sorted(args.client_cores)}"
    )
    runs: list[tuple[str, RunResult]] = []
    for workers in counts_of_workers:
        args.workers = workers
        if args.sessions_per_worker:
            args.sessions = args.sessions_per_worker * int(workers)
        name = f"orga-emulator ({args.echo_mode} echo, {workers} worker(s))"
        emulator = await run(name, args, payloads, unique, levels, stock=False)
        report(emulator, live=True, mode=args.echo_mode)
        runs.append((workers, emulator))
    if args.reference == TWO_PROCESSES:
        # What two interpreters cost by themselves: two plain emulators, nothing shared, given
        # the sessions as the kernel spread them over two workers (the cost per session falls
        # as a process has more of them, so an uneven spread is cheaper), or half each.
        split = _split_of(dict(runs).get("2")) or [args.sessions - args.sessions // 2] * 2
        split[1] = args.sessions - split[0]
        args.workers = "1"
        name = (
            f"two plain emulators side by side ({args.echo_mode} echo, --workers 1 each, "
            f"{split[0]} and {split[1]} sessions)"
        )
        reference = await run(name, args, payloads, unique, levels, stock=False, split=split)
        report(reference, live=True, mode=args.echo_mode)
        runs.append(("2 processes", reference))
    if len(runs) > 1:
        first = runs[0][1].per_session
        print("\nserver CPU per session (supervisor and workers summed), against the first:")
        for workers, result in runs:
            label = workers if workers.endswith("processes") else f"{workers} worker(s)"
            print(
                f"  {label:>14}: {result.per_session:.2f}% of a core "
                f"({result.per_session / max(first, 1e-9):.2f}x)"
            )
    if args.stock_sessions:
        stock = await run("stock aiortc echo (reference)", args, payloads, unique, levels, True)
        report(stock, live=False, mode="stock")
        print(
            f"\nCPU per session: emulator {emulator.per_session:.2f}% vs stock "
            f"{stock.per_session:.2f}% -> stock costs "
            f"{stock.per_session / max(emulator.per_session, 1e-9):.1f}x"
        )


def _split_of(result: RunResult | None) -> list[int] | None:
    """The sessions each of two workers opened, if that adds up."""
    if result is None or len(result.per_worker) != 2:
        return None
    split = [n for _, n in sorted(result.per_worker.items())]
    return split if sum(split) == result.sessions else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Output: CPU in % of one core (total and per session), frames sent/echoed/lost, "
        "latencies in ms. Nothing is written to disk; the emulator's log is read from its pipe.",
    )
    parser.add_argument("--sessions", type=int, default=25, help="live sessions (default 25)")
    parser.add_argument(
        "--sessions-per-worker",
        type=int,
        metavar="N",
        help="instead of --sessions: N per worker (--workers 1,2 runs N, then 2N), so that "
        "each process holds as many sessions in every run: a process's CPU per session falls "
        "as it holds more of them, which a fixed --sessions split over more workers shows too",
    )
    parser.add_argument(
        "--stock-sessions",
        type=int,
        default=4,
        help="sessions against the stock aiortc echo (few: it must not saturate); 0 to skip",
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="seconds of steady window measured (20)"
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds before measuring starts (3)"
    )
    parser.add_argument(
        "--connect-concurrency", type=int, default=1, help="sessions being set up at once"
    )
    parser.add_argument(
        "--audio", choices=("tone", "speech"), default="tone", help="what the clients say (tone)"
    )
    parser.add_argument(
        "--echo-mode", choices=("live", "turn"), default="live", help="the AI's mode (live)"
    )
    parser.add_argument("--server-core", type=int, default=0, help="core for the emulator (0)")
    parser.add_argument("--client-core", type=int, default=1, help="core for the clients (1)")
    parser.add_argument(
        "--reference",
        choices=(TWO_PROCESSES,),
        help="two-processes: also run two plain emulators (--workers 1 each, on their own "
        "ports), the baseline of two interpreters for --workers 2: each gets as many sessions "
        "as a worker got in the --workers 2 run, or half without one",
    )
    add_scale_options(parser)
    parser.add_argument("--serve-stock", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sessions_per_worker is not None and not all(
        w.strip().isdigit() for w in args.workers.split(",")
    ):
        parser.error("--sessions-per-worker needs --workers as numbers, e.g. 1,2")
    if args.serve_stock:
        asyncio.run(serve_stock(args.serve_stock))
        return
    if args.load_cores:
        args.client_cores, args.server_cores = split_cores(args.load_cores)
    else:
        cores = os.sched_getaffinity(0)
        if {args.server_core, args.client_core} - cores:
            raise SystemExit(f"cores {args.server_core}/{args.client_core} not in {sorted(cores)}")
        args.client_cores, args.server_cores = {args.client_core}, {args.server_core}
    os.sched_setaffinity(0, args.client_cores)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
