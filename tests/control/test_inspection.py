"""Inspection: the request journal, tokens, X-Test-Id attribution, sessions, reset, admin auth."""

from __future__ import annotations

import pytest

from emulator.config import DEV_API_KEY
from emulator.control.journal import PATH_KEPT
from emulator.rtc.inspection import summarize
from emulator.testing.client import SessionConfig

pytestmark = pytest.mark.timeout(60)


async def test_requests_are_journalled_and_filtered_by_test_id(emulator):
    await emulator.mint(test_id="suite::a")
    await emulator.mint(test_id="suite::b")
    resp = await emulator.http.get("/v1/realtime/ice-config", headers={"X-Test-Id": "suite::a"})
    assert resp.status == 403
    mine = (await emulator.control("GET", "/requests?test_id=suite::a"))["requests"]
    assert [(e["method"], e["path"], e["status"]) for e in mine] == [
        ("POST", "/v1/realtime/client-secrets", 200),
        ("GET", "/v1/realtime/ice-config", 403),
    ]
    assert all(e["latency_ms"] >= 0 and e["request_id"] for e in mine)
    everything = (await emulator.control("GET", "/requests"))["requests"]
    assert len(everything) == 3  # control-plane requests are not journalled


async def test_a_long_path_is_journalled_cut_short(emulator):
    # 1,000 entries of 8 KB paths would keep 8 MB; the journal keeps a bounded prefix.
    long_path = "/v1/" + "a" * 8000
    resp = await emulator.http.get(long_path)
    assert resp.status == 404
    (entry,) = (await emulator.control("GET", "/requests"))["requests"]
    assert entry["path"].startswith("/v1/aaa") and entry["path"].endswith("…")
    assert len(entry["path"]) == PATH_KEPT + 1


async def test_tokens_minted_consumed_and_expired(emulator, make_sdk_client):
    await emulator.control("POST", "/clock", json={"freeze": True})
    expiring = await emulator.mint("old@example.com", test_id="t1")
    client = make_sdk_client(emulator)
    conversation_id = await client.connect()
    tokens = {t["email"]: t for t in (await emulator.control("GET", "/tokens"))["tokens"]}
    assert tokens["old@example.com"]["status"] == "live"
    assert tokens["old@example.com"]["test_id"] == "t1"
    assert tokens["tester@example.com"]["status"] == "consumed"
    assert tokens["tester@example.com"]["conversation_id"] == conversation_id
    await emulator.control("POST", "/clock", json={"advance": 901})
    expired = (await emulator.control("GET", "/tokens?status=expired"))["tokens"]
    assert [t["email"] for t in expired] == ["old@example.com"]
    resp = await emulator.http.get(
        "/v1/realtime/ice-config", headers={"Authorization": f"Bearer {expiring}"}
    )
    assert resp.status == 401


async def test_a_session_is_described_and_attributed_to_its_test(emulator, make_sdk_client):
    client = make_sdk_client(emulator, "ada@example.com")
    token = await emulator.mint("ada@example.com", test_id="suite::call")
    ice = await emulator.http.get(
        "/v1/realtime/ice-config", headers={"Authorization": f"Bearer {token}"}
    )
    client.config = SessionConfig(token, (await ice.json())["iceServers"])
    conversation_id = await client.connect(voice="ash")
    await client.next_event("conversation.created")
    client.update_session(voice="nova")
    await client.next_event("session.updated")
    client.send_text("hello")
    await client.next_event("response.output_item.done")

    listed = (await emulator.control("GET", "/sessions?test_id=suite::call"))["sessions"]
    assert [s["conversation_id"] for s in listed] == [conversation_id]
    state = await emulator.control("GET", f"/sessions/{conversation_id}")
    assert listed == [summarize(state)]  # the list line is the description's, made cheaply
    assert state["state"] == "connected"
    assert state["token"]["email"] == "ada@example.com"
    assert state["token"]["test_id"] == "suite::call"
    assert state["token"]["jti"].startswith("tok_")
    assert [h["params"]["voice"] for h in state["params_history"]] == ["ash", "nova"]
    assert state["sdp"]["offer"].startswith("v=0") and "a=fingerprint" in state["sdp"]["answer"]
    pair = state["selected_candidate_pair"]
    assert pair["local"]["protocol"] == "udp" and pair["remote"]["port"] > 0
    assert state["tracks"]["audio"]["out"]["packets"] > 0
    directions = {
        (e["direction"], e["event"].get("type") or e["event"].get("event")) for e in state["events"]
    }
    assert ("in", "session.update") in directions
    assert ("out", "response.output_item.done") in directions
    assert all(isinstance(e["at"], float) for e in state["events"])
    # The journal attributes the browser's /calls (no header) to the test, via the token.
    calls = (await emulator.control("GET", "/requests?test_id=suite::call"))["requests"]
    assert [e["path"] for e in calls][-1] == "/v1/realtime/calls"
    assert calls[-1]["conversation_id"] == conversation_id

    await client.hangup()
    ended = await emulator.ended(conversation_id)
    assert ended["state"] == "closed" and ended["end_reason"] == "peer_closed"
    assert ended["selected_candidate_pair"] == pair


async def test_reset_closes_every_session_and_clears_the_journals(emulator, make_sdk_client):
    clients = [make_sdk_client(emulator, f"u{i}@example.com") for i in range(2)]
    for client in clients:
        await client.connect()
    await emulator.control("POST", "/faults", json={"fault": "latency", "delay_ms": 1}, expect=201)
    result = await emulator.control("POST", "/reset", json={})
    assert result == {"closed_sessions": 2, "live_sessions": 0}
    assert len(emulator.registry) == 0
    assert (await emulator.control("GET", "/sessions"))["sessions"] == []
    assert (await emulator.control("GET", "/requests"))["requests"] == []
    assert (await emulator.control("GET", "/tokens"))["tokens"] == []
    assert (await emulator.control("GET", "/faults"))["rules"] == []
    # And the emulator goes on serving.
    again = make_sdk_client(emulator, "after@example.com")
    assert await again.connect()


async def test_unknown_session_is_a_404_in_the_contract_envelope(emulator):
    body = await emulator.control("GET", "/sessions/conv_nope", expect=404)
    assert body["error"]["code"] == "session_not_found"
    assert body["error"]["type"] == "not_found_error"


async def test_off_loopback_the_control_plane_needs_the_admin_token(make_emulator):
    closed = await make_emulator(host="0.0.0.0")
    body = await closed.control("GET", "/sessions", expect=403)
    assert body["error"]["code"] == "admin_token_required"

    guarded = await make_emulator(host="0.0.0.0", admin_token="s3cret")
    assert (await guarded.control("GET", "/clock", expect=401))["error"]["code"] == (
        "invalid_admin_token"
    )
    await guarded.control("GET", "/clock", expect=401, headers={"Authorization": "Bearer nope"})
    ok = await guarded.control("GET", "/clock", headers={"Authorization": "Bearer s3cret"})
    assert "now" in ok
    await guarded.control("GET", "/clock?access_token=s3cret")
    # The API itself is unaffected.
    resp = await guarded.http.post(
        "/v1/realtime/client-secrets?email=a@example.com",
        headers={"Authorization": f"Bearer {DEV_API_KEY}"},
    )
    assert resp.status == 200
