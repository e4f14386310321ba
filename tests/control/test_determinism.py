"""--seed replays ids, text and fault dice; the clock drives expiry without sleeping."""

from __future__ import annotations

import pytest

from emulator.config import DEV_API_KEY

pytestmark = pytest.mark.timeout(60)

KEY = {"Authorization": f"Bearer {DEV_API_KEY}"}


async def _run(emulator, make_sdk_client) -> dict:
    """The same sequence of operations; what a seed must make identical."""
    await emulator.control(
        "POST",
        "/faults",
        expect=201,
        json={
            "fault": "http_status",
            "endpoint": "client-secrets",
            "status": 500,
            "probability": 0.5,
            "email": "dice@example.com",
        },
    )
    dice = []
    for _ in range(16):
        resp = await emulator.http.post(
            "/v1/realtime/client-secrets?email=dice@example.com", headers=KEY
        )
        dice.append(resp.status)
    client = make_sdk_client(emulator)
    conversation_id = await client.connect()
    created = await client.next_event("session.created")
    conversation = await client.next_event("conversation.created")
    session = emulator.registry.sessions[conversation_id]
    from emulator.ai.responder import UserTurn
    from emulator.ai.vad import Utterance

    words = session.assistant.responder.respond(UserTurn(1, Utterance()))
    tokens = (await emulator.control("GET", "/tokens"))["tokens"]
    return {
        "dice": dice,
        "conversation_id": conversation_id,
        "session_id": created["session"]["id"],
        "event_ids": [created["event_id"], conversation["event_id"]],
        "jtis": [t["jti"] for t in tokens],
        "text": (words.transcript, words.text),
    }


async def test_the_same_seed_replays_the_same_run(make_emulator, make_sdk_client):
    one = await _run(await make_emulator(seed=7), make_sdk_client)
    two = await _run(await make_emulator(seed=7), make_sdk_client)
    other = await _run(await make_emulator(seed=8), make_sdk_client)
    assert one == two
    assert 0 < one["dice"].count(500) < 16  # the dice did roll
    for key in ("conversation_id", "session_id", "jtis", "text"):
        assert one[key] != other[key], key


async def test_advancing_the_clock_expires_tokens_without_sleeping(make_emulator):
    emulator = await make_emulator(token_ttl=60)
    before = await emulator.control("POST", "/clock", json={"freeze": True})
    assert before["frozen"] is True
    token = await emulator.mint()
    auth = {"Authorization": f"Bearer {token}"}
    assert (await emulator.http.get("/v1/realtime/ice-config", headers=auth)).status == 200
    after = await emulator.control("POST", "/clock", json={"advance": 61})
    assert after["now"] == pytest.approx(before["now"] + 61)
    resp = await emulator.http.get("/v1/realtime/ice-config", headers=auth)
    assert resp.status == 401
    assert (await resp.json())["error"]["message"] == "Invalid ephemeral token"
    thawed = await emulator.control("POST", "/clock", json={"freeze": False})
    assert thawed["frozen"] is False and thawed["now"] >= after["now"]
    assert (await emulator.control("GET", "/clock"))["now"] >= after["now"]
    body = await emulator.control("POST", "/clock", json={"advance": -1}, expect=400)
    assert body["error"]["param"] == "advance"
