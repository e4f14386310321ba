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
import itertools
import logging
import os
import time
from collections import deque
from typing import Any

from emulator.identity.clock import Clock
from emulator.state.memory import JOURNAL_SIZE, MemoryState
from emulator.state.page import FEED, VERSION, ControlPage, page_path
from emulator.state.wire import FrameError, doc_to_json, encode, read_frame

log = logging.getLogger(__name__)

FEED_BACKLOG = 1024  # frames a slow feed reader may owe before it is cut off
REPORT_TTL = 3.0  # a report not renewed within this long is dropped (a hung worker)
ASK_TIMEOUT = 2.0  # how long a journal read waits for a worker's entries

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
        self._page: ControlPage | None = None  # made by start()
        self._workers: set[asyncio.StreamWriter] = set()  # each worker's main connection
        self._feed_on = False
        self._asks: dict[int, asyncio.Future[list[dict[str, Any]]]] = {}
        self._ask_ids = itertools.count(1)
        self._recent: deque[tuple[int, bytes]] = deque(maxlen=FEED_BACKLOG)
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        old_umask = os.umask(0o077)  # the socket is the supervisor user's alone
        try:
            self._page = ControlPage(page_path(self.path), writable=True)
            self._page.words[VERSION] = await self.memory.version()
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
        if self._page is not None:
            self._page.close()
            self._page = None
        for path in (self.path, page_path(self.path)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

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
                    self._workers.add(writer)
                    continue
                if "answer" in message:
                    asked = self._asks.pop(message["answer"], None)
                    if asked is not None and not asked.done():
                        asked.set_result(message.get("ok") or [])
                    continue
                if op == "entries" and "id" in message:  # not inline: it asks this worker too
                    self._spawn(self._gather(writer, message["id"], message["args"][0]))
                    continue
                if op == "batch":
                    for item_op, item_args in message["args"]:
                        self._one_way(item_op, item_args)
                    continue
                version = await self.memory.version()
                reply = await self._handle(op, message.get("args", []), replica)
                if (new := await self.memory.version()) != version:
                    self._announce(new)
                if op == "reset":  # before the reply, as _announce: every worker clears first
                    for worker in list(self._workers):
                        worker.write(encode({"notice": "reset"}))  # before the reply: see _announce
                if "id" in message:
                    writer.write(encode({"id": message["id"], **reply}))
        except (FrameError, ConnectionError) as exc:
            log.warning("local state: dropped a connection: %s", exc)
        except asyncio.CancelledError:
            pass
        finally:
            if writer in self._feeds:
                self._feeds.discard(writer)
                if not self._feeds:
                    self._feed_wanted(False)
            self._workers.discard(writer)
            if replica is not None:
                self._reports.pop(replica, None)
            writer.close()
            self._connections.discard(task)

    async def _handle(self, op: Any, args: list[Any], replica: str | None) -> dict[str, Any]:
        try:
            if op in ("append", "publish"):
                self._one_way(op, args)
                return {"ok": None}
            if op == "heartbeat":
                self._reports[args[0]] = (args[1], time.monotonic() + REPORT_TTL)
                return {"ok": None}
            if op == "replicas":
                return {"ok": self._live_reports()}
            if op == "feed_position":
                self._feed_wanted(True)
                return {"ok": str(self._events)}
            if op in FORWARDED:
                result = await getattr(self.memory, op)(*args)
                if op == "change_clock":
                    self.clock.mirror(*result)
                return {"ok": doc_to_json(result) if FORWARDED[op] else result}
        except (TypeError, KeyError, ValueError) as exc:
            return {"error": f"{op}: {exc}"}
        return {"error": f"unknown operation {op!r}"}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _gather(self, writer: asyncio.StreamWriter, request_id: int, journal: str) -> None:
        """A journal read: every worker's entries (each keeps its own), merged by time."""
        waiting = []
        for worker in list(self._workers):
            ask = next(self._ask_ids)
            self._asks[ask] = asyncio.get_running_loop().create_future()
            waiting.append(self._asks[ask])
            worker.write(encode({"ask": ask, "op": "entries", "args": [journal]}))
        merged = list(await self.memory.entries(journal))
        if waiting:
            done, pending = await asyncio.wait(waiting, timeout=ASK_TIMEOUT)
            for future in pending:
                future.cancel()  # a worker that hangs is left out, not waited for
            for future in done:
                merged += future.result()
        merged.sort(key=lambda entry: entry.get("at") or 0)
        writer.write(encode({"id": request_id, "ok": merged[-JOURNAL_SIZE:]}))

    def _one_way(self, op: str, args: list[Any]) -> None:
        if op == "append":
            self.memory.append(*args)
        elif op == "publish":
            self._publish(*args)

    def _announce(self, version: int) -> None:
        """The new control version on the control page (page.py). Written before the reply
        to the change that made it, so the next request on any worker after the client hears
        back sees it (LocalState reads the page on every version())."""
        if self._page is not None:
            self._page.words[VERSION] = version

    def _feed_wanted(self, on: bool) -> None:
        """Workers publish feed events only while someone may read them: on from the first
        feed_position (before its reply, as _announce), off when the last reader goes."""
        if on != self._feed_on:
            self._feed_on = on
            if self._page is not None:
                self._page.words[FEED] = on

    def _subscribe(self, writer: asyncio.StreamWriter, after: Any) -> None:
        """From now on, and first what was published after `after` (a feed_position) if the
        backlog still has it."""
        if after is not None:
            since = int(after)
            for number, frame in self._recent:
                if number > since:
                    writer.write(frame)
        self._feeds.add(writer)
        self._feed_wanted(True)

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
