"""pytest fixtures for testing an app against orga-emulator (registered as a pytest11 plugin).

    def test_token(orga_emulator):
        token = orga_emulator.mint_token("ada@example.com")

    async def test_call(orga_client):
        await orga_client.connect()
        created = await orga_client.next_event("session.created")

`orga_emulator` runs the whole emulator, TURN included, on free ports in a thread of this process
with its own event loop, so it serves sync and async tests alike. Override the
`orga_emulator_settings` fixture to configure it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from emulator.config import Settings
from emulator.process.server import EmulatorServer
from emulator.rtc.registry import SESSIONS
from emulator.testing.backend import OrgaBackend
from emulator.testing.client import OrgaClient

T = TypeVar("T")


class RunningEmulator:
    """An emulator serving from a background thread until stop()."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.server: EmulatorServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="orga-emulator", daemon=True)

    def start(self, timeout: float = 20.0) -> RunningEmulator:
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("orga-emulator did not start in time")
        if self._error is not None:
            raise RuntimeError(f"orga-emulator did not start: {self._error}") from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            server = EmulatorServer(self.settings)
            await server.start()
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self.server = server
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await server.close()

    def _running(self) -> tuple[EmulatorServer, asyncio.AbstractEventLoop]:
        if self.server is None or self._loop is None:
            raise RuntimeError("the emulator is not running: start() it first")
        return self.server, self._loop

    def _on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the emulator's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._running()[1]).result(10)

    @property
    def base_url(self) -> str:
        return self._running()[0].base_url

    @property
    def api_key(self) -> str:
        return self.settings.api_keys[0]

    def _call(self, method: Callable[[OrgaBackend], Awaitable[T]]) -> T:
        """Run a backend call on the emulator's loop, over a session of its own."""

        async def call() -> T:
            backend = OrgaBackend(self.base_url, self.api_key)
            try:
                return await method(backend)
            finally:
                await backend.close()

        return self._on_loop(call())

    def mint_token(self, email: str = "tester@example.com") -> str:
        """An ephemeral token for `email`, minted over HTTP as a backend would."""
        return self._call(lambda backend: backend.mint_token(email))

    def ice_servers_for(self, token: str) -> list[dict[str, Any]]:
        return self._call(lambda backend: backend.ice_servers(token))

    @property
    def ice_servers(self) -> list[dict[str, Any]]:
        """The STUN/TURN list a fresh token gets (its TURN credentials live as long as it)."""
        return self.ice_servers_for(self.mint_token())

    @property
    def sessions(self) -> dict[str, Any]:
        """The live sessions by conversation_id (a snapshot, read on the emulator's loop)."""

        server = self._running()[0]

        async def snapshot() -> dict[str, Any]:
            return dict(server.app[SESSIONS].sessions)

        return self._on_loop(snapshot())


def _default_settings() -> Settings:
    return Settings(port=0, turn_port=0)


@pytest.fixture
def orga_emulator_settings() -> Settings:
    """Override to configure the emulator (keep port=0 and turn_port=0 for parallel runs)."""
    return _default_settings()


@pytest.fixture
def orga_emulator(orga_emulator_settings: Settings) -> Iterator[RunningEmulator]:
    """A fresh emulator for this test."""
    emulator = RunningEmulator(orga_emulator_settings).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def orga_emulator_session() -> Iterator[RunningEmulator]:
    """One emulator shared by the whole test session (faster; state carries over)."""
    emulator = RunningEmulator(_default_settings()).start()
    yield emulator
    emulator.stop()


try:
    import pytest_asyncio
except ImportError:  # the plugin loads in every pytest run of whoever installed us

    @pytest.fixture
    def orga_client() -> None:
        pytest.fail("orga_client needs pytest-asyncio: pip install 'orga-emulator[pytest]'")

else:
    # One orga_client or the other is defined, never both: mypy sees a redefinition.
    @pytest_asyncio.fixture
    async def orga_client(orga_emulator: RunningEmulator) -> AsyncIterator[OrgaClient]:  # type: ignore[misc]
        """A client that does what the Orga SDKs do, against `orga_emulator`; hung up after."""
        client = OrgaClient(orga_emulator.base_url, orga_emulator.api_key)
        yield client
        await client.hangup()
