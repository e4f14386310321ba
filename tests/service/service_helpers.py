"""Helpers for the HTTP contract tests (imported by name: tests/ is not a package)."""

from __future__ import annotations

from emulator.config import DEV_API_KEY

EMAIL = "ada@example.com"
SECRET = "test-signing-secret-of-at-least-32-bytes"


async def mint(client, email: str = EMAIL, key: str = DEV_API_KEY) -> str:
    resp = await client.post(
        "/v1/realtime/client-secrets",
        params={"email": email},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status == 200, await resp.text()
    return (await resp.json())["ephemeral_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call_body(sdp: str, **params) -> dict:
    return {"offer": {"sdp": sdp, "type": "offer", "candidates": []}, "params": params}
