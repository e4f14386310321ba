"""`--workers N`, as real processes: the supervisor, its workers on one port, one TURN server,
restarts after a crash, and SIGTERM that ends every worker's sessions."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from emulator.config import DEV_API_KEY
from emulator.process.worker import WORKER_HEADER
from emulator.testing.client import OrgaClient
from emulator.testing.process import EmulatorProcess, start_emulator
from tests.kit.offers import offer

pytestmark = pytest.mark.slow

Start = Callable[..., EmulatorProcess]


# --- what the kernel says about the processes ---------------------------------------------------


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def listeners(port: int, proto: str) -> set[int]:
    """The pids with a socket on `port`: listening (TCP) or bound (UDP)."""
    inodes: set[str] = set()
    for table in (f"/proc/net/{proto}", f"/proc/net/{proto}6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            listening = proto == "udp" or fields[3] == "0A"
            if local_port == port and listening:
                inodes.add(fields[9])
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                target = os.readlink(f"/proc/{entry}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    pids.add(int(entry))
        except OSError:
            continue
    return pids


def workers_of(process: EmulatorProcess) -> list[int]:
    return children(process.pid)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def workers(emulator_process: Start) -> Iterator[Start]:
    """`workers(n, *args)`: an emulator with n workers; its workers are gone after the test."""
    started: list[EmulatorProcess] = []

    def start(count: int = 2, *args: str) -> EmulatorProcess:
        process = emulator_process("--workers", str(count), "--turn-port", "0", *args)
        started.append(process)
        pids = workers_of(process)
        assert len(pids) == count, (pids, process.text())
        process.worker_pids = pids  # type: ignore[attr-defined]
        return process

    yield start
    for process in started:
        pids = children(process.pid)
        process.kill()
        for pid in pids:  # they stop on their own once the supervisor is gone
            wait_for(lambda pid=pid: not os.path.exists(f"/proc/{pid}"), 10, f"worker {pid}")


async def served_by(base_url: str, count: int) -> dict[str, int]:
    """Which worker answered each of `count` requests, each on a new connection."""
    seen: dict[str, int] = {}
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(count):
            async with http.get(base_url + "/healthz") as resp:
                assert resp.status == 200
                worker = resp.headers[WORKER_HEADER]
                seen[worker] = seen.get(worker, 0) + 1
    return seen


# --- one port, every worker -------------------------------------------------------------------


def test_two_workers_answer_on_one_port(workers):
    process = workers(2)
    seen = asyncio.run(served_by(process.base_url, 100))
    pids = {int(value.split("pid=")[1]) for value in seen}
    assert pids == set(process.worker_pids), seen
    assert {value.split()[0] for value in seen} == {"0", "1"}
    assert listeners(process.port, "tcp") == set(process.worker_pids)
    assert "workers: 2" in process.startup_line


def test_turn_runs_once_in_worker_zero(workers):
    process = workers(2)
    turn_port = int(process.startup_line.split("TURN: turn:")[1].split()[0].rsplit(":", 1)[1])
    first = process.worker_pids[0]
    assert listeners(turn_port, "udp") == {first}
    assert listeners(turn_port, "tcp") == {first}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_relay_only_call_works_on_each_worker(workers, transport):
    """ice-config from any worker names the one TURN server, its credentials valid there (one
    --turn-secret), and a relay-only call reaches its session whichever worker holds it."""
    process = workers(2, "--echo-mode", "live")

    async def relay_call(http: aiohttp.ClientSession) -> str:
        client = OrgaClient(process.base_url, http=http)
        config = await client.get_session_config()
        turn = next(s for s in config.ice_servers if s["urls"][0].startswith("turn:"))
        url = next(u for u in turn["urls"] if u.endswith(f"transport={transport}"))
        client.prepare([{**turn, "urls": [url]}], relay_only=True)
        token = config.ephemeral_token
        async with http.post(
            process.base_url + "/v1/realtime/calls",
            json={"offer": await client.offer()},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 200, await resp.text()
            worker = resp.headers[WORKER_HEADER].split()[0]
            body = await resp.json()
        try:
            await client.apply_answer(body)
            await client.event("conversation.created", timeout=15)
            local, _ = client.selected_candidate_pair()
            assert local.type == "relay"
            client.send_text("through the relay")
            reply = await client.next_event("response.output_item.done", timeout=15)
            assert reply["text"] == "through the relay"
        finally:
            await client.hangup()
        return worker

    async def calls() -> set[str]:
        served: set[str] = set()
        connector = aiohttp.TCPConnector(force_close=True)  # each request may reach any worker
        async with aiohttp.ClientSession(connector=connector) as http:
            for _ in range(12):
                served.add(await relay_call(http))
                if served == {"0", "1"}:
                    break
        return served

    assert asyncio.run(calls()) == {"0", "1"}


# --- single use across workers ----------------------------------------------------------------


@pytest.mark.parametrize("state", ["local", "redis"])
def test_two_hundred_concurrent_claims_have_one_winner_twenty_times(workers, request, state):
    """One token, 200 concurrent /calls spread over both workers: exactly one session. With
    the supervisor's local state (no --state), and with --state redis://."""
    extra = ["--state", request.getfixturevalue("redis_server").url] if state == "redis" else []
    process = workers(2, "--no-turn", "--max-sessions", "40", *extra)
    body = {"offer": offer("chromium-sdk-layout")}

    async def rounds() -> None:
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            client = OrgaClient(process.base_url, http=http)
            for _ in range(20):
                token = await client.mint_token()

                async def claim(token: str = token) -> tuple[int, str]:
                    async with http.post(
                        process.base_url + "/v1/realtime/calls",
                        json=body,
                        headers={"Authorization": f"Bearer {token}"},
                    ) as resp:
                        await resp.read()
                        return resp.status, resp.headers[WORKER_HEADER].split()[0]

                results = await asyncio.gather(*(claim() for _ in range(200)))
                statuses = sorted(status for status, _ in results)
                assert statuses == [200] + [401] * 199, statuses
                assert {worker for _, worker in results} == {"0", "1"}

    asyncio.run(rounds())


def test_two_workers_and_two_replicas_on_one_redis_have_one_winner_twenty_times(
    workers, redis_server
):
    """The issue's race across processes: a supervisor's 2 workers plus 2 separate replicas on
    one redis-server; 200 concurrent /calls of one token spread over all of them, 20 rounds."""
    shared = ["--state", redis_server.url, "--signing-secret", "s" * 32, "--turn-secret", "t" * 16]
    supervised = workers(2, "--no-turn", "--max-sessions", "40", *shared)
    replicas = [
        start_emulator("--no-turn", "--max-sessions", "40", "--log-level", "warning", *shared)
        for _ in range(2)
    ]
    try:
        bases = [supervised.base_url, supervised.base_url] + [r.base_url for r in replicas]
        body = {"offer": offer("chromium-sdk-layout")}

        async def rounds() -> set[str]:
            answered: set[str] = set()
            connector = aiohttp.TCPConnector(force_close=True, limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                for round_ in range(20):
                    token = await OrgaClient(bases[round_ % 4], http=http).mint_token()

                    async def claim(base: str, token: str = token) -> tuple[int, str]:
                        async with http.post(
                            base + "/v1/realtime/calls",
                            json=body,
                            headers={"Authorization": f"Bearer {token}"},
                        ) as resp:
                            await resp.read()
                            worker = resp.headers.get(WORKER_HEADER, "").split()[:1]
                            return resp.status, base + "#" + "".join(worker)

                    results = await asyncio.gather(*(claim(bases[i % 4]) for i in range(200)))
                    statuses = sorted(status for status, _ in results)
                    assert statuses == [200] + [401] * 199, (round_, statuses[:3])
                    answered |= {who for _, who in results}
            return answered

        answered = asyncio.run(rounds())
        # Claims reached both workers and both replicas.
        assert {f"{supervised.base_url}#0", f"{supervised.base_url}#1"} <= answered
        assert {f"{r.base_url}#" for r in replicas} <= answered
    finally:
        for replica in replicas:
            replica.kill()


# --- one control plane -------------------------------------------------------------------------


async def open_sessions_on_both(base_url: str, http: aiohttp.ClientSession) -> list[OrgaClient]:
    """SDK-like clients, each /calls on a new connection, until both workers hold a session."""
    clients: list[OrgaClient] = []
    on: set[str] = set()
    while on != {"0", "1"} and len(clients) < 16:
        client = OrgaClient(base_url, http=http)
        clients.append(client)
        client.prepare([])
        token = await client.mint_token()
        async with http.post(
            base_url + "/v1/realtime/calls",
            json={"offer": await client.offer()},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 200, await resp.text()
            on.add(resp.headers[WORKER_HEADER].split()[0])
            await client.apply_answer(await resp.json())
        await client.event("conversation.created")
    assert on == {"0", "1"}
    return clients


def test_the_control_plane_of_one_worker_is_every_workers(workers):
    """Without --state: a fault rule posted to one worker applies on both, the sessions list
    shows both workers' sessions, and a reset through one ends the sessions of both."""
    process = workers(2, "--no-turn")
    url = process.base_url

    async def scenario() -> None:
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            rule = {"fault": "http_status", "endpoint": "client-secrets", "status": 503}
            async with http.post(url + "/_emulator/faults", json=rule) as resp:
                assert resp.status == 201, await resp.text()
            failed_on = set()
            for _ in range(40):
                async with http.post(
                    url + "/v1/realtime/client-secrets?email=a@example.com",
                    headers={"Authorization": f"Bearer {DEV_API_KEY}"},
                ) as resp:
                    assert resp.status == 503
                    failed_on.add(resp.headers[WORKER_HEADER].split()[0])
            assert failed_on == {"0", "1"}
            # The request journal is every worker's, read where each keeps it.
            journalled = url + "/_emulator/requests?path=/v1/realtime/client-secrets"
            async with http.get(journalled) as resp:
                statuses = [entry["status"] for entry in (await resp.json())["requests"]]
                assert statuses == [503] * 40
            async with http.delete(url + "/_emulator/faults") as resp:
                assert resp.status == 200
            clients = await open_sessions_on_both(url, http)
            try:
                ids = {c.conversation_id for c in clients}

                async def listed() -> set[str]:
                    async with http.get(url + "/_emulator/sessions?state=live") as resp:
                        return {s["conversation_id"] for s in (await resp.json())["sessions"]}

                # A worker learns of the other's new session from its next heartbeat (within a
                # second, docs/scale-out.md); then whichever worker answers, the list is the
                # same: four reads in a row agree.
                deadline, agreeing = time.monotonic() + 5, 0
                while agreeing < 4:
                    found = await listed()
                    agreeing = agreeing + 1 if found == ids else 0
                    assert agreeing or time.monotonic() < deadline, (found, ids)
                    if not agreeing:
                        await asyncio.sleep(0.05)
                async with http.post(url + "/_emulator/reset", json={}) as resp:
                    assert resp.status == 200
                    assert (await resp.json())["closed_sessions"] == len(clients)
                for client in clients:
                    await client.until(
                        lambda c=client: (
                            c.channel.readyState == "closed"
                            or c.pc.connectionState in ("closed", "failed")
                        ),
                        10,
                        "the reset to end the session",
                    )
                async with http.get(url + "/_emulator/sessions?state=live") as resp:
                    assert (await resp.json())["sessions"] == []
                async with http.get(journalled) as resp:  # the reset emptied every worker's
                    assert (await resp.json())["requests"] == []
            finally:
                for client in clients:
                    await client.hangup()

    asyncio.run(scenario())


# --- crashes ----------------------------------------------------------------------------------


def test_a_killed_worker_is_restarted_and_the_port_keeps_answering(workers):
    process = workers(2, "--no-turn")
    victim, survivor = process.worker_pids[1], process.worker_pids[0]
    os.kill(victim, signal.SIGKILL)
    # Meanwhile the port answers (the survivor takes every new connection).
    assert asyncio.run(served_by(process.base_url, 5))
    wait_for(lambda: len(set(workers_of(process)) - {victim, survivor}) == 1, 30, "a new worker")
    replacement = (set(workers_of(process)) - {survivor}).pop()
    wait_for(lambda: replacement in listeners(process.port, "tcp"), 30, "it to listen")
    seen = asyncio.run(served_by(process.base_url, 100))
    assert {int(v.split("pid=")[1]) for v in seen} == {survivor, replacement}, seen
    assert f"worker 1 (pid {victim}) exited (killed by SIGKILL); restarting it" in process.text()
    assert process.proc.poll() is None


def test_a_worker_that_keeps_crashing_makes_the_supervisor_give_up(workers):
    process = workers(2, "--no-turn")
    killed: set[int] = set()
    for _ in range(5):
        wait_for(lambda: set(workers_of(process)) - killed - {process.worker_pids[0]}, 30, "w1")
        victim = (set(workers_of(process)) - killed - {process.worker_pids[0]}).pop()
        os.kill(victim, signal.SIGKILL)
        killed.add(victim)
    assert process.proc.wait(10) == 1
    assert "worker 1 exited 5 times within 30 s (last: killed by SIGKILL); giving up" in (
        process.text()
    )
    wait_for(lambda: not os.path.exists(f"/proc/{process.worker_pids[0]}"), 5, "worker 0 gone")


# --- stop -------------------------------------------------------------------------------------


def test_sigterm_ends_the_sessions_of_every_worker_within_two_seconds(workers):
    process = workers(2, "--no-turn")

    async def scenario() -> float:
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            clients = await open_sessions_on_both(process.base_url, http)
            try:
                started = time.monotonic()
                process.proc.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(process.proc.wait, 5)
                elapsed = time.monotonic() - started
                assert code == 0
                for client in clients:  # every client sees its session end
                    await client.until(
                        lambda c=client: (
                            c.pc.connectionState in ("closed", "failed")
                            or c.channel.readyState == "closed"
                        ),
                        5,
                        "the emulator to close the peer",
                    )
            finally:
                for client in clients:
                    await client.hangup()
            return elapsed

    elapsed = asyncio.run(scenario())
    print(f"SIGTERM to exit with sessions on both workers: {elapsed:.2f} s")
    assert elapsed < 2.5, elapsed  # the 2 s budget, plus the loaded machine's slack
    log = process.text()
    assert log.count("reason=shutdown") >= 2, log


# --- bad input --------------------------------------------------------------------------------


def refused(*args: str) -> str:
    """What `python -m emulator ARGS` prints when it refuses to start (exit status 2)."""
    done = subprocess.run(
        [sys.executable, "-m", "emulator", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    return done.stderr


def test_a_busy_port_is_refused_with_the_flag_that_changes_it():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        stderr = refused("--workers", "2", "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port} for HTTP (--port, ORGA_EMULATOR_PORT)" in stderr


def test_an_rtc_port_range_smaller_than_the_workers_is_refused():
    stderr = refused("--workers", "3", "--no-turn", "--rtc-ports", "40000-40001")
    assert "--rtc-ports 40000-40001 has 2 ports for 3 workers" in stderr


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "257"])
def test_a_bad_worker_count_is_refused(value):
    assert "--workers" in refused("--workers", value)
