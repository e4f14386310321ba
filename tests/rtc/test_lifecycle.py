"""Session lifecycle: how sessions end, capacity, shutdown, and nothing left behind."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import aiohttp
import pytest

from emulator.identity.clock import CLOCK
from emulator.identity.tokens import LEDGER
from emulator.rtc.lifecycle import EndReason, SessionState
from emulator.testing.client import OrgaClient
from emulator.testing.tracks import ToneBurstTrack

HERE = Path(__file__).parent

pytestmark = pytest.mark.timeout(90)


async def _until(condition, timeout: float, what: str) -> None:
    """Poll a condition nothing signals (e.g. resource counts), every 50 ms, up to `timeout`."""
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    assert condition(), f"timed out after {timeout}s waiting for {what}"


async def _ended(emulator, conversation_id: str, timeout: float = 10):
    """The session, once it has closed (it must have been opened)."""
    sessions = emulator.registry
    session = sessions.sessions.get(conversation_id) or next(
        s for s in sessions.ended if s.conversation_id == conversation_id
    )
    try:
        async with asyncio.timeout(timeout):
            await session.wait_closed()
    except TimeoutError:
        raise AssertionError(f"{conversation_id} still open after {timeout}s") from None
    assert conversation_id not in sessions.sessions
    return next(r for r in sessions.ended if r.conversation_id == conversation_id)


async def test_a_client_closing_ends_its_session(emulator, sdk_client):
    await sdk_client.connect()
    await sdk_client.event("conversation.created")
    session = emulator.registry.sessions[sdk_client.conversation_id]
    assert session.state is SessionState.CONNECTED
    await sdk_client.hangup()
    ended = await _ended(emulator, sdk_client.conversation_id)
    assert ended.end_reason is EndReason.PEER_CLOSED
    assert session.state is SessionState.CLOSED
    described = ended.describe()
    assert described["state"] == "closed"
    assert described["end_reason"] == "peer_closed"
    assert described["counters"]["audio_out_packets"] > 0


async def test_one_log_line_at_start_and_one_at_end(emulator, sdk_client, caplog):
    caplog.set_level(logging.INFO, logger="emulator.rtc.session")
    mic = ToneBurstTrack()
    sdk_client.attach_microphone(mic)
    await sdk_client.connect()
    await sdk_client.event("conversation.created")
    mic.burst(5)
    await sdk_client.until(lambda: sdk_client.received_audio.speech(), 10, "an echo")
    await sdk_client.hangup()
    await _ended(emulator, sdk_client.conversation_id)
    lines = [r.getMessage() for r in caplog.records if sdk_client.conversation_id in r.getMessage()]
    assert len(lines) == 2, lines
    started, ended = lines
    assert started.startswith(f"session started conversation_id={sdk_client.conversation_id}")
    assert ended.startswith(f"session ended conversation_id={sdk_client.conversation_id}")
    fields = dict(part.split("=", 1) for part in ended.split() if "=" in part)
    assert fields["reason"] == "peer_closed"
    assert float(fields["duration"].rstrip("s")) > 0
    for direction in ("audio_in", "audio_out"):
        packets, rest = fields[direction].split("p/", 1)
        assert int(packets) > 0 and int(rest.split("B")[0]) > 0
    assert fields["video_in"].startswith("0p/0B/0f/0k")
    assert int(fields["dc_out"]) >= 2


async def test_ice_that_never_connects_ends_the_session(make_emulator, make_sdk_client):
    emulator = await make_emulator(ice_timeout=0.5)
    client = make_sdk_client(emulator)
    # Post the offer but never apply the answer: the emulator's checks get no reply.
    status, body = await client.post_call(await client.mint_token(), await client.offer())
    assert status == 200
    ended = await _ended(emulator, body["conversation_id"])
    assert ended.end_reason is EndReason.ICE_TIMEOUT


@pytest.mark.slow
async def test_max_session_duration_ends_the_session(make_emulator, make_sdk_client):
    emulator = await make_emulator(max_session_duration=1.5)
    client = make_sdk_client(emulator)
    await client.connect()
    await client.event("conversation.created")
    ended = await _ended(emulator, client.conversation_id)
    assert ended.end_reason is EndReason.MAX_DURATION
    assert 1.4 < ended.duration < 5


async def test_token_expiry_does_not_end_a_running_session(emulator, sdk_client):
    await sdk_client.connect()
    await sdk_client.event("conversation.created")
    emulator.app[CLOCK].advance(10_000)  # far past the token's exp
    sdk_client.send({"event": "conversation.item.create", "data": {"text": "still here"}})
    assert (await sdk_client.event("response.output_item.done"))["text"] == "still here"
    assert emulator.registry.sessions[sdk_client.conversation_id].state is SessionState.CONNECTED


async def test_at_max_sessions_calls_is_503_and_the_token_is_kept(make_emulator, make_sdk_client):
    emulator = await make_emulator(max_sessions=1)
    first = make_sdk_client(emulator)
    await first.connect()
    await first.event("conversation.created")
    second = make_sdk_client(emulator)
    token = await second.mint_token()
    offer = await second.offer()
    status, body = await second.post_call(token, offer)
    assert status == 503
    assert body["error"]["type"] == "service_unavailable_error"
    assert body["error"]["code"] == "max_sessions_reached"
    assert len(emulator.app[LEDGER]) == 1  # only the first client's token is consumed
    # Once the first session ends, the same token opens a session.
    await first.hangup()
    await _ended(emulator, first.conversation_id)
    status, body = await second.post_call(token, offer)
    assert status == 200, body


async def test_sessions_being_answered_count_towards_the_limit(make_emulator, make_sdk_client):
    emulator = await make_emulator(max_sessions=3)
    clients = [make_sdk_client(emulator) for _ in range(6)]
    offers = [await c.offer() for c in clients]
    tokens = [await c.mint_token() for c in clients]
    results = await asyncio.gather(
        *(c.post_call(t, o) for c, t, o in zip(clients, tokens, offers, strict=True))
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 200, 200, 503, 503, 503]
    assert len(emulator.registry) == 3


def _resources() -> dict[str, int]:
    gc.collect()
    return {
        "tasks": len(asyncio.all_tasks()),
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
    }


@pytest.mark.slow
async def test_thirty_sessions_in_turn_leave_nothing_behind(emulator):
    from aiortc import RTCPeerConnection

    sessions = emulator.registry

    async def one_session() -> None:
        client = OrgaClient(emulator.base_url, http=emulator.session)
        mic = ToneBurstTrack()
        client.attach_microphone(mic)
        await client.connect()
        await client.event("conversation.created")
        mic.burst(3)
        client.send({"event": "conversation.item.create", "data": {"text": "hi"}})
        await client.event("response.output_item.done")
        await client.hangup()
        await _ended(emulator, client.conversation_id)

    await one_session()  # warm-up: lazily created loop resources (executor, resolver, ...)
    before = _resources()
    for _ in range(30):
        await one_session()
    await _until(lambda: _resources() == before, 10, f"resources back to {before}")
    assert len(sessions) == 0
    assert not [o for o in gc.get_objects() if isinstance(o, RTCPeerConnection)]


@pytest.mark.slow
async def test_a_vanished_client_is_reaped(make_emulator):
    """The client process is killed: no close, no BYE, its packets just stop."""
    emulator = await make_emulator(peer_timeout=1.0)
    url = emulator.base_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "vanishing_client.py"),
        url,
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            line = (await proc.stdout.readline()).decode().strip()
        assert line.startswith("connected "), line
        conversation_id = line.split()[1]
        session = emulator.registry.sessions[conversation_id]
        assert session.state is SessionState.CONNECTED
        proc.kill()
        await proc.wait()
        ended = await _ended(emulator, conversation_id, timeout=15)
        assert ended.end_reason in (EndReason.PEER_GONE, EndReason.PEER_FAILED)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.slow
def test_sigterm_closes_running_sessions_and_exits_0(emulator_process):
    process = emulator_process("--no-turn", "--log-level", "info")

    async def connect_then_stop() -> str:
        async with aiohttp.ClientSession() as http:
            client = OrgaClient(process.base_url, http=http)
            await client.connect()
            await client.event("conversation.created")
            process.proc.send_signal(signal.SIGTERM)
            # The emulator closes the peer: the client sees its connection go.
            await client.until(
                lambda: (
                    client.pc.connectionState in ("closed", "failed")
                    or client.channel.readyState == "closed"
                ),
                5,
                "the emulator to close the peer",
            )
            await client.hangup()
            return client.conversation_id

    conversation_id = asyncio.run(connect_then_stop())
    assert process.proc.wait(5) == 0
    log = "".join(process.output)
    assert f"session ended conversation_id={conversation_id} reason=shutdown" in log, log


@pytest.mark.slow
def test_sigint_exits_0_within_two_seconds_with_a_session_open(emulator_process):
    import time

    process = emulator_process("--no-turn")

    async def connect() -> tuple[int, float]:
        http = aiohttp.ClientSession()
        client = OrgaClient(process.base_url, http=http)
        await client.connect()
        await client.event("conversation.created")
        started = time.monotonic()
        process.proc.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(process.proc.wait, 5)
        elapsed = time.monotonic() - started
        await client.hangup()
        await http.close()
        return code, elapsed

    code, elapsed = asyncio.run(connect())
    assert code == 0
    assert elapsed < 2.5, elapsed
