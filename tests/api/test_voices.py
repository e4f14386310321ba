"""The voice catalogue over HTTP: /calls takes exactly its names, the demo lists them.

The catalogue itself (the current SDKs' list, in exact Unicode): tests/unit/test_voices.py."""

from __future__ import annotations

import json

import pytest

from emulator.ai import voices
from emulator.identity.tokens import LEDGER
from tests.api.helpers import bearer, call_body, mint


@pytest.mark.parametrize("name", ["Sofía", "Victoria", "Chloé", "Álvaro", "Élise", "coral"])
async def test_calls_accepts_current_and_legacy_voices(api_client, offer_sdp, name):
    token = await mint(api_client)
    # As browsers send it: JSON.stringify leaves "í" as UTF-8, not as \u00ed.
    body = json.dumps(call_body(offer_sdp, voice=name), ensure_ascii=False).encode()
    resp = await api_client.post(
        "/v1/realtime/calls",
        data=body,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert resp.status == 200, await resp.text()


async def test_an_unknown_voice_is_400_listing_the_names_and_spends_nothing(api_client, offer_sdp):
    token = await mint(api_client)
    resp = await api_client.post(
        "/v1/realtime/calls", json=call_body(offer_sdp, voice="Sofia"), headers=bearer(token)
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["param"] == "params.voice" and error["code"] == "invalid_value"
    assert all(name in error["message"] for name in voices.NAMES)
    assert not api_client.app[LEDGER]


async def test_the_demo_list_is_the_catalogue_with_the_sdk_default(api_client):
    resp = await api_client.get("/_emulator/demo/voices.json")
    assert resp.status == 200
    body = json.loads(await resp.text())
    assert body["default"] == voices.DEFAULT == "Sofía"
    assert [v["name"] for v in body["voices"]] == [v.name for v in voices.CATALOGUE]
    sofia = body["voices"][0]
    assert sofia == {
        "name": "Sofía",
        "description": "Soft Calm Spanish Woman",
        "gender": "feminine",
        "language": "Español",
        "legacy": False,
    }
