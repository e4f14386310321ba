"""docker-compose.replicas.yml in a real Docker engine: two emulator replicas behind haproxy on one
published port, sharing Redis, the signing secret and the TURN secret, behave as one emulator.

The stack is conftest.py's, for this file (test_engine.py's calls and Node SDK run against it
too). Everything goes through the load balancer, as a user's would; which replica answered is
told by haproxy's `X-Orga-Replica` header, and which replica holds a session by the RTC port its
peer uses (each replica has its own slice). `docker-compose down -v` must leave nothing (checked
at teardown).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from emulator.config import DEV_API_KEY
from emulator.testing.client import OrgaClient
from tests.e2e.browser.relay import turn_entry
from tests.e2e.compose.conftest import REPLICAS, Stack, stack_ports
from tests.e2e.compose.engine import ComposeProject, docker
from tests.e2e.compose.test_engine import _speak_and_hear
from tests.kit.offers import offer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.compose_files(REPLICAS)]

REPLICA = "X-Orga-Replica"  # set by deploy/compose/haproxy.cfg: the server that answered
BOTH = {"emulator-a", "emulator-b"}
SLICES = {"ORGA_RTC_PORTS_A": "emulator-a", "ORGA_RTC_PORTS_B": "emulator-b"}
SECRET_DIR = "/var/lib/orga-emulator/secret"
CALL_BODY = {"offer": offer("chromium-sdk-layout")}
CLAIMS, ROUNDS = 200, 5


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[aiohttp.ClientSession]:
    """A client of the load balancer; the shared state is reset before each test."""
    async with aiohttp.ClientSession(
        stack.base_url, connector=aiohttp.TCPConnector(limit=0)
    ) as session:
        status, _, _ = await _control(session, stack, "POST", "/reset", {})
        assert status == 200
        yield session


async def _control(
    http: aiohttp.ClientSession, stack: Stack, method: str, path: str, body: Any = None
) -> tuple[int, Any, str]:
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    async with http.request(method, f"/_emulator{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers.get(REPLICA, "")


async def _mint(http: aiohttp.ClientSession, email: str = "r@example.com") -> tuple[str, str]:
    """A token, and the replica that minted it."""
    async with http.post(
        "/v1/realtime/client-secrets",
        params={"email": email},
        headers={"Authorization": f"Bearer {DEV_API_KEY}"},
    ) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["ephemeral_token"], resp.headers[REPLICA]


async def _call(http: aiohttp.ClientSession, token: str) -> tuple[int, dict[str, Any], str]:
    async with http.post(
        "/v1/realtime/calls", json=CALL_BODY, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        return resp.status, await resp.json(), resp.headers.get(REPLICA, "")


def _replica_of_port(stack: Stack, port: int) -> str:
    (replica,) = [
        SLICES[var] for var, (low, high) in stack.rtc_slices.items() if low <= port <= high
    ]
    return replica


def _secret(cid: str, name: str) -> tuple[str, str]:
    """A secret file's content, and its mode and owner."""
    path = f"{SECRET_DIR}/{name}"
    content = docker("exec", cid, "cat", path).stdout.strip()
    return content, docker("exec", cid, "stat", "-c", "%a %u", path).stdout.strip()


async def test_all_healthy_sharing_both_secrets_and_a_token_minted_on_one_works_on_the_other(
    stack: Stack, http
):
    containers = stack.project.containers()
    assert set(containers) == {"redis", "turn", "lb", *BOTH}
    for service, cid in containers.items():
        state = ComposeProject.inspect(cid)["State"]
        assert state["Health"]["Status"] == "healthy", (service, state["Health"])
    users = {s: docker("exec", cid, "id", "-un").stdout.strip() for s, cid in containers.items()}
    assert users == {
        "redis": "redis",
        "lb": "haproxy",
        "turn": "orga",
        **dict.fromkeys(BOTH, "orga"),
    }

    turn = {s: _secret(containers[s], "turn-secret") for s in ("turn", *BOTH)}
    signing = {s: _secret(containers[s], "signing-secret") for s in BOTH}
    for found in (turn, signing):
        (only,) = set(found.values())  # one secret, shared
        assert len(only[0]) >= 32 and only[1] == "600 10001"
    assert turn["turn"][0] != signing["emulator-a"][0]

    # Minted on one replica, the token is honoured by the other (ice-config, which spends
    # nothing); round-robin sends the next request to the other one.
    token, minted_on = await _mint(http)
    async with http.get(
        "/v1/realtime/ice-config", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert {minted_on, resp.headers[REPLICA]} == BOTH


async def test_200_concurrent_claims_through_the_lb_have_one_winner_each_round(stack: Stack, http):
    winners = []
    for _ in range(ROUNDS):
        token, _ = await _mint(http)
        results = await asyncio.gather(*(_call(http, token) for _ in range(CLAIMS)))
        statuses = sorted(status for status, _, _ in results)
        assert statuses == [200] + [401] * (CLAIMS - 1), [r for r in results if r[0] != 401][:2]
        assert all(
            body["error"]["code"] == "invalid_ephemeral_token"
            for status, body, _ in results
            if status == 401
        )
        assert {replica for _, _, replica in results} == BOTH  # both replicas were claiming
        winners += [body["conversation_id"] for status, body, _ in results if status == 200]
    # Every winner's session, whichever replica holds it, is on the list either replica serves
    # (a replica hears of the other's sessions at its next heartbeat, within a second): two
    # reads in a row through the round-robin list them all.
    deadline, agreeing = time.monotonic() + 5, 0
    while agreeing < 2:
        _, listed, _ = await _control(http, stack, "GET", "/sessions")
        missing = set(winners) - {s["conversation_id"] for s in listed["sessions"]}
        agreeing = 0 if missing else agreeing + 1
        assert not missing or time.monotonic() < deadline, missing
        if missing:
            await asyncio.sleep(0.05)


async def test_a_fault_rule_set_through_the_lb_applies_on_both_replicas(stack: Stack, http):
    tokens = [(await _mint(http))[0] for _ in range(3)]
    rule = {"fault": "http_status", "endpoint": "calls", "status": 503, "times": 2}
    status, added, _ = await _control(http, stack, "POST", "/faults", rule)
    assert status == 201, added
    results = [await _call(http, token) for token in tokens]
    assert [status for status, _, _ in results] == [503, 503, 200], results
    assert {replica for _, _, replica in results[:2]} == BOTH
    _, listed, _ = await _control(http, stack, "GET", "/faults")
    assert listed["rules"] == []  # used up: `times` counted across both


async def test_relay_only_calls_reach_sessions_on_both_replicas(stack: Stack, http):
    """UDP relays through the one turn service; two consecutive calls land on the two replicas
    (round-robin), and both sessions are on the list whichever replica serves it."""
    served: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as clients:
        for _ in range(2):
            client = await clients.enter_async_context(OrgaClient(stack.base_url, DEV_API_KEY))
            config = await client.get_session_config()
            turn = turn_entry(config.ice_servers, "udp")
            conversation = await client.connect(
                relay_only=True, ice_servers=[turn], return_transcription=True
            )
            local, remote = client.selected_candidate_pair()
            assert local.type == "relay" and remote.host == "127.0.0.1", (local, remote)
            transcript, reply = await _speak_and_hear(client)
            assert transcript and reply
            served[_replica_of_port(stack, remote.port)] = conversation
        assert set(served) == BOTH, served
        answered_by = set()
        for _ in range(2):
            _, listed, replica = await _control(http, stack, "GET", "/sessions?state=live")
            answered_by.add(replica)
            assert {s["conversation_id"] for s in listed["sessions"]} == set(served.values())
        assert answered_by == BOTH


async def test_the_live_feed_through_the_lb_is_not_buffered_and_covers_both(stack: Stack, http):
    async with http.get("/_emulator/events", params={"access_token": stack.admin_token}) as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        async with asyncio.timeout(5):  # the opening comment, flushed at once
            assert (await stream.content.readline()).startswith(b":")
        minted = {}  # request id -> the replica that served it
        for _ in range(2):
            async with http.post(
                "/v1/realtime/client-secrets", headers={"Authorization": f"Bearer {DEV_API_KEY}"}
            ) as resp:
                assert resp.status == 200
                minted[resp.headers["X-Request-Id"]] = resp.headers[REPLICA]
        assert set(minted.values()) == BOTH
        seen: set[str] = set()
        kind = None
        async with asyncio.timeout(10):  # each event as it comes: nothing held back
            async for raw in stream.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "request":
                    seen.add(json.loads(line[6:])["request_id"])
                    if set(minted) <= seen:
                        break
        assert set(minted) <= seen


async def test_the_control_plane_through_the_lb_wants_the_admin_token(stack: Stack, http):
    for _ in range(2):  # both replicas
        async with http.get("/_emulator/sessions") as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "invalid_admin_token"


def test_the_replicas_refuse_a_short_signing_secret(stack: Stack):
    """Both replicas stop with exit code 78 and the stack serves nothing. `up`'s own exit code
    is not the check: docker-compose 1.29 counts a dependency that has already exited as
    healthy (Service.is_healthy looks at running containers only), so it may start the load
    balancer and succeed."""
    env = {**stack_ports(REPLICAS), "ORGA_SIGNING_SECRET": "short"}
    project = ComposeProject(stack.project.file, env)
    try:
        project.run("up", "-d", timeout=180, check=False)
        containers = project.containers()
        for replica in BOTH:
            deadline = time.monotonic() + 30
            while (state := ComposeProject.inspect(containers[replica])["State"])["Running"]:
                assert time.monotonic() < deadline, (replica, state)
                time.sleep(0.2)
            assert state["ExitCode"] == 78, (replica, state)
            logs = docker("logs", containers[replica]).stderr
            assert "ORGA_SIGNING_SECRET is 5 characters; it needs at least 16" in logs
        url = f"http://127.0.0.1:{env['ORGA_HTTP_PORT']}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                pytest.fail(f"{url} answered {resp.status} with no replica")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503  # haproxy: no server available
        except OSError:
            pass  # the load balancer never started: nothing listens
    finally:
        project.down()
    assert project.leftovers() == {"containers": [], "networks": [], "volumes": []}
