"""Fixtures for the HTTP contract tests: a real emulator app on a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from service_helpers import SECRET

from emulator.app import create_app
from emulator.config import Settings
from emulator.identity.clock import Clock


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
def clock() -> Clock:
    clock = Clock()
    clock.freeze()
    return clock


@pytest.fixture
def settings() -> Settings:
    return Settings(signing_secret=SECRET, turn=False)


@pytest.fixture
def make_client(aiohttp_client, clock) -> Callable[..., Awaitable]:
    async def make(settings: Settings | None = None, app_setup=None):
        app = create_app(settings or Settings(signing_secret=SECRET, turn=False), clock=clock)
        if app_setup:
            app_setup(app)
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def client(make_client, settings):
    return await make_client(settings)
