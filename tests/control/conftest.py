"""Fixtures for the control-plane tests: a real emulator on a real port, real clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from emulator.app import create_app
from emulator.config import DEV_API_KEY, Settings
from emulator.rtc.registry import SESSIONS
from emulator.testing.client import OrgaClient


@dataclass
class Emulator:
    http: Any  # pytest-aiohttp's TestClient
    settings: Settings

    @property
    def app(self) -> Any:
        return self.http.server.app

    @property
    def base_url(self) -> str:
        return str(self.http.make_url("")).rstrip("/")

    @property
    def registry(self) -> Any:
        return self.app[SESSIONS]

    async def control(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        resp = await self.http.request(method, "/_emulator" + path, **kwargs)
        body = await resp.json()
        assert resp.status == expect, (resp.status, body)
        return body

    async def mint(self, email: str = "tester@example.com", test_id: str | None = None) -> str:
        headers = {"Authorization": f"Bearer {DEV_API_KEY}"}
        if test_id:
            headers["X-Test-Id"] = test_id
        resp = await self.http.post(
            "/v1/realtime/client-secrets", params={"email": email}, headers=headers
        )
        assert resp.status == 200, await resp.text()
        return (await resp.json())["ephemeral_token"]

    async def ended(self, conversation_id: str, timeout: float = 10) -> dict[str, Any]:
        session = self.registry.get(conversation_id)
        if session is not None:
            async with asyncio.timeout(timeout):
                await session.wait_closed()
        return await self.control("GET", f"/sessions/{conversation_id}")


@pytest.fixture
def make_emulator(aiohttp_client) -> Callable[..., Awaitable[Emulator]]:
    async def make(**settings: Any) -> Emulator:
        settings.setdefault("turn", False)
        built = Settings(**settings)
        return Emulator(await aiohttp_client(create_app(built)), built)

    return make


@pytest.fixture
async def emulator(make_emulator) -> Emulator:
    return await make_emulator()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., OrgaClient]]:
    """SDK-like clients (emulator.testing.client.OrgaClient); all hung up at the end."""
    clients: list[OrgaClient] = []

    def make(emulator: Emulator, email: str = "tester@example.com") -> OrgaClient:
        client = OrgaClient(emulator.base_url, DEV_API_KEY, email)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.hangup()


async def wait_state(client: OrgaClient, states: set[str], timeout: float) -> str:
    """Wait for the client's peer connection to reach one of `states`."""
    changed = asyncio.Event()
    client.pc.on("connectionstatechange", changed.set)
    async with asyncio.timeout(timeout):
        while client.pc.connectionState not in states:
            changed.clear()
            await changed.wait()
    return client.pc.connectionState


class FeedReader:
    """The SSE live feed, read as a client would; `wait()` returns the first matching event."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.events: list[dict[str, Any]] = []
        self._added = asyncio.Event()
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        import json

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


@pytest.fixture
async def feed(emulator) -> AsyncIterator[FeedReader]:
    response = await emulator.http.get("/_emulator/events")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    reader = FeedReader(response)
    yield reader
    await reader.close()


@pytest.fixture
async def feed_of() -> AsyncIterator[Callable[[Emulator], Awaitable[FeedReader]]]:
    """Live-feed readers for emulators a test makes itself."""
    readers: list[FeedReader] = []

    async def open_feed(emulator: Emulator) -> FeedReader:
        response = await emulator.http.get("/_emulator/events")
        assert response.status == 200
        readers.append(FeedReader(response))
        return readers[-1]

    yield open_feed
    for reader in readers:
        await reader.close()
