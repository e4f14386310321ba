"""The emulator's app on a real port in the test's own event loop (served by pytest-aiohttp).

Its state is the test's to read directly (`registry`, `app[...]`) and to drive through the
control plane (`control()`), its clock is whatever the test hands `create_app`. It has no TURN
server unless asked for one. The `make_emulator` fixture (tests/conftest.py) makes them.
For the emulator in a thread of its own, as the pytest plugin's users get it, see
emulator.testing.pytest_plugin; as a process, emulator.testing.process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from emulator.config import Settings
from emulator.rtc.registry import SESSIONS, SessionRegistry
from emulator.testing.backend import OrgaBackend


@dataclass
class LocalEmulator:
    http: TestClient  # requests relative to the emulator: http.get("/healthz")
    settings: Settings

    @property
    def app(self) -> Any:
        return self.http.server.app

    @property
    def base_url(self) -> str:
        return str(self.http.make_url("")).rstrip("/")

    @property
    def api_key(self) -> str:
        return self.settings.api_keys[0]

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP client session behind `http`, for clients given absolute URLs."""
        return self.http.session

    @property
    def registry(self) -> SessionRegistry:
        return self.app[SESSIONS]

    async def control(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        """A control-plane request (`path` after /_emulator); its JSON, its status checked."""
        resp = await self.http.request(method, "/_emulator" + path, **kwargs)
        body = await resp.json()
        assert resp.status == expect, (resp.status, body)
        return body

    async def mint(
        self,
        email: str | None = "tester@example.com",
        test_id: str | None = None,
        api_key: str | None = None,
    ) -> str:
        """An ephemeral token, minted as a backend would (with X-Test-Id if given)."""
        backend = OrgaBackend(self.base_url, api_key or self.api_key, http=self.session)
        return await backend.mint_token(email, test_id=test_id)

    async def ended(self, conversation_id: str, timeout: float = 10) -> dict[str, Any]:
        """The control plane's view of a session, once it has closed."""
        session = self.registry.get(conversation_id)
        if session is not None:
            async with asyncio.timeout(timeout):
                await session.wait_closed()
        return await self.control("GET", f"/sessions/{conversation_id}")
