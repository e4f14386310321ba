"""Replicas for the scale-out tests: emulator processes sharing one real redis-server."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest

from emulator.config import DEV_API_KEY
from emulator.testing.process import EmulatorProcess, start_emulator
from tests.kit.offers import offer
from tests.kit.redis import RedisServer

CALL_BODY = {"offer": offer("chromium-sdk-layout")}


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer.start() as server:
        yield server


@pytest.fixture
def start_replica(redis_server: RedisServer) -> Iterator[Callable[..., EmulatorProcess]]:
    """Start replicas of one emulator: the same signing and TURN secrets, the same state."""
    # One argument with '=': a random secret may begin with '-', which argparse would take
    # for an option (a 1-in-64 CI failure).
    shared = [f"--signing-secret={secrets.token_urlsafe(32)}", "--turn-secret", "s3cret"]
    started: list[EmulatorProcess] = []

    def start(*args: str) -> EmulatorProcess:
        process = start_emulator(
            "--state", redis_server.url, *shared, "--log-level", "warning", *args
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


async def mint(http: aiohttp.ClientSession, base: str, **query: str) -> str:
    async with http.post(
        f"{base}/v1/realtime/client-secrets",
        params=query,
        headers={"Authorization": f"Bearer {DEV_API_KEY}"},
    ) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["ephemeral_token"])


async def call(http: aiohttp.ClientSession, base: str, token: str) -> tuple[int, dict[str, Any]]:
    async with http.post(
        f"{base}/v1/realtime/calls", json=CALL_BODY, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        return resp.status, await resp.json()


async def control(
    http: aiohttp.ClientSession, method: str, base: str, path: str, body: Any = None
) -> tuple[int, Any]:
    async with http.request(method, f"{base}/_emulator{path}", json=body) as resp:
        return resp.status, await resp.json()


async def until(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Wait for `condition` (polled), failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)
