"""Fixtures of the HTTP contract tests: the emulator's app on a real socket of the test's loop,
its clock frozen (`frozen_clock` moves only when a test moves it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiortc import RTCConfiguration, RTCPeerConnection

from emulator.config import Settings
from emulator.identity.clock import Clock
from tests.api.helpers import SECRET


async def _make_offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio", direction="sendrecv")
        pc.addTransceiver("video", direction="sendonly")
        pc.createDataChannel("orga-realtime-client-events")
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


@pytest.fixture(scope="session")
def offer_sdp() -> str:
    """A real offer in the SDK's layout, made once (before any test's loop runs)."""
    return asyncio.run(_make_offer())


@pytest.fixture
def frozen_clock() -> Clock:
    clock = Clock()
    clock.freeze()
    return clock


@pytest.fixture
def api_settings() -> Settings:
    return Settings(signing_secret=SECRET, turn=False)


@pytest.fixture
def make_api_client(
    make_emulator: Callable[..., Awaitable[Any]], frozen_clock: Clock
) -> Callable[..., Awaitable[TestClient]]:
    """`await make_api_client(settings, app_setup=...)`: an HTTP client of a fresh emulator
    (make_emulator's) on `frozen_clock`; requests take paths: `client.get("/healthz")`."""

    async def make(
        settings: Settings | None = None,
        app_setup: Callable[[web.Application], None] | None = None,
    ) -> TestClient:
        settings = settings or Settings(signing_secret=SECRET, turn=False)
        emulator = await make_emulator(settings, clock=frozen_clock, app_setup=app_setup)
        return emulator.http

    return make


@pytest.fixture
async def api_client(
    make_api_client: Callable[..., Awaitable[TestClient]], api_settings: Settings
) -> TestClient:
    return await make_api_client(api_settings)
