"""Two emulator processes sharing one redis-server behave as one emulator: single-use tokens,
faults, scenarios, the clock, the sessions list and reset hold across them."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from tests.scale.conftest import call, control, mint, until

pytestmark = pytest.mark.slow


async def test_200_concurrent_claims_across_replicas_have_one_winner_20_times(start_replica, http):
    a, b = start_replica("--ice-timeout", "3"), start_replica("--ice-timeout", "3")
    bases = [a.base_url, b.base_url]
    for round_ in range(20):
        token = await mint(http, bases[round_ % 2])
        results = await asyncio.gather(*(call(http, bases[i % 2], token) for i in range(200)))
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] + [401] * 199, [b for s, b in results if s not in (200, 401)][:2]
        for status, body in results:
            if status == 401:
                assert body["error"]["code"] == "invalid_ephemeral_token"

    # Every winner's session ends (no peer connects: the ICE timeout ends them), on both.
    async def none_live() -> bool:
        _, listed = await control(http, "GET", a.base_url, "/sessions?state=live")
        return listed["sessions"] == []

    await until(none_live, 30, "the winners' sessions end")

    # B learns of A's ended sessions from A's next heartbeat (at most a second later).
    async def twenty_ended_on_b() -> bool:
        _, ended = await control(http, "GET", b.base_url, "/sessions?state=ended")
        return len(ended["sessions"]) == 20

    await until(twenty_ended_on_b, 5, "B lists the 20 ended sessions of both replicas")
    assert a.proc.poll() is None and b.proc.poll() is None


async def test_a_fault_rule_set_through_a_applies_on_b_and_counts_across_both(start_replica, http):
    a, b = start_replica(), start_replica()
    rule = {"fault": "http_status", "endpoint": "client-secrets", "status": 503, "times": 5}
    status, added = await control(http, "POST", a.base_url, "/faults", rule)
    assert status == 201
    rule_id = added["rules"][0]["id"]
    # The very next request on B sees it: no waiting for propagation.
    async with http.post(
        f"{b.base_url}/v1/realtime/client-secrets",
        headers={"Authorization": "Bearer sk_orga_ai_emulator_dev_key"},
    ) as resp:
        assert resp.status == 503

    # `times` holds across replicas: 40 concurrent requests over both, 4 more faults only.
    async def one(base: str) -> int:
        async with http.post(
            f"{base}/v1/realtime/client-secrets",
            headers={"Authorization": "Bearer sk_orga_ai_emulator_dev_key"},
        ) as resp:
            return resp.status

    statuses = await asyncio.gather(*(one((a, b)[i % 2].base_url) for i in range(40)))
    assert sorted(statuses) == [200] * 36 + [503] * 4
    _, listed = await control(http, "GET", b.base_url, "/faults")
    assert listed["rules"] == []  # used up
    await until(
        lambda: _applied(http, a.base_url, rule_id, 5), 10, "both replicas' faults journalled"
    )


async def _applied(http, base: str, rule_id: str, count: int) -> bool:
    _, listed = await control(http, "GET", base, "/faults")
    return [e["rule"] for e in listed["applied"]].count(rule_id) == count


async def test_a_scenario_set_through_a_is_used_by_b(start_replica, http):
    a, b = start_replica(), start_replica()
    scenario = {"scenario": {"name": "shared", "turns": [{"reply": "hi"}]}, "test_id": "t-1"}
    status, _ = await control(http, "POST", a.base_url, "/scenarios", scenario)
    assert status == 201
    _, listed = await control(http, "GET", b.base_url, "/scenarios")
    assert [s["name"] for s in listed["posted"]] == ["shared"]
    token = await mint(http, a.base_url)
    async with http.post(
        f"{a.base_url}/v1/realtime/client-secrets",
        headers={"Authorization": "Bearer sk_orga_ai_emulator_dev_key", "X-Test-Id": "t-1"},
    ) as resp:
        token = (await resp.json())["ephemeral_token"]
    status, answered = await call(http, b.base_url, token)
    assert status == 200
    _, described = await control(
        http, "GET", b.base_url, f"/sessions/{answered['conversation_id']}"
    )
    assert described["responder"] == "scenario:shared"


async def test_the_clock_advanced_through_a_expires_tokens_on_b(start_replica, http):
    a, b = start_replica(), start_replica()
    token = await mint(http, b.base_url)
    ice = f"{b.base_url}/v1/realtime/ice-config"
    async with http.get(ice, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
    status, clock = await control(http, "POST", a.base_url, "/clock", {"advance": 3600})
    assert status == 200
    async with http.get(ice, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 401
    _, on_b = await control(http, "GET", b.base_url, "/clock")
    assert on_b["now"] >= clock["now"]
    # Freezing through B holds on A too.
    _, frozen = await control(http, "POST", b.base_url, "/clock", {"freeze": True})
    _, on_a = await control(http, "GET", a.base_url, "/clock")
    assert on_a["frozen"] is True and on_a["now"] == frozen["now"]


async def test_sessions_list_covers_both_and_a_killed_replica_drops_out(start_replica, http):
    a, b = start_replica(), start_replica()
    on_a = (await call(http, a.base_url, await mint(http, a.base_url)))[1]["conversation_id"]
    on_b = (await call(http, b.base_url, await mint(http, b.base_url)))[1]["conversation_id"]

    async def listed() -> set[str]:
        _, found = await control(http, "GET", a.base_url, "/sessions?state=live")
        return {s["conversation_id"] for s in found["sessions"]}

    async def both() -> bool:
        return await listed() == {on_a, on_b}

    await until(both, 5, "A lists both replicas' sessions")
    _, found = await control(http, "GET", b.base_url, "/sessions?state=live")
    holders = {s["conversation_id"]: s["replica"] for s in found["sessions"]}
    assert holders[on_a] != holders[on_b]  # each summary names the replica that holds it
    b.stop(signal.SIGKILL)

    async def only_a() -> bool:
        return await listed() == {on_a}

    await until(only_a, 6, "the killed replica drops out within its TTL (3 s)")


async def test_reset_through_a_clears_b(start_replica, http):
    a, b = start_replica(), start_replica()
    await call(http, b.base_url, await mint(http, b.base_url))
    await control(http, "POST", a.base_url, "/faults", {"fault": "latency", "delay_ms": 1})
    status, reset = await control(http, "POST", a.base_url, "/reset", {})
    assert status == 200 and reset["closed_sessions"] == 1
    # Right after the reset returns, B has ended its session and has no rules.
    _, live = await control(http, "GET", b.base_url, "/sessions?state=live")
    assert live["sessions"] == []
    _, faults = await control(http, "GET", b.base_url, "/faults")
    assert faults["rules"] == [] and faults["applied"] == []


async def test_the_feed_and_journals_of_a_cover_requests_on_b(start_replica, http):
    a, b = start_replica(), start_replica()
    async with http.get(f"{a.base_url}/_emulator/events") as stream:
        assert stream.status == 200
        await stream.content.readline()  # the feed's opening comment: subscribed from here
        token = await mint(http, b.base_url, email="ada@example.com")
        kind, data = await _next_event(stream, "request")
        assert data["path"] == "/v1/realtime/client-secrets"
    jti = _jti(token)

    async def journalled() -> bool:
        _, tokens = await control(http, "GET", a.base_url, "/tokens")
        _, requests = await control(http, "GET", a.base_url, "/requests")
        return jti in {t["jti"] for t in tokens["tokens"]} and any(
            r["path"] == "/v1/realtime/client-secrets" for r in requests["requests"]
        )

    await until(journalled, 10, "A's journals show B's mint")
    await call(http, b.base_url, token)

    async def consumed() -> bool:
        _, tokens = await control(http, "GET", a.base_url, "/tokens?status=consumed")
        return [t["jti"] for t in tokens["tokens"]] == [jti]

    await until(consumed, 10, "A's token journal shows it consumed on B")


async def _next_event(stream, wanted: str, timeout: float = 10) -> tuple[str, dict]:
    kind = None
    async with asyncio.timeout(timeout):
        async for raw in stream.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == wanted:
                return kind, json.loads(line[6:])
    raise AssertionError(f"no {wanted} event")


def _jti(token: str) -> str:
    from emulator.identity.jws import unverified_claims

    return str(unverified_claims(token)["jti"])


async def test_a_session_fault_set_through_a_applies_once_to_a_call_on_b(start_replica, http):
    a, b = start_replica(), start_replica()
    rule = {"fault": "ice_never_connects", "times": 1}
    status, _ = await control(http, "POST", a.base_url, "/faults", rule)
    assert status == 201
    first = (await call(http, b.base_url, await mint(http, b.base_url)))[1]["conversation_id"]
    second = (await call(http, a.base_url, await mint(http, a.base_url)))[1]["conversation_id"]
    _, faulted = await control(http, "GET", b.base_url, f"/sessions/{first}")
    _, spared = await control(http, "GET", a.base_url, f"/sessions/{second}")
    assert [f["fault"] for f in faulted["faults"]] == ["ice_never_connects"]
    assert spared["faults"] == []
