"""Helpers of the HTTP contract tests."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from emulator.config import DEV_API_KEY
from emulator.testing.backend import OrgaBackend

EMAIL = "ada@example.com"
SECRET = "test-signing-secret-of-at-least-32-bytes"


async def mint(client: TestClient, email: str = EMAIL, key: str = DEV_API_KEY) -> str:
    """An ephemeral token from the emulator `client` talks to, as a backend mints it."""
    backend = OrgaBackend(str(client.make_url("")), key, http=client.session)
    return await backend.mint_token(email)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call_body(sdp: str, **params: Any) -> dict[str, Any]:
    return {"offer": {"sdp": sdp, "type": "offer", "candidates": []}, "params": params}
