"""Every offer in fixtures/offers is answered: codecs chosen, directions, one data channel."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiortc.sdp import SessionDescription

from emulator.app import create_app
from emulator.config import DEV_API_KEY, Settings

OFFERS = sorted((Path(__file__).resolve().parents[2] / "fixtures/offers").glob("*.sdp"))
ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly"}


def test_the_fixtures_are_there():
    names = {p.stem for p in OFFERS}
    assert {
        "aiortc-sdk-layout",
        "aiortc-tracks",
        "chromium-sdk-layout",
        "firefox-sdk-layout",
        "safari-shaped",
    } <= names


@pytest.mark.parametrize("path", OFFERS, ids=[p.stem for p in OFFERS])
async def test_offer_is_answered(aiohttp_client, path):
    client = await aiohttp_client(create_app(Settings(turn=False)))
    secret = await client.post(
        "/v1/realtime/client-secrets",
        params={"email": "offers@example.com"},
        headers={"Authorization": f"Bearer {DEV_API_KEY}"},
    )
    token = (await secret.json())["ephemeral_token"]
    offer_sdp = path.read_text()
    resp = await client.post(
        "/v1/realtime/calls",
        json={"offer": {"sdp": offer_sdp, "type": "offer"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 200, await resp.text()
    answer = SessionDescription.parse((await resp.json())["answer"]["sdp"])
    offer = SessionDescription.parse(offer_sdp)

    assert [m.kind for m in answer.media] == [m.kind for m in offer.media]
    for offered, answered in zip(offer.media, answer.media, strict=True):
        assert answered.ice.usernameFragment and answered.ice.password
        assert answered.dtls and answered.dtls.fingerprints
        assert answered.dtls.role in ("client", "server")
        if offered.kind == "audio":
            assert answered.direction == ANSWER_DIRECTION[offered.direction]
            assert answered.rtp.codecs[0].mimeType.lower() == "audio/opus"
        elif offered.kind == "video":
            # The AI has no camera: it receives the user's video and sends none.
            assert answered.direction == "recvonly"
            offered_codecs = {c.mimeType.lower() for c in offered.rtp.codecs}
            assert answered.rtp.codecs[0].mimeType.lower() in offered_codecs
    assert sum(1 for m in answer.media if m.kind == "application") == 1
