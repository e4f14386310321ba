"""Every offer in fixtures/offers is answered: codecs chosen, directions, one data channel."""

from __future__ import annotations

import pytest
from aiortc.sdp import SessionDescription

from tests.kit import offers
from tests.kit.offers import LOOPBACK

ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly"}


def test_the_fixtures_are_there():
    assert {
        "aiortc-sdk-layout",
        "aiortc-tracks",
        "chromium-sdk-layout",
        "firefox-sdk-layout",
        "safari-shaped",
        "safari-legacy-shaped",
    } <= set(offers.names())
    assert set(offers.BROWSER_OFFERS.values()) <= set(offers.names())


@pytest.mark.parametrize("name", offers.names())
def test_a_replayed_offer_names_only_this_machine(name):
    """The captures carry a documentation address; replayed, every address is loopback."""
    sdp = offers.offer_sdp(name)
    assert "a=candidate:" in sdp
    assert offers.candidate_addresses(sdp) <= {LOOPBACK, "0.0.0.0"}


@pytest.mark.parametrize("name", offers.names())
async def test_offer_is_answered(emulator, name):
    token = await emulator.mint("offers@example.com")
    offer_sdp = offers.offer_sdp(name)
    resp = await emulator.http.post(
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
