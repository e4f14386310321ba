"""HTTP and token faults, observed by the SDK-like client and by plain aiohttp."""

from __future__ import annotations

import time

import aiohttp
import pytest

from emulator.config import DEV_API_KEY
from emulator.testing.client import OrgaHTTPError

pytestmark = pytest.mark.timeout(60)

KEY = {"Authorization": f"Bearer {DEV_API_KEY}"}


async def add_fault(emulator, **rule) -> dict:
    return (await emulator.control("POST", "/faults", json=rule, expect=201))["rules"][0]


async def test_a_status_on_calls_with_the_contract_envelope_then_recovery(
    emulator, make_sdk_client
):
    rule = await add_fault(emulator, fault="http_status", endpoint="calls", status=503, times=1)
    client = make_sdk_client(emulator)
    with pytest.raises(OrgaHTTPError) as failed:
        await client.connect()
    assert failed.value.status == 503
    assert set(failed.value.body["error"]) == {"message", "type", "param", "code"}
    assert failed.value.body["error"]["type"] == "service_unavailable_error"
    # The rule was for one request; the same (unburnt) token now opens a session.
    conversation_id = await client.connect()
    assert conversation_id in emulator.registry.sessions
    listed = await emulator.control("GET", "/faults")
    assert listed["rules"] == []
    assert [(a["rule"], a["endpoint"]) for a in listed["applied"]] == [(rule["id"], "calls")]
    calls = (await emulator.control("GET", "/requests?path=/v1/realtime/calls"))["requests"]
    assert [(c["status"], c["fault"]) for c in calls] == [(503, rule["id"]), (200, None)]


async def test_a_401_on_client_secrets_is_the_nested_envelope(emulator):
    await add_fault(emulator, fault="http_status", endpoint="client-secrets", status=401, times=1)
    resp = await emulator.http.post("/v1/realtime/client-secrets?email=a@example.com", headers=KEY)
    assert resp.status == 401
    inner = (await resp.json())["error"]["message"]["error"]
    assert inner["message"] == "Incorrect or inactive API key provided."
    resp = await emulator.http.post("/v1/realtime/client-secrets?email=a@example.com", headers=KEY)
    assert resp.status == 200


async def test_custom_message_and_code(emulator):
    await add_fault(
        emulator, fault="http_status", endpoint="*", status=429, message="Slow down.", code="rl"
    )
    resp = await emulator.http.post("/v1/realtime/client-secrets?email=a@example.com", headers=KEY)
    assert resp.status == 429
    assert (await resp.json())["error"] == {
        "message": "Slow down.",
        "type": "invalid_request_error",
        "param": None,
        "code": "rl",
    }
    assert resp.headers["X-Request-Id"]  # the middleware still dresses an injected error
    await emulator.control("DELETE", "/faults")
    resp = await emulator.http.post("/v1/realtime/client-secrets?email=a@example.com", headers=KEY)
    assert resp.status == 200


async def test_added_latency(emulator):
    token = await emulator.mint()
    await add_fault(emulator, fault="latency", endpoint="ice-config", delay_ms=400, times=1)
    auth = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    resp = await emulator.http.get("/v1/realtime/ice-config", headers=auth)
    assert resp.status == 200 and time.monotonic() - started >= 0.4
    entry = (await emulator.control("GET", "/requests?path=/v1/realtime/ice-config"))["requests"]
    assert entry[-1]["latency_ms"] >= 400


async def test_connection_reset_then_recovery(emulator):
    await add_fault(emulator, fault="connection_reset", endpoint="client-secrets", times=1)
    url = emulator.base_url + "/v1/realtime/client-secrets?email=a@example.com"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.post(url, headers=KEY) as resp:
                await resp.read()
        async with http.post(url, headers=KEY) as resp:
            assert resp.status == 200
    entries = (await emulator.control("GET", "/requests"))["requests"]
    assert [e["status"] for e in entries] == [499, 200]


async def test_an_answer_later_than_the_client_waits_opens_no_session(
    emulator, make_sdk_client, feed
):
    # The SDK gives up after 10 s; here the client gives up after 0.3 s and the answer would
    # come after 1 s: the same race, scaled down.
    await add_fault(emulator, fault="slow_answer", endpoint="calls", delay_ms=1000, times=1)
    client = make_sdk_client(emulator)
    config = await client.get_session_config()
    async with aiohttp.ClientSession() as http:
        with pytest.raises(TimeoutError):
            await http.post(
                emulator.base_url + "/v1/realtime/calls",
                json={"offer": {"sdp": "v=0", "type": "offer"}},
                headers={"Authorization": f"Bearer {config.ephemeral_token}"},
                timeout=aiohttp.ClientTimeout(total=0.3),
            )
    dropped = await feed.wait(
        lambda e: e["type"] == "request" and e["path"] == "/v1/realtime/calls", timeout=5
    )
    assert dropped["status"] == 499
    assert len(emulator.registry) == 0
    # The token was not burnt by the abandoned attempt.
    assert await client.connect()


async def test_token_faults_scoped_to_an_email(emulator, make_sdk_client):
    await add_fault(emulator, fault="invalid_token", endpoint="calls", email="eve@example.com")
    eve, bob = (
        make_sdk_client(emulator, "eve@example.com"),
        make_sdk_client(emulator, "bob@example.com"),
    )
    with pytest.raises(OrgaHTTPError) as failed:
        await eve.connect()
    assert failed.value.status == 401
    assert failed.value.body["error"]["code"] == "invalid_ephemeral_token"
    assert await bob.connect()


async def test_a_token_treated_as_expired(emulator):
    token = await emulator.mint()
    other = await emulator.mint()
    await add_fault(emulator, fault="expired_token", token=token)
    for bearer, status in ((token, 401), (other, 200)):
        resp = await emulator.http.get(
            "/v1/realtime/ice-config", headers={"Authorization": f"Bearer {bearer}"}
        )
        assert resp.status == status
    assert (await resp.json())["iceServers"] == []


async def test_scoped_to_a_test_id_and_to_an_api_key(make_emulator):
    other_key = "sk_orga_ai_other_key_0001"
    emulator = await make_emulator(api_keys=(DEV_API_KEY, other_key))
    await add_fault(
        emulator, fault="http_status", endpoint="client-secrets", status=500, test_id="flaky"
    )
    await add_fault(
        emulator, fault="http_status", endpoint="client-secrets", status=502, api_key=other_key
    )
    url = "/v1/realtime/client-secrets?email=a@example.com"
    assert (await emulator.http.post(url, headers={**KEY, "X-Test-Id": "flaky"})).status == 500
    assert (await emulator.http.post(url, headers={**KEY, "X-Test-Id": "steady"})).status == 200
    other = {"Authorization": f"Bearer {other_key}"}
    assert (await emulator.http.post(url, headers=other)).status == 502


async def test_invalid_rules_are_refused_naming_the_field(emulator):
    for rule, param in (
        ({"fault": "nope"}, "fault"),
        ({"fault": "http_status"}, "status"),
        ({"fault": "http_status", "status": 200}, "status"),
        ({"fault": "latency", "delay_ms": 5, "endpoint": "x"}, "endpoint"),
        ({"fault": "packet_loss", "percent": 120}, "percent"),
        ({"fault": "hangup", "probability": 2}, "probability"),
        ({"fault": "hangup", "colour": "red"}, "colour"),
    ):
        body = await emulator.control("POST", "/faults", json=rule, expect=400)
        assert body["error"]["param"] == param, (rule, body)
    assert (await emulator.control("GET", "/faults"))["rules"] == []
