"""`--workers N`: a supervisor process and N workers that serve one HTTP port together.

Workers are spawned as fresh interpreters (`python -m emulator.process.worker`), not forked:
a fork copies whatever threads and native state the parent had (aiortc's codecs, uvloop, the
resolver's executor), and a fresh process starts exactly as a single emulator does. The
supervisor itself never loads the app: it holds the port, starts and restarts the workers, and
forwards SIGTERM/SIGINT.

- The port: the supervisor binds it with SO_REUSEPORT without listening (workers/reserve_port),
  each worker listens on it with SO_REUSEPORT, and the kernel spreads connections among them.
- Secrets: the settings are resolved once, here, so every worker has the same signing secret,
  TURN secret and seed; they travel in each worker's environment, not its argv.
- TURN: one server, in worker 0 (it needs the control plane's TURN faults); the other workers'
  ice-config points at it.
- Crashes: a worker that exits is restarted after a backoff; one that keeps crashing makes the
  supervisor give up, stop the rest and exit 1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from emulator.config import Settings
from emulator.net import reachable_host
from emulator.process.server import ready_facts
from emulator.process.workers import (
    SPEC_ENV,
    STATE_DIR_PREFIX,
    TURN_WORKER,
    PortError,
    WorkerSpec,
    reserve_port,
    split_port_range,
    worker_settings,
)
from emulator.state.host import StateHost
from emulator.state.store import MEMORY_URL
from emulator.state.wire import LOCAL_SCHEME

log = logging.getLogger("emulator")

READY_TIMEOUT = 30.0  # a worker's start, imports included, on a loaded machine
# From the signal to the last worker gone: the workers close their sessions within 1.5 s
# (SessionRegistry.close_all); one still running at this point is killed.
STOP_BUDGET = 1.6
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0
CRASH_LIMIT, CRASH_WINDOW = 5, 30.0  # this many exits within this many seconds: give up


class SupervisorError(Exception):
    """The workers could not start; the message says why (a worker's own is printed above)."""


@dataclass
class Slot:
    """One worker's place: restarted in it, under the same index."""

    index: int
    proc: asyncio.subprocess.Process | None = None
    channel: socket.socket | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    crashes: deque[float] = field(default_factory=deque)
    watcher: asyncio.Task[None] | None = None


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.count = settings.workers
        self.slots = [Slot(i) for i in range(self.count)]
        self.port: int | None = None
        self.turn: tuple[str, int] | None = None
        self.tls: Any = None  # emulator.process.tls.TlsMaterial, when TLS is on
        self.failure: str | None = None
        self.worker_state = settings.state  # --state as given, or the supervisor's local one
        self._held: list[socket.socket] = []
        self._state: StateHost | None = None
        self._state_dir: str | None = None
        self._stopping = False
        self._gave_up = asyncio.Event()

    # --- start ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Every worker listening and ready, or SupervisorError (nothing left running)."""
        s = self.settings
        try:
            if s.rtc_ports:
                split_port_range(s.rtc_ports, self.count)  # too small a range: say so now
            if s.tls or s.tls_cert or s.tls_key:
                self.tls = _prepare_tls(s)
            self._held = reserve_port(s.host, s.port)
        except (PortError, ValueError) as exc:
            raise SupervisorError(str(exc)) from None
        self.port = self._held[0].getsockname()[1]
        try:
            if s.state == MEMORY_URL:
                await self._host_state()
            first = self.slots[TURN_WORKER]
            if s.turn and s.turn_port == 0:
                # A free TURN port is chosen by worker 0: the others are told it once it runs.
                await self._spawn(first)
                self._learn_turn(first)
                await asyncio.gather(*(self._spawn(x) for x in self.slots if x is not first))
            else:
                if s.turn:
                    self.turn = (s.turn_host or reachable_host(s.host), s.turn_port)
                await asyncio.gather(*(self._spawn(x) for x in self.slots))
                if s.turn:
                    self._learn_turn(first)
        except SupervisorError:
            await self.close()
            raise
        for slot in self.slots:
            slot.watcher = asyncio.ensure_future(self._watch(slot))

    async def _host_state(self) -> None:
        """Without --state, the workers share the supervisor's (emulator/state/host.py)."""
        self._state_dir = tempfile.mkdtemp(prefix=STATE_DIR_PREFIX)
        self._state = StateHost(
            os.path.join(self._state_dir, "state.sock"), leeway=self.settings.token_leeway
        )
        try:
            await self._state.start()
        except OSError as exc:
            raise SupervisorError(f"cannot serve the workers' state: {exc}") from None
        self.worker_state = f"{LOCAL_SCHEME}{self._state.path}"

    def _learn_turn(self, slot: Slot) -> None:
        host, port = slot.facts.get("turn_host"), slot.facts.get("turn_port")
        if host is not None and port is not None:
            self.turn = (host, int(port))

    async def _spawn(self, slot: Slot) -> None:
        """Start the worker of `slot` and wait until it says it is ready."""
        assert self.port is not None
        tls_files = (str(self.tls.cert_path), str(self.tls.key_path)) if self.tls else None
        settings = worker_settings(
            self.settings,
            slot.index,
            self.count,
            port=self.port,
            turn=self.turn if self.settings.turn else None,
            tls_files=tls_files,
        )
        settings = dataclasses.replace(settings, state=self.worker_state)
        ours, theirs = socket.socketpair()
        spec = WorkerSpec(slot.index, self.count, settings, theirs.fileno())
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "emulator.process.worker",
                env={**os.environ, SPEC_ENV: spec.to_json()},
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
            )
        except OSError as exc:
            ours.close()
            raise SupervisorError(f"cannot start worker {slot.index}: {exc}") from None
        finally:
            theirs.close()
        if slot.channel is not None:
            slot.channel.close()
        slot.proc, slot.channel, slot.facts = proc, ours, {}
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                line = await _read_line(ours)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise SupervisorError(
                f"worker {slot.index} was not ready within {READY_TIMEOUT:.0f} s"
            ) from None
        if not line:
            status = await proc.wait()
            raise SupervisorError(
                f"worker {slot.index} exited before it was ready ({_status(status)})"
            )
        slot.facts = json.loads(line)

    # --- running -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        """Until `stop` is set (0) or a worker keeps crashing (1); every worker is gone after."""
        stopped = asyncio.ensure_future(stop.wait())
        gave_up = asyncio.ensure_future(self._gave_up.wait())
        try:
            await asyncio.wait((stopped, gave_up), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            gave_up.cancel()
            await self.close()
        if self.failure:
            print(f"orga-emulator: {self.failure}", file=sys.stderr, flush=True)
            return 1
        return 0

    async def _watch(self, slot: Slot) -> None:
        """Restart the worker of `slot` whenever it exits, with a backoff; give up on a loop."""
        while not self._stopping:
            assert slot.proc is not None
            status = await slot.proc.wait()
            if self._stopping:
                return
            now = time.monotonic()
            slot.crashes.append(now)
            while slot.crashes and slot.crashes[0] < now - CRASH_WINDOW:
                slot.crashes.popleft()
            if len(slot.crashes) >= CRASH_LIMIT:
                self.failure = (
                    f"worker {slot.index} exited {len(slot.crashes)} times within "
                    f"{CRASH_WINDOW:.0f} s (last: {_status(status)}); giving up"
                )
                self._gave_up.set()
                return
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (len(slot.crashes) - 1))
            log.warning(
                "worker %d (pid %d) exited (%s); restarting it in %.1f s",
                slot.index,
                slot.proc.pid,
                _status(status),
                delay,
            )
            await asyncio.sleep(delay)  # the backoff itself, not a wait for a condition
            if self._stopping:
                return
            try:
                await self._spawn(slot)
            except SupervisorError as exc:
                log.warning("%s", exc)  # counted as the next exit, just above

    # --- stop ----------------------------------------------------------------------------------

    async def close(self) -> None:
        """SIGTERM to every worker (each closes its sessions), SIGKILL to any still running
        STOP_BUDGET seconds later; then the port is let go."""
        self._stopping = True
        current = asyncio.current_task()
        for slot in self.slots:
            if slot.watcher is not None and slot.watcher is not current:
                slot.watcher.cancel()
        procs = [s.proc for s in self.slots if s.proc is not None and s.proc.returncode is None]
        for proc in procs:
            _signal(proc, signal.SIGTERM)
        if procs:
            waiting = [asyncio.ensure_future(p.wait()) for p in procs]
            _, pending = await asyncio.wait(waiting, timeout=STOP_BUDGET)
            for proc in procs:
                if proc.returncode is None:
                    log.warning("worker pid %d did not stop in time; killing it", proc.pid)
                    _signal(proc, signal.SIGKILL)
            if pending:
                await asyncio.wait(pending)
        for slot in self.slots:
            if slot.channel is not None:
                slot.channel.close()
                slot.channel = None
        for sock in self._held:
            sock.close()
        self._held = []
        if self._state is not None:
            await self._state.close()
            self._state = None
        if self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None

    # --- what it says --------------------------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.slots if s.proc is not None]

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{reachable_host(self.settings.host)}:{self.port}"

    def ready_facts(self) -> dict[str, Any]:
        """Where everything listens, for --ready-file: as one emulator's, plus the workers."""
        return {**ready_facts(self.base_url, self.port, self.turn), "workers": self.pids}


def _prepare_tls(settings: Settings) -> Any:
    """The certificate is prepared once, here: workers load the files, none issues its own."""
    from emulator.process.tls import TlsError, tls_for

    try:
        return tls_for(settings)
    except TlsError as exc:
        raise SupervisorError(f"TLS: {exc}") from None


async def _read_line(channel: socket.socket) -> bytes:
    """The worker's one line (its ready facts), or b"" if it exits first."""
    channel.setblocking(False)
    loop = asyncio.get_running_loop()
    data = b""
    while not data.endswith(b"\n"):
        chunk = await loop.sock_recv(channel, 4096)
        if not chunk:
            return b""
        data += chunk
    return data


def _signal(proc: asyncio.subprocess.Process, signum: int) -> None:
    try:
        proc.send_signal(signum)
    except ProcessLookupError:
        pass


def _status(status: int) -> str:
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"exit status {status}"
