"""The backend half of an Orga app, as @orga-ai/node does it: the API key swapped for an
ephemeral token (client-secrets), then the ICE servers for that token (ice-config)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from emulator.config import DEV_API_KEY


class OrgaHTTPError(Exception):
    """A non-2xx answer from the emulator, with its status and JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class SessionConfig:
    """What a backend hands the browser: an ephemeral token and the ICE servers for it."""

    ephemeral_token: str
    ice_servers: list[dict[str, Any]]


class OrgaBackend:
    """Backend calls against an emulator at `base_url`, over `http` (or a session of its own,
    opened on first use and closed by `close()`)."""

    def __init__(
        self,
        base_url: str,
        api_key: str = DEV_API_KEY,
        *,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._http = http
        self._own_http = http is None

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of `method base_url+path`; OrgaHTTPError on a status >= 400."""
        async with self.http.request(method, self.base_url + path, **kwargs) as resp:
            body = await resp.json(content_type=None)
            if resp.status >= 400:
                raise OrgaHTTPError(resp.status, body)
            return body

    async def mint_token(self, email: str | None, *, test_id: str | None = None) -> str:
        """An ephemeral token for `email` (none: the API key's own account), as the backend of
        the test `test_id` (X-Test-Id) if given."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if test_id:
            headers["X-Test-Id"] = test_id
        params = {"email": email} if email else {}
        secret = await self.request_json(
            "POST", "/v1/realtime/client-secrets", params=params, headers=headers
        )
        return secret["ephemeral_token"]

    async def ice_servers(self, token: str) -> list[dict[str, Any]]:
        ice = await self.request_json(
            "GET", "/v1/realtime/ice-config", headers={"Authorization": f"Bearer {token}"}
        )
        return ice["iceServers"]

    async def session_config(self, email: str | None) -> SessionConfig:
        """What getSessionConfig() returns: a token, then the ICE servers for it."""
        token = await self.mint_token(email)
        return SessionConfig(token, await self.ice_servers(token))

    async def close(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None
