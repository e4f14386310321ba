"""Fixtures every part of the suite may use. Each name means one thing across the suite:

- `emulator_process`: starts `python -m emulator ARGS` processes (EmulatorProcess), stopped
  after the test;
- `make_emulator` / `emulator`: the emulator's app in the test's own loop (LocalEmulator,
  tests/kit/local.py), without TURN unless asked;
- `make_sdk_client` / `sdk_client`: SDK-like WebRTC clients (emulator.testing.client.OrgaClient)
  of a LocalEmulator, hung up after the test.

The pytest plugin's `orga_emulator` (a whole emulator in a thread) and `orga_client` are the
ones users get; tests of what users see use them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from emulator.app import create_app
from emulator.config import Settings
from emulator.identity.clock import Clock
from emulator.process.protocol import EmulatorRunner
from emulator.testing.client import OrgaClient
from emulator.testing.process import EmulatorProcess, start_emulator
from tests.kit.local import LocalEmulator
from tests.kit.paths import ROOT

pytest_plugins = ("pytester",)


@pytest.fixture
def emulator_process() -> Iterator[Callable[..., EmulatorProcess]]:
    """A factory of emulator processes; every one it starts is killed at the end of the test."""
    started: list[EmulatorProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> EmulatorProcess:
        process = start_emulator(*args, env=env, cwd=ROOT)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


class EmulatorTestServer(TestServer):
    """aiohttp's test server, serving through the emulator's own runner (its protocol-error
    answers and timeouts), as the CLI does."""

    def __init__(self, app: web.Application, settings: Settings) -> None:
        super().__init__(app)
        self._settings = settings

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        s = self._settings
        kwargs.setdefault("keepalive_timeout", s.http_keepalive_timeout)
        return EmulatorRunner(
            self.app,
            header_timeout=s.http_header_timeout,
            body_timeout=s.http_body_timeout,
            **kwargs,
        )


@pytest.fixture
def make_emulator(aiohttp_client: Any) -> Callable[..., Awaitable[LocalEmulator]]:
    """`await make_emulator(**settings)` (turn=False unless given), or with a whole Settings;
    `clock=` hands the app a clock, `app_setup=` may add routes before it is served."""

    async def make(
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        app_setup: Callable[[web.Application], None] | None = None,
        **options: Any,
    ) -> LocalEmulator:
        if settings is None:
            settings = Settings(**{"turn": False, **options})
        elif options:
            raise TypeError("give either a Settings or its fields, not both")
        app = create_app(settings, clock=clock)
        if app_setup is not None:
            app_setup(app)
        return LocalEmulator(await aiohttp_client(EmulatorTestServer(app, settings)), settings)

    return make


@pytest.fixture
async def emulator(make_emulator: Callable[..., Awaitable[LocalEmulator]]) -> LocalEmulator:
    return await make_emulator()


@pytest.fixture
async def make_sdk_client() -> AsyncIterator[Callable[..., OrgaClient]]:
    """`make_sdk_client(emulator, email)`: an OrgaClient of that emulator (over its HTTP session),
    hooks as OrgaClient takes them; every one is hung up at the end of the test."""
    clients: list[OrgaClient] = []

    def make(
        emulator: LocalEmulator, email: str = "tester@example.com", **hooks: Any
    ) -> OrgaClient:
        client = OrgaClient(
            emulator.base_url, emulator.api_key, email, http=emulator.session, **hooks
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.hangup()


@pytest.fixture
async def sdk_client(
    emulator: LocalEmulator, make_sdk_client: Callable[..., OrgaClient]
) -> OrgaClient:
    return make_sdk_client(emulator)
