"""The live feed: Server-Sent Events at /_emulator/events.

Publishing is a put_nowait per subscriber (nothing at all without subscribers); a subscriber
that cannot keep up loses its oldest events, never slows the emulator. Each stream is served
by its own request handler, which ends when the client goes away (noticed within a second) or
when the app shuts down: no task outlives its connection.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from emulator.identity.clock import Clock
from emulator.state.store import SharedState, StateUnavailable

QUEUE_SIZE = 256
POLL_SECONDS = 1.0  # how soon a vanished client is noticed
KEEPALIVE_SECONDS = 15.0
_CLOSE = object()


class Feed:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._subscribers: set[asyncio.Queue[Any]] = set()
        self._sequence = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.closed = False
        self._shared: SharedState | None = None
        # Whether an event published now might reach anyone (else the caller need not build
        # it): an attribute kept up to date, as every API request reads it. With shared state,
        # reaches_anyone() then asks the state.
        self.wanted = False

    @property
    def shared(self) -> SharedState | None:
        """With shared state, events go through it, so every replica's streams carry them all."""
        return self._shared

    @shared.setter
    def shared(self, state: SharedState | None) -> None:
        self._shared = state
        self._update_wanted()

    def _update_wanted(self) -> None:
        self.wanted = self._shared is not None or bool(self._subscribers)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def wait_idle(self) -> None:
        """Until no stream is open (each handler has finished)."""
        await self._idle.wait()

    def reaches_anyone(self) -> bool:
        """Whether an event published now would reach a stream of this replica or another."""
        if self._shared is not None:
            return self._shared.feed_wanted()
        return bool(self._subscribers)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        if self._shared is not None:
            self._shared.publish(kind, {"type": kind, "at": self._clock.time(), **data})
            return
        if not self._subscribers:
            return
        self._sequence += 1
        event = (self._sequence, kind, {"type": kind, "at": self._clock.time(), **data})
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()  # drop the oldest: a slow reader must not hold us up
            queue.put_nowait(event)

    def close(self) -> None:
        """End every stream (app shutdown)."""
        self.closed = True
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(_CLOSE)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        if self.closed:
            return response
        queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
        forwarder = None
        if self._shared is not None:
            try:
                position = await self._shared.feed_position()
            except StateUnavailable:
                return response  # the client reconnects (retry: 1000) once it is back
            forwarder = asyncio.ensure_future(self._forward(self._shared, position, queue))
        self._subscribers.add(queue)
        self._update_wanted()
        self._idle.clear()
        try:
            await response.write(b": orga-emulator live feed\nretry: 1000\n\n")
            idle = 0.0
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), POLL_SECONDS)
                except TimeoutError:
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        break
                    idle += POLL_SECONDS
                    if idle >= KEEPALIVE_SECONDS:
                        idle = 0.0
                        await response.write(b": keepalive\n\n")
                    continue
                if item is _CLOSE:
                    break
                sequence, kind, data = item
                idle = 0.0
                payload = json.dumps(data, separators=(",", ":"), default=str)
                await response.write(f"id: {sequence}\nevent: {kind}\ndata: {payload}\n\n".encode())
        except ConnectionResetError:
            pass  # the client went away mid-write
        finally:
            if forwarder is not None:
                forwarder.cancel()
            self._subscribers.discard(queue)
            self._update_wanted()
            if not self._subscribers:
                self._idle.set()
        return response

    @staticmethod
    async def _forward(shared: SharedState, position: str, queue: asyncio.Queue[Any]) -> None:
        """Every replica's events, from the shared feed into this stream's queue."""
        async for event in shared.events(position):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
