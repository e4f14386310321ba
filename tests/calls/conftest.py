"""Fixtures for the calls tests: a real emulator app on a real socket, and SDK-like peers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from orga_client import OrgaClient

from emulator.app import create_app
from emulator.config import Settings


@pytest.fixture
def make_emulator(aiohttp_client) -> Callable[..., Awaitable]:
    """An emulator (without TURN) with the given settings, served on a real port."""

    async def make(**settings) -> object:
        return await aiohttp_client(create_app(Settings(turn=False, **settings)))

    return make


@pytest.fixture
async def emulator(make_emulator):
    return await make_emulator()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., OrgaClient]]:
    """SDK-like client peers; every one is closed at the end of the test."""
    clients: list[OrgaClient] = []

    def make(http) -> OrgaClient:
        client = OrgaClient(http)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(emulator, make_client) -> OrgaClient:
    return make_client(emulator)
