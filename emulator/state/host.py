"""The state of one machine's workers, held by their supervisor: a MemoryState served on a Unix
socket (wire.py) to the workers' LocalState backends (local.py).

Every operation runs on the supervisor's one event loop, and the memory backend does each one
without an await in between, so a claim is as atomic across workers as it is in one process.
The feed and the replicas' reports are kept here rather than in the MemoryState, which knows
one process: each worker connection is a replica, and its report goes when its connection does
(a worker killed with -9 leaves the sessions list at once, without waiting for a TTL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from typing import Any

from emulator.identity.clock import Clock
from emulator.state.memory import MemoryState
from emulator.state.wire import FrameError, doc_to_json, encode, read_frame

log = logging.getLogger(__name__)

FEED_BACKLOG = 1024  # frames a slow feed reader may owe before it is cut off
REPORT_TTL = 10.0  # a report not renewed within this long is dropped (a hung worker)

# Operations handed straight to the MemoryState: name -> whether the result is a ControlDoc.
FORWARDED = {
    "ping": False,
    "join": False,
    "claim": False,
    "release": False,
    "claimed": False,
    "version": False,
    "control": True,
    "change_clock": False,
    "add_rules": False,
    "remove_rule": False,
    "clear_rules": False,
    "count_rule": False,
    "add_scenario": False,
    "clear_scenarios": False,
    "entries": False,
    "reset": False,
}


class _MirroredClock(Clock):
    """The host's clock, set to the shared clock's state after each change."""

    def mirror(self, offset: float, frozen_at: float | None) -> None:
        self._offset = offset
        self._frozen_at = frozen_at


class StateHost:
    """Serves one MemoryState at `path` until close()."""

    def __init__(self, path: str, *, leeway: float = 0.0) -> None:
        self.path = path
        # The ledger forgets a claim once its token has expired by this clock, which follows
        # the shared controlled clock.
        self.clock = _MirroredClock()
        self.memory = MemoryState(self.clock, leeway=leeway)
        self._server: asyncio.AbstractServer | None = None
        self._feeds: set[asyncio.StreamWriter] = set()
        self._reports: dict[str, tuple[dict[str, Any], float]] = {}
        self._events = 0
        self._recent: deque[tuple[int, bytes]] = deque(maxlen=FEED_BACKLOG)
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        old_umask = os.umask(0o077)  # the socket is the supervisor user's alone
        try:
            self._server = await asyncio.start_unix_server(self._serve, self.path)
        finally:
            os.umask(old_umask)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._feeds):
            writer.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    # --- one connection -------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        replica: str | None = None
        try:
            while (message := await read_frame(reader)) is not None:
                op = message.get("op")
                if op == "events":
                    self._subscribe(writer, message.get("args", [None])[0])
                    continue
                if op == "hello":
                    replica = str(message["args"][0])
                    continue
                reply = await self._handle(op, message.get("args", []), replica)
                if "id" in message:
                    writer.write(encode({"id": message["id"], **reply}))
        except (FrameError, ConnectionError) as exc:
            log.warning("local state: dropped a connection: %s", exc)
        except asyncio.CancelledError:
            pass
        finally:
            self._feeds.discard(writer)
            if replica is not None:
                self._reports.pop(replica, None)
            writer.close()
            self._connections.discard(task)

    async def _handle(self, op: Any, args: list[Any], replica: str | None) -> dict[str, Any]:
        try:
            if op == "append":
                self.memory.append(*args)
                return {"ok": None}
            if op == "publish":
                self._publish(*args)
                return {"ok": None}
            if op == "heartbeat":
                self._reports[args[0]] = (args[1], time.monotonic() + REPORT_TTL)
                return {"ok": None}
            if op == "replicas":
                return {"ok": self._live_reports()}
            if op == "feed_position":
                return {"ok": str(self._events)}
            if op in FORWARDED:
                result = await getattr(self.memory, op)(*args)
                if op == "change_clock":
                    self.clock.mirror(*result)
                return {"ok": doc_to_json(result) if FORWARDED[op] else result}
        except (TypeError, KeyError, ValueError) as exc:
            return {"error": f"{op}: {exc}"}
        return {"error": f"unknown operation {op!r}"}

    def _subscribe(self, writer: asyncio.StreamWriter, after: Any) -> None:
        """From now on, and first what was published after `after` (a feed_position) if the
        backlog still has it."""
        if after is not None:
            since = int(after)
            for number, frame in self._recent:
                if number > since:
                    writer.write(frame)
        self._feeds.add(writer)

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        self._events += 1
        frame = encode({"event": [str(self._events), kind, data]})
        self._recent.append((self._events, frame))
        for writer in list(self._feeds):
            transport = writer.transport
            if transport.is_closing() or transport.get_write_buffer_size() > FEED_BACKLOG * 512:
                self._feeds.discard(writer)  # a reader that cannot keep up must not hold us
                writer.close()
                continue
            writer.write(frame)

    def _live_reports(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        for replica in [r for r, (_, until) in self._reports.items() if until < now]:
            del self._reports[replica]
        return {replica: report for replica, (report, _) in self._reports.items()}
