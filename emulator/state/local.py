"""The shared state of one machine's workers (`--workers N` without --state): the SharedState
Protocol spoken to the supervisor's StateHost (host.py) over a Unix socket (wire.py).

The same semantics as Redis, with the supervisor's event loop as the one place every operation
happens in turn: a claim is one request answered by the memory backend's ledger, so of any
number of concurrent claims from any workers exactly one wins. Journal entries and feed events
are one-way frames (no round trip on the request that records them); everything else is one
round trip. The supervisor hands each worker `local:PATH`; a user has no reason to.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from emulator.identity.clock import Clock
from emulator.state.memory import JOURNAL_SIZE
from emulator.state.page import FEED, VERSION, ControlPage, page_path
from emulator.state.store import JOURNALS, ControlDoc, StateUnavailable
from emulator.state.wire import FrameError, doc_from_json, encode, read_frame, socket_path

CALL_TIMEOUT = 5.0  # the supervisor answers at once, or it is gone


class LocalState:
    shared = True

    def __init__(self, url: str, clock: Clock, *, leeway: float = 0.0) -> None:
        self.label = url
        self.path = socket_path(url)
        self.replica_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._feeds: set[asyncio.StreamWriter] = set()
        self._closed = False
        # One-way operations of this turn of the loop, sent as one frame (see _send).
        self._batch: list[list[Any]] = []
        # This worker's journal entries: kept here, read by the host when someone asks.
        self._journals = {name: deque[dict[str, Any]](maxlen=JOURNAL_SIZE) for name in JOURNALS}
        # The journals this worker's control plane keeps anyway, read from there (read_through)
        self._read_through: dict[
            str, tuple[Callable[[], list[dict[str, Any]]], Callable[[], None]]
        ] = {}
        # The host's control page (page.py), mapped while connected: version() and
        # feed_wanted() read it on every API request, without a system call.
        self._page: ControlPage | None = None
        self._words: memoryview | None = None

    # --- the connection -------------------------------------------------------------------------

    async def start(self) -> None:
        with contextlib.suppress(StateUnavailable):  # /readyz says so until it answers
            await self._connect()

    async def _connect(self) -> asyncio.StreamWriter:
        if self._writer is not None and not self._writer.is_closing():
            return self._writer
        try:
            reader, writer = await asyncio.open_unix_connection(self.path)
        except OSError as exc:
            raise StateUnavailable(self.label, exc.strerror or str(exc)) from None
        writer.write(encode({"op": "hello", "args": [self.replica_id]}))
        self._writer = writer
        self._open_page()
        self._reader_task = asyncio.ensure_future(self._read_replies(reader))
        return writer

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while (message := await read_frame(reader)) is not None:
                if "ask" in message or "notice" in message:
                    self._answer(message)
                    continue
                future = self._pending.pop(message.get("id", -1), None)
                if future is None or future.done():
                    continue
                if "error" in message:
                    future.set_exception(StateUnavailable(self.label, message["error"]))
                else:
                    future.set_result(message.get("ok"))
        except (FrameError, ConnectionError):
            pass
        finally:
            self._lost()

    def _answer(self, message: dict[str, Any]) -> None:
        """The host's questions: this worker's journal entries (a read fans out to every
        worker, so recording one costs no message), and the reset notice that clears them."""
        if message.get("notice") == "reset":
            for journal in self._journals.values():
                journal.clear()
            for _, clear in self._read_through.values():
                clear()
        elif message.get("op") == "entries" and self._writer is not None:
            name = message["args"][0]
            kept = self._read_through.get(name)
            entries = list(self._journals.get(name, ())) if kept is None else kept[0]()
            self._writer.write(encode({"answer": message["ask"], "ok": entries}))

    def _open_page(self) -> None:
        self._close_page()
        try:
            self._page = ControlPage(page_path(self.path))
        except OSError:  # then version() asks the host, and the feed is published
            return
        self._words = self._page.words

    def _close_page(self) -> None:
        if self._page is not None:
            self._page.close()
        self._page, self._words = None, None

    def _lost(self) -> None:
        self._close_page()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(StateUnavailable(self.label, "the supervisor has gone"))

    async def _call(self, op: str, *args: Any) -> Any:
        if self._closed:
            raise StateUnavailable(self.label, "closed")
        writer = await self._connect()
        self._flush()  # what was recorded before this call reaches the host before it
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        writer.write(encode({"id": request_id, "op": op, "args": list(args)}))
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                return await future
        except TimeoutError:
            self._pending.pop(request_id, None)
            raise StateUnavailable(self.label, f"{op}: no answer") from None

    def _send(self, op: str, *args: Any) -> None:
        """One-way: gathered over this turn of the event loop and sent as one frame, or dropped
        if not connected (the journals and the feed are best effort, as with Redis down)."""
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch.append([op, list(args)])

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        if batch and self._writer is not None and not self._writer.is_closing():
            self._writer.write(encode({"op": "batch", "args": batch}))

    async def close(self) -> None:
        self._closed = True
        for feed in list(self._feeds):
            feed.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        self._lost()

    async def ping(self) -> None:
        await self._call("ping")

    async def join(self, seed: int | None) -> tuple[int, int | None]:
        number, shared_seed = await self._call("join", seed)
        return number, shared_seed

    # --- claims ---------------------------------------------------------------------------------

    async def claim(self, jti: str, expires_at: float) -> bool:
        return bool(await self._call("claim", jti, expires_at))

    async def release(self, jti: str) -> None:
        await self._call("release", jti)

    async def claimed(self, jti: str) -> bool:
        return bool(await self._call("claimed", jti))

    # --- the control document -------------------------------------------------------------------

    def version_now(self) -> int | None:
        words = self._words
        return None if words is None else words[VERSION]

    async def version(self) -> int:
        now = self.version_now()
        return int(await self._call("version")) if now is None else now

    async def control(self) -> ControlDoc:
        return doc_from_json(await self._call("control"))

    async def change_clock(
        self, wall: float, advance: float, freeze: bool | None
    ) -> tuple[float, float | None]:
        offset, frozen_at = await self._call("change_clock", wall, advance, freeze)
        return offset, frozen_at

    async def add_rules(self, specs: list[dict[str, Any]]) -> list[str]:
        return list(await self._call("add_rules", specs))

    async def remove_rule(self, rule_id: str) -> bool:
        return bool(await self._call("remove_rule", rule_id))

    async def clear_rules(self) -> None:
        await self._call("clear_rules")

    async def count_rule(self, rule_id: str, times: int | None) -> int:
        return int(await self._call("count_rule", rule_id, times))

    async def add_scenario(self, entry: dict[str, Any]) -> None:
        await self._call("add_scenario", entry)

    async def clear_scenarios(self) -> None:
        await self._call("clear_scenarios")

    # --- journals and the feed ------------------------------------------------------------------

    def append(self, journal: str, entry: dict[str, Any]) -> None:
        self._journals[journal].append(entry)

    def read_through(
        self, journal: str, read: Callable[[], list[dict[str, Any]]], clear: Callable[[], None]
    ) -> bool:
        self._read_through[journal] = (read, clear)
        return True

    async def flush(self) -> None:
        """A round trip: the host reads one connection in order, so what was sent before it
        (the feed's events) has been handled when it answers."""
        await self._call("ping")

    async def entries(self, journal: str) -> list[dict[str, Any]]:
        return list(await self._call("entries", journal))

    def feed_wanted(self) -> bool:
        words = self._words  # the host says whether any worker's stream reads the feed
        return True if words is None else bool(words[FEED])

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        if self.feed_wanted():  # nobody reads the feed: nothing to send
            self._send("publish", kind, data)

    async def feed_position(self) -> str:
        return str(await self._call("feed_position"))

    async def events(
        self, after: str | None = None
    ) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
        """A connection of its own: what was published after `after`, then every event."""
        try:
            reader, writer = await asyncio.open_unix_connection(self.path)
        except OSError as exc:
            raise StateUnavailable(self.label, exc.strerror or str(exc)) from None
        self._feeds.add(writer)
        try:
            writer.write(encode({"op": "events", "args": [after]}))
            while (message := await read_frame(reader)) is not None:
                if "event" in message:
                    event_id, kind, data = message["event"]
                    yield event_id, kind, data
        except (FrameError, ConnectionError):
            pass
        finally:
            self._feeds.discard(writer)
            writer.close()

    # --- replicas -------------------------------------------------------------------------------

    async def heartbeat(self, report: dict[str, Any]) -> None:
        await self._call("heartbeat", self.replica_id, report)

    async def replicas(self) -> dict[str, dict[str, Any]]:
        return dict(await self._call("replicas"))

    async def reset(self) -> int:
        return int(await self._call("reset"))
