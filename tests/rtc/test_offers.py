"""Offers: what browsers and aiortc send is answered; what cannot be answered is a 400 on
`offer.sdp` that leaves nothing running and keeps the token."""

from __future__ import annotations

import asyncio
import re

import pytest
from aioice import stun
from aiortc.sdp import SessionDescription

from tests.kit import offers

pytestmark = pytest.mark.timeout(60)

AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def _offer(sdp: str) -> dict:
    return {"sdp": sdp, "type": "offer", "candidates": []}


@pytest.mark.parametrize("browser", sorted(offers.BROWSER_OFFERS))
async def test_browser_offers_are_answered(emulator, sdk_client, browser):
    status, body = await sdk_client.post_call(
        await sdk_client.mint_token(), offers.offer(offers.BROWSER_OFFERS[browser])
    )
    assert status == 200, body
    answer = SessionDescription.parse(body["answer"]["sdp"])
    audio, video, data = answer.media
    assert (audio.kind, video.kind, data.kind) == ("audio", "video", "application")
    # The AI speaks Opus from the start (sendrecv), with audio levels negotiated.
    assert audio.direction == "sendrecv"
    assert audio.rtp.codecs[0].mimeType.lower() == "audio/opus"
    assert AUDIO_LEVEL in [e.uri for e in audio.rtp.headerExtensions]
    # The camera is received only.
    assert video.direction == "recvonly"
    assert data.sctp_port == 5000
    assert body["conversation_id"] in emulator.registry.sessions


async def test_the_sdk_offer_shape_is_answered(emulator, sdk_client):
    offer = await sdk_client.offer()
    assert "a=sendrecv" in offer["sdp"] and "a=sendonly" in offer["sdp"]
    status, body = await sdk_client.post_call(await sdk_client.mint_token(), offer)
    assert status == 200, body
    answer = SessionDescription.parse(body["answer"]["sdp"])
    assert [m.direction for m in answer.media[:2]] == ["sendrecv", "recvonly"]
    assert AUDIO_LEVEL in [e.uri for e in answer.media[0].rtp.headerExtensions]
    # Non-trickle: the emulator's candidates are in the answer.
    assert answer.media[0].ice_candidates


async def test_no_ice_server_unless_configured(make_emulator, make_sdk_client):
    emulator = await make_emulator()
    client = make_sdk_client(emulator)
    conversation_id = await client.connect()
    session = emulator.registry.sessions[conversation_id]
    # Given explicitly, so aiortc does not fall back to a public STUN server.
    assert session.ice_servers == []
    answer = client.pc.remoteDescription.sdp
    candidates = SessionDescription.parse(answer).media[0].ice_candidates
    assert candidates and {c.type for c in candidates} == {"host"}

    # A configured server is the one asked: a STUN responder of our own sees the requests.
    async with StunResponder() as stun:
        configured = await make_emulator(ice_servers=(f"stun:127.0.0.1:{stun.port}",))
        other = make_sdk_client(configured)
        status, body = await other.post_call(await other.mint_token(), await other.offer())
    assert status == 200, body
    assert stun.requests >= 1
    session = configured.registry.sessions[body["conversation_id"]]
    assert [s.urls for s in session.ice_servers] == [f"stun:127.0.0.1:{stun.port}"]


class StunResponder(asyncio.DatagramProtocol):
    """Answers STUN binding requests on 127.0.0.1, counting them."""

    def __init__(self) -> None:
        self.requests = 0
        self.port = 0

    async def __aenter__(self) -> StunResponder:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = stun.parse_message(data)
        self.requests += 1
        response = stun.Message(
            message_method=request.message_method,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = addr
        self._transport.sendto(bytes(response), addr)


async def test_an_offer_listing_another_codec_first_still_negotiates_opus(emulator, sdk_client):
    # Firefox's offer lists Opus (109) first: PCMU (0) and PCMA (8) go before it.
    sdp, count = re.subn(
        r"^(m=audio \S+ \S+) 109 9 0 8 101\r$",
        r"\1 0 8 109\r",
        offers.offer_sdp("firefox-sdk-layout"),
        flags=re.M,
    )
    assert count == 1
    status, body = await sdk_client.post_call(await sdk_client.mint_token(), _offer(sdp))
    assert status == 200, body
    audio = SessionDescription.parse(body["answer"]["sdp"]).media[0]
    assert [c.mimeType.lower() for c in audio.rtp.codecs] == ["audio/opus"]


async def test_candidates_given_only_in_the_body_are_used(emulator, sdk_client):
    offer = await sdk_client.offer()
    offer["sdp"] = "\r\n".join(
        line
        for line in offer["sdp"].splitlines()
        if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    )
    status, body = await sdk_client.post_call(await sdk_client.mint_token(), offer)
    assert status == 200, body
    await sdk_client.apply_answer(body)
    await sdk_client.connected()
    await sdk_client.event("session.created")


def _without_audio(sdp: str) -> str:
    head, rest = sdp.split("m=audio", 1)
    return head + "m=video" + rest.split("m=video", 1)[1]


UNANSWERABLE = {
    "malformed": lambda sdp: "v=0\r\nthis is not sdp\r\n",
    "not_sdp_at_all": lambda sdp: "hello",
    "no_audio": _without_audio,
    "audio_without_opus": lambda sdp: sdp.replace("opus/48000/2", "ISAC/16000"),
    # Passes the pre-claim checks, but aiortc finds no video codec it supports.
    "no_usable_video_codec": lambda sdp: sdp.replace("VP8/90000", "AV1X/90000").replace(
        "H264/90000", "AV1X/90000"
    ),
}


@pytest.mark.parametrize("case", sorted(UNANSWERABLE))
async def test_unanswerable_offers_are_400_on_offer_sdp_and_keep_the_token(
    emulator, sdk_client, case
):
    good = await sdk_client.offer()
    bad = UNANSWERABLE[case](good["sdp"])
    token = await sdk_client.mint_token()
    status, body = await sdk_client.post_call(token, _offer(bad))
    assert status == 400, body
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == "offer.sdp"
    assert body["error"]["message"]
    # Nothing is left running ...
    sessions = emulator.registry
    assert len(sessions) == 0 and not sessions.ended
    # ... and the token was not spent: the same one now opens a session.
    status, body = await sdk_client.post_call(token, good)
    assert status == 200, body
