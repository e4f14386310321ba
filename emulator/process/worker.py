"""`python -m emulator.process.worker`: one worker of `--workers N`, started by the supervisor
(emulator/process/supervisor.py) with its spec in the environment.

A worker is the emulator as one process runs it, on the port it shares with its siblings
(SO_REUSEPORT). It tells the supervisor it is ready over its channel (a socketpair end), and
stops when the supervisor goes: the channel's end of file, so that no worker outlives a
supervisor killed with -9.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import sys
from typing import Any

from aiohttp import web

from emulator.http.health import READINESS
from emulator.http.middleware import RESPONSE_HEADERS
from emulator.process.cli import _load_in_background, _run, _signals_set
from emulator.process.logs import setup_logging
from emulator.process.server import EmulatorServer, StartupError
from emulator.process.workers import SPEC_ENV, STATE_DIR_PREFIX, WorkerSpec
from emulator.state.wire import LOCAL_SCHEME, socket_path

# A worker still shutting down this long after being told to stop exits at once (the
# supervisor kills one after STOP_BUDGET; this covers a supervisor killed with -9).
SHUTDOWN_LIMIT = 3.0
log = logging.getLogger("emulator")

# Which worker answered, on every response: for whoever debugs a fleet (and for the tests).
WORKER_HEADER = "X-Emulator-Worker"


def main() -> int:
    text = os.environ.pop(SPEC_ENV, None)
    if text is None:
        print(f"orga-emulator worker: started without {SPEC_ENV}; run orga-emulator --workers N")
        return 2
    spec = WorkerSpec.from_json(text)
    setup_logging(spec.settings.log_level, tag=f"worker {spec.index}")
    return _run(serve_worker(spec))


async def serve_worker(spec: WorkerSpec) -> int:
    channel = socket.socket(fileno=spec.channel_fd)
    channel.setblocking(False)
    try:
        server = EmulatorServer(spec.settings, reuse_port=True)
        _prepare(server.app, spec)
        await server.start()
    except StartupError as exc:
        print(f"orga-emulator: worker {spec.index}: {exc}", file=sys.stderr, flush=True)
        channel.close()
        return 2
    _load_in_background(server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    orphaned = asyncio.Event()  # the supervisor went without stopping us
    loop.add_reader(channel.fileno(), _on_channel, channel, stop, orphaned)
    with _signals_set(stop):
        try:
            facts = {
                **server.ready_facts(),
                "index": spec.index,
                "ready": server.app[READINESS].ready,
            }
            channel.sendall(json.dumps(facts).encode() + b"\n")
            await stop.wait()
        finally:
            loop.remove_reader(channel.fileno())
            overrun = loop.call_later(SHUTDOWN_LIMIT, _overran)
            await server.close()
            overrun.cancel()
            channel.close()
            if orphaned.is_set():
                _remove_state_dir(spec.settings.state)
    return 0


def _remove_state_dir(state: str) -> None:
    """A supervisor killed with -9 leaves its state socket's directory behind: its workers,
    the last to know of it, remove it (each tries; one succeeds)."""
    if state.startswith(LOCAL_SCHEME):
        directory = os.path.dirname(socket_path(state))
        if os.path.basename(directory).startswith(STATE_DIR_PREFIX):
            shutil.rmtree(directory, ignore_errors=True)


def _awaiting(coro: Any) -> list[str]:
    """Where a coroutine waits: each frame of its await chain, innermost last."""
    where: list[str] = []
    while coro is not None and len(where) < 12:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            where.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return where


def _overran() -> None:
    """The last resort of a worker whose shutdown hangs: no worker outlives its supervisor
    (which kills a late one itself, unless it was killed first). What still ran is logged."""
    tasks = [t for t in asyncio.all_tasks() if not t.done()]
    log.error("shutdown overran %.1f s; exiting with %d tasks pending", SHUTDOWN_LIMIT, len(tasks))
    for task in tasks:
        log.error("pending: %s", " <- ".join(_awaiting(task.get_coro())))
    logging.shutdown()
    os._exit(1)


def _on_channel(channel: socket.socket, stop: asyncio.Event, orphaned: asyncio.Event) -> None:
    """The supervisor writes nothing: readable means it has gone (end of file)."""
    try:
        data = channel.recv(64)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:  # end of file: read once, not again at every turn of the loop
        asyncio.get_running_loop().remove_reader(channel.fileno())
        if not stop.is_set():
            orphaned.set()
            stop.set()


def _prepare(app: web.Application, spec: WorkerSpec) -> None:
    """What differs in a worker: the header naming it. (Its own stream of seeded ids comes
    from the shared state: emulator/control/replica.py numbers each replica as it joins.)"""
    app[RESPONSE_HEADERS][WORKER_HEADER] = f"{spec.index} pid={os.getpid()}"


if __name__ == "__main__":
    raise SystemExit(main())
