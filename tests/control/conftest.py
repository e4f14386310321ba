"""Fixtures of the control-plane tests: the live feed of an emulator (tests/conftest.py makes
the emulators and the clients)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.control.feed import FeedReader
from tests.kit.local import LocalEmulator


async def open_feed(emulator: LocalEmulator) -> FeedReader:
    response = await emulator.http.get("/_emulator/events")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return FeedReader(response)


@pytest.fixture
async def feed(emulator: LocalEmulator) -> AsyncIterator[FeedReader]:
    """The live feed of `emulator`."""
    reader = await open_feed(emulator)
    yield reader
    await reader.close()


@pytest.fixture
async def feed_of() -> AsyncIterator[Callable[[LocalEmulator], Awaitable[FeedReader]]]:
    """Live-feed readers for emulators a test makes itself."""
    readers: list[FeedReader] = []

    async def open_one(emulator: LocalEmulator) -> FeedReader:
        readers.append(await open_feed(emulator))
        return readers[-1]

    yield open_one
    for reader in readers:
        await reader.close()
