"""WebRTC faults, observed by a real aiortc client (emulator.testing.client.OrgaClient)."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.timeout(60)


async def add_fault(emulator, **rule) -> dict:
    return (await emulator.control("POST", "/faults", json=rule, expect=201))["rules"][0]


async def frames_within(client, seconds: float, timeout: float = 10) -> int:
    """Audio frames the client receives in `seconds` of arrivals (waits on arrivals)."""
    audio = client.received_audio
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    await audio.until(lambda: audio.arrivals, timeout, "the AI's audio")
    start_index = len(audio.arrivals) - 1
    start = audio.arrivals[start_index]
    await audio.until(
        lambda: audio.arrivals[-1] - start >= seconds,
        max(0.0, deadline - loop.time()),
        f"{seconds} s of the AI's audio",
    )
    return sum(1 for t in audio.arrivals[start_index:] if t - start <= seconds)


async def recovers(emulator, make_sdk_client) -> None:
    """After a fault: a fresh client gets a working session, and nothing is left behind."""
    before = len(emulator.registry)
    client = make_sdk_client(emulator, "next@example.com")
    conversation_id = await client.connect()
    await client.next_event("conversation.created")
    await client.hangup()
    assert (await emulator.ended(conversation_id))["end_reason"] == "peer_closed"
    assert len(emulator.registry) == before


@pytest.mark.slow
async def test_an_answer_whose_ice_never_connects(make_emulator, make_sdk_client, feed_of):
    emulator = await make_emulator(ice_timeout=1.5)
    feed = await feed_of(emulator)
    await add_fault(emulator, fault="ice_never_connects", times=1)
    client = make_sdk_client(emulator)
    connecting = asyncio.ensure_future(client.connect(timeout=30))
    ended = await feed.wait(lambda e: e["type"] == "session.ended", timeout=15)
    assert ended["end_reason"] == "ice_timeout"
    assert client.pc.iceConnectionState != "completed"
    assert client.pc.connectionState != "connected"
    assert not connecting.done()  # the SDK is still waiting for its data channel
    connecting.cancel()
    described = await emulator.control("GET", f"/sessions/{ended['conversation_id']}")
    assert [f["fault"] for f in described["faults"]] == ["ice_never_connects"]
    assert described["selected_candidate_pair"] is None
    await recovers(emulator, make_sdk_client)


@pytest.mark.slow
async def test_a_dtls_failure(make_emulator, make_sdk_client):
    emulator = await make_emulator(peer_timeout=1.0)
    await add_fault(emulator, fault="dtls_failure", times=1)
    client = make_sdk_client(emulator)
    with pytest.raises(TimeoutError):
        await client.connect(timeout=5)
    assert await client.wait_for_state({"failed"}, 10) == "failed"
    conversation_id = client.conversation_id
    await client.hangup()
    ended = await emulator.ended(conversation_id)
    assert ended["end_reason"] in ("peer_gone", "peer_failed", "peer_closed")
    assert ended["faults"][0]["fault"] == "dtls_failure"
    await recovers(emulator, make_sdk_client)


async def test_the_data_channel_closed_mid_session(emulator, make_sdk_client, feed):
    await add_fault(emulator, fault="datachannel_close", after_ms=200, email="dc@example.com")
    client = make_sdk_client(emulator, "dc@example.com")
    closed = asyncio.Event()
    conversation_id = await client.connect()
    client.channel.on("close", closed.set)
    await client.next_event("conversation.created")
    async with asyncio.timeout(10):
        await closed.wait()
    assert client.channel.readyState == "closed"
    assert client.pc.connectionState == "connected"  # media stays up
    applied = await feed.wait(lambda e: e["type"] == "fault")
    assert applied["fault"] == "datachannel_close"
    assert applied["conversation_id"] == conversation_id
    await recovers(emulator, make_sdk_client)


@pytest.mark.slow
async def test_media_going_silent(emulator, make_sdk_client, feed):
    await add_fault(emulator, fault="media_silent", after_ms=1500, times=1)
    client = make_sdk_client(emulator)
    await client.connect()
    assert await frames_within(client, 0.2) >= 5  # the AI's track flows (silence frames)
    await feed.wait(lambda e: e["type"] == "fault" and e["fault"] == "media_silent")
    before = client.received_audio.frames
    with pytest.raises(TimeoutError):  # nothing arrives any more (a few were in flight)
        await frames_within(client, 10, timeout=1.5)
    assert client.received_audio.frames - before < 10
    assert client.pc.connectionState == "connected"
    await recovers(emulator, make_sdk_client)


@pytest.mark.slow
async def test_a_share_of_packets_dropped(emulator, make_sdk_client):
    await add_fault(emulator, fault="packet_loss", percent=50, times=1)
    client = make_sdk_client(emulator)
    conversation_id = await client.connect()
    received = await frames_within(client, 2.0)
    assert 20 <= received <= 80, received  # 100 frames in 2 s without loss
    tracks = (await emulator.control("GET", f"/sessions/{conversation_id}"))["tracks"]
    for direction in ("in", "out"):
        audio = tracks["audio"][direction]
        share = audio["lost"] / (audio["lost"] + audio["packets"])  # packets: delivered
        assert 0.3 < share < 0.7, (direction, audio)
    await client.hangup()
    await emulator.ended(conversation_id)
    await recovers(emulator, make_sdk_client)


async def test_the_server_hangs_up(emulator, make_sdk_client):
    await add_fault(emulator, fault="hangup", after_ms=300, times=1)
    client = make_sdk_client(emulator)
    conversation_id = await client.connect()
    closed = asyncio.Event()
    client.channel.on("close", closed.set)
    async with asyncio.timeout(10):
        await closed.wait()
    state = await client.wait_for_state({"closed", "failed", "disconnected"}, 15)
    ended = await emulator.ended(conversation_id)
    assert ended["end_reason"] == "server_hangup", state
    await recovers(emulator, make_sdk_client)
