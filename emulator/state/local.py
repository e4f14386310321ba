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
from collections.abc import AsyncIterator
from typing import Any

from emulator.identity.clock import Clock
from emulator.state.store import ControlDoc, StateUnavailable
from emulator.state.wire import (
    FrameError,
    doc_from_json,
    encode,
    read_frame,
    socket_path,
)

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
        self._reader_task = asyncio.ensure_future(self._read_replies(reader))
        return writer

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while (message := await read_frame(reader)) is not None:
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

    def _lost(self) -> None:
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
        """One-way: written into the socket's buffer now, or dropped if not connected (the
        journals and the feed are best effort, as with Redis down)."""
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(encode({"op": op, "args": list(args)}))

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

    async def version(self) -> int:
        return int(await self._call("version"))

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
        self._send("append", journal, entry)

    async def flush(self) -> None:
        """A round trip: the host reads one connection in order, so what was sent before it
        has been recorded when it answers."""
        await self._call("ping")

    async def entries(self, journal: str) -> list[dict[str, Any]]:
        return list(await self._call("entries", journal))

    def publish(self, kind: str, data: dict[str, Any]) -> None:
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
