"""The control plane's live feed (Server-Sent Events at /_emulator/events), read as a client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any


class FeedReader:
    """The SSE live feed, read as a client would; `wait()` returns the first matching event."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.events: list[dict[str, Any]] = []
        self._added = asyncio.Event()
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        kind = None
        async for raw in self.response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                event = json.loads(line[6:])
                assert event["type"] == kind  # the SSE event name is the payload's type
                self.events.append(event)
                self._added.set()

    async def wait(self, match: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict:
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events[seen:]:
                    if match(event):
                        return event
                seen = len(self.events)
                self._added.clear()
                await self._added.wait()

    async def close(self) -> None:
        self.response.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
