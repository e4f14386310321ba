"""POST /v1/realtime/calls: authentication, validation, and the single-use claim of the token."""

from __future__ import annotations

import asyncio

import pytest

from emulator.config import Settings
from emulator.identity.tokens import LEDGER
from emulator.rtc.registry import SESSIONS
from tests.api.helpers import bearer, call_body, mint


async def test_a_valid_offer_gets_an_answer_and_a_conversation_id(api_client, offer_sdp):
    token = await mint(api_client)
    resp = await api_client.post(
        "/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(token)
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert set(body) == {"conversation_id", "answer"}
    assert body["conversation_id"]
    assert body["answer"]["type"] == "answer"
    assert body["answer"]["sdp"].startswith("v=0")
    assert body["conversation_id"] in api_client.app[SESSIONS].sessions


async def test_params_are_optional(api_client, offer_sdp):
    token = await mint(api_client)
    body = {"offer": {"sdp": offer_sdp, "type": "offer"}}
    resp = await api_client.post("/v1/realtime/calls", json=body, headers=bearer(token))
    assert resp.status == 200, await resp.text()


async def test_the_sdk_request_body_is_accepted(api_client, offer_sdp):
    """The body exactly as @orga-ai/core 1.0.0 builds it."""
    token = await mint(api_client)
    body = {
        "offer": {
            "sdp": offer_sdp,
            "type": "offer",
            "candidates": [
                {  # on loopback: a replayed candidate must never send packets off the machine
                    "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
                    "sdpMid": "0",
                    "sdpMLineIndex": 0,
                }
            ],
        },
        "params": {
            "voice": "alloy",
            "model": "orga-1-beta",
            "temperature": 0.5,
            "return_transcription": False,
            "instructions": None,
            "modalities": ["audio", "video"],
            "history": True,
        },
    }
    resp = await api_client.post("/v1/realtime/calls", json=body, headers=bearer(token))
    assert resp.status == 200, await resp.text()


async def test_a_token_opens_one_session_only(api_client, offer_sdp):
    token = await mint(api_client)
    first = await api_client.post(
        "/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(token)
    )
    assert first.status == 200
    again = await api_client.post(
        "/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(token)
    )
    assert again.status == 401
    assert (await again.json())["error"]["code"] == "invalid_ephemeral_token"
    # A consumed token is refused even before its body is read.
    bad_body = await api_client.post("/v1/realtime/calls", data=b"{", headers=bearer(token))
    assert bad_body.status == 401


async def test_fifty_concurrent_claims_have_exactly_one_winner_twenty_times(api_client, offer_sdp):
    body = call_body(offer_sdp)
    for _ in range(20):
        token = await mint(api_client)
        responses = await asyncio.gather(
            *(
                api_client.post("/v1/realtime/calls", json=body, headers=bearer(token))
                for _ in range(50)
            )
        )
        statuses = sorted(r.status for r in responses)
        assert statuses == [200] + [401] * 49
        for r in responses:
            if r.status == 401:
                assert (await r.json())["error"]["code"] == "invalid_ephemeral_token"
    assert len(api_client.app[SESSIONS]) == 20


def _offer(sdp: str, **changes) -> dict:
    return {"offer": {"sdp": sdp, "type": "offer", **changes}}


MODEL_MSG = "Input should be a valid dictionary or object to extract fields from"
UNPROCESSABLE = [
    ("empty-body", b"", {"loc": ["body"], "msg": "Field required", "type": "missing"}),
    (
        "null-offer",
        {"offer": None},
        {"loc": ["body", "offer"], "msg": "Field required", "type": "missing"},
    ),
    (
        "no-offer",
        {"params": {}},
        {"loc": ["body", "offer"], "msg": "Field required", "type": "missing"},
    ),
    ("body-is-list", [], {"loc": ["body"], "msg": MODEL_MSG, "type": "model_attributes_type"}),
    (
        "offer-is-string",
        {"offer": "v=0"},
        {"loc": ["body", "offer"], "msg": MODEL_MSG, "type": "model_attributes_type"},
    ),
    (
        "no-sdp",
        {"offer": {"type": "offer"}},
        {"loc": ["body", "offer", "sdp"], "msg": "Field required", "type": "missing"},
    ),
    (
        "no-type",
        {"offer": {"sdp": "v=0"}},
        {"loc": ["body", "offer", "type"], "msg": "Field required", "type": "missing"},
    ),
    (
        "sdp-not-string",
        {"offer": {"sdp": 5, "type": "offer"}},
        {
            "loc": ["body", "offer", "sdp"],
            "msg": "Input should be a valid string",
            "type": "string_type",
        },
    ),
    (
        "params-not-object",
        {"offer": {"sdp": "v=0", "type": "offer"}, "params": [1]},
        {"loc": ["body", "params"], "msg": MODEL_MSG, "type": "model_attributes_type"},
    ),
]


@pytest.mark.parametrize(
    "body,detail", [(b, d) for _, b, d in UNPROCESSABLE], ids=[i for i, _, _ in UNPROCESSABLE]
)
async def test_missing_parts_are_422_and_do_not_burn_the_token(api_client, offer_sdp, body, detail):
    token = await mint(api_client)
    kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
    resp = await api_client.post("/v1/realtime/calls", headers=bearer(token), **kwargs)
    assert resp.status == 422
    assert (await resp.json())["detail"][0] == detail
    assert (
        await api_client.post(
            "/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(token)
        )
    ).status == 200


@pytest.mark.parametrize("raw", [b"{", b"not json", b"\xff\xfe", b'{"offer": }'])
async def test_a_body_that_is_not_json_is_422(api_client, raw):
    token = await mint(api_client)
    resp = await api_client.post(
        "/v1/realtime/calls",
        data=raw,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert resp.status == 422
    detail = (await resp.json())["detail"][0]
    assert detail["type"] == "json_invalid" and detail["loc"] == ["body", 0]
    assert not api_client.app[LEDGER]


BAD_VALUES = [
    ("params.voice", {"voice": "robot"}),
    ("params.voice", {"voice": 3}),
    ("params.model", {"model": "gpt-4o"}),
    ("params.temperature", {"temperature": 1.5}),
    ("params.temperature", {"temperature": -0.1}),
    ("params.temperature", {"temperature": "hot"}),
    ("params.temperature", {"temperature": True}),
    ("params.modalities", {"modalities": ["audio", "smell"]}),
    ("params.modalities", {"modalities": "audio"}),
    ("params.modalities", {"modalities": ["audio", "audio"]}),
    ("params.return_transcription", {"return_transcription": "yes"}),
    ("params.instructions", {"instructions": 42}),
    ("params.history", {"history": 1}),
]


@pytest.mark.parametrize("param,params", BAD_VALUES, ids=[f"{p}={v}" for p, v in BAD_VALUES])
async def test_bad_values_are_400_with_param_and_do_not_burn_the_token(
    api_client, offer_sdp, param, params
):
    token = await mint(api_client)
    resp = await api_client.post(
        "/v1/realtime/calls", json=call_body(offer_sdp, **params), headers=bearer(token)
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]
    assert not api_client.app[LEDGER]
    assert (
        await api_client.post(
            "/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(token)
        )
    ).status == 200


async def test_offer_type_must_be_offer(api_client, offer_sdp):
    token = await mint(api_client)
    body = {"offer": {"sdp": offer_sdp, "type": "answer"}}
    resp = await api_client.post("/v1/realtime/calls", json=body, headers=bearer(token))
    assert resp.status == 400
    assert (await resp.json())["error"]["param"] == "offer.type"


@pytest.mark.parametrize(
    "sdp",
    [
        "hello",
        "v=0\r\n",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\n",
    ],
    ids=["not-sdp", "no-media", "no-audio"],
)
async def test_unusable_sdp_is_400_on_offer_sdp_and_keeps_the_token(api_client, offer_sdp, sdp):
    token = await mint(api_client)
    resp = await api_client.post(
        "/v1/realtime/calls", json={"offer": {"sdp": sdp, "type": "offer"}}, headers=bearer(token)
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["param"] == "offer.sdp"
    assert len(api_client.app[SESSIONS]) == 0
    assert (
        await api_client.post(
            "/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(token)
        )
    ).status == 200


async def test_authentication_comes_first(api_client, offer_sdp):
    resp = await api_client.post("/v1/realtime/calls", json=call_body(offer_sdp))
    assert resp.status == 403
    assert (await resp.json())["error"]["message"] == "Not authenticated"
    resp = await api_client.post(
        "/v1/realtime/calls", data=b"{", headers={"Authorization": "Token abc"}
    )
    assert resp.status == 403
    resp = await api_client.post("/v1/realtime/calls", data=b"{", headers=bearer("nope"))
    assert resp.status == 401


async def test_at_capacity_is_503_and_keeps_the_token(make_api_client, offer_sdp):
    client = await make_api_client(Settings(max_sessions=1, turn=False))
    first = await mint(client)
    assert (
        await client.post("/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(first))
    ).status == 200
    token = await mint(client)
    resp = await client.post("/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(token))
    assert resp.status == 503
    error = (await resp.json())["error"]
    assert error["code"] == "max_sessions_reached"
    assert resp.headers["Retry-After"] == "1"
    await client.app[SESSIONS].close_all()
    assert (
        await client.post("/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(token))
    ).status == 200
