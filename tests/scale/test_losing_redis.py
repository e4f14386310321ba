"""Redis stopped mid-run: the endpoints that need it answer 503 state_unavailable, nothing
crashes, no token is spent, /readyz names "state", /healthz stays 200; Redis restarted on the
same port, service comes back without restarting the emulator."""

from __future__ import annotations

import aiohttp
import pytest

from emulator.config import DEV_API_KEY
from tests.scale.conftest import CALL_BODY, call, mint, until

pytestmark = pytest.mark.slow


async def _status(http: aiohttp.ClientSession, method: str, url: str, **kw) -> tuple[int, dict]:
    async with http.request(method, url, **kw) as resp:
        return resp.status, await resp.json()


async def test_losing_redis_and_getting_it_back(redis_server, start_replica, http):
    emulator = start_replica()
    base = emulator.base_url
    token = await mint(http, base)
    status, ready = await _status(http, "GET", f"{base}/readyz")
    assert status == 200 and ready["components"]["state"] is True

    redis_server.stop()
    key = {"Authorization": f"Bearer {DEV_API_KEY}"}
    bearer = {"Authorization": f"Bearer {token}"}
    needing_state = [
        ("POST", f"{base}/v1/realtime/client-secrets", {"headers": key}),
        ("GET", f"{base}/v1/realtime/ice-config", {"headers": bearer}),
        ("POST", f"{base}/v1/realtime/calls", {"headers": bearer, "json": CALL_BODY}),
        ("GET", f"{base}/_emulator/faults", {}),
        ("POST", f"{base}/_emulator/clock", {"json": {"advance": 1}}),
        ("GET", f"{base}/_emulator/sessions", {}),
    ]
    for method, url, kw in needing_state:
        status, body = await _status(http, method, url, **kw)
        assert status == 503, (url, body)
        assert body["error"]["code"] == "state_unavailable"
        assert body["error"]["type"] == "service_unavailable_error"
        assert f"127.0.0.1:{redis_server.port}" in body["error"]["message"]
    status, ready = await _status(http, "GET", f"{base}/readyz")
    assert status == 503 and ready["components"]["state"] is False
    assert "state" in ready["missing"]
    assert (await _status(http, "GET", f"{base}/healthz"))[0] == 200
    assert emulator.proc.poll() is None

    redis_server.restart()  # same port, empty (no persistence): the claim was never written

    async def served() -> bool:
        async with http.post(f"{base}/v1/realtime/client-secrets", headers=key) as resp:
            return resp.status == 200

    await until(served, 10, "client-secrets served again once Redis is back")

    async def ready_again() -> bool:
        return (await _status(http, "GET", f"{base}/readyz"))[0] == 200

    await until(ready_again, 5, "/readyz ready again")
    # The token refused with 503 while Redis was away was not spent.
    status, answered = await call(http, base, token)
    assert status == 200, answered
    assert emulator.proc.poll() is None
