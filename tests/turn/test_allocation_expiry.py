"""Allocations end when their credentials expire (issue 13, finding 4).

A TURN REST username carries its expiry; an allocation's lifetime never runs past it, a Refresh
cannot stretch it, and at that moment the relay stops: the relayed socket is closed (its port can
be bound again) and, over TCP, the connection too. Real-time cases use credentials of a couple of
seconds and wait on the allocation's end, never a sleep.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator

import jwt
import pytest
from aioice import stun

from emulator.identity.clock import Clock
from emulator.rtc.relay import RELAY
from tests.api.helpers import bearer, mint
from tests.turn.raw import (
    LIFETIME,
    REFRESH_REQUEST,
    SECRET,
    TIMEOUT,
    Session,
    allocate,
    bind,
    channel_data,
    rest_credentials,
)
from turn_stub.server import TurnConfig, TurnServer

SHORT = 2  # seconds of credential life in the real-time cases


@pytest.fixture
async def realtime_server() -> AsyncIterator[TurnServer]:
    """A server on the real clock (time.time), its expiry timers firing for real."""
    config = TurnConfig(port=0, secret=SECRET, allow_peers=["127.0.0.0/8"])
    server = TurnServer(config, clock=time.time)
    await server.start()
    yield server
    await server.close()
    assert server.allocation_count == 0


async def relaying_session(
    server: TurnServer, make_turn_client, echo_peer, protocol: str, ttl: float
) -> tuple[Session, tuple[str, int]]:
    client = await make_turn_client(server.udp_address, protocol)
    session = Session(client, *rest_credentials(time.time() + ttl))
    relayed = (await allocate(session)).attributes["XOR-RELAYED-ADDRESS"]
    assert (await bind(session, 0x4000, echo_peer.address)).error_code is None
    session.client.send(channel_data(0x4000, b"before expiry", pad=protocol == "tcp"))
    echoed = await session.client.receive()
    assert echoed[4 : 4 + len(b"before expiry")] == b"before expiry"
    return session, relayed


def port_is_free(address: tuple[str, int]) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(address)
        except OSError:
            return False
    return True


async def test_udp_allocation_ends_with_its_credentials(
    realtime_server, make_turn_client, echo_peer
):
    session, relayed = await relaying_session(
        realtime_server, make_turn_client, echo_peer, "udp", SHORT
    )
    (allocation,) = realtime_server.allocations_by_key.values()
    assert allocation.expires_at <= int(time.time() + SHORT)
    await asyncio.wait_for(allocation.ended.wait(), SHORT + TIMEOUT)
    assert realtime_server.allocation_count == 0
    assert port_is_free(relayed)  # the relayed socket is closed
    # The credentials are spent: a Refresh is challenged again (401), never granted.
    response = await session.call(REFRESH_REQUEST, [])
    assert response.error_code == 401
    # Nothing relayed any more, either way.
    echo_peer.transport.sendto(b"after expiry", relayed)
    session.client.send(channel_data(0x4000, b"after expiry"))
    with pytest.raises(TimeoutError):
        await session.client.receive(0.3)
    assert echo_peer.received.qsize() == 1  # the "before expiry" datagram only


async def test_tcp_connection_closes_when_its_credentials_expire(
    realtime_server, make_turn_client, echo_peer
):
    session, relayed = await relaying_session(
        realtime_server, make_turn_client, echo_peer, "tcp", SHORT
    )
    await asyncio.wait_for(session.client.closed.wait(), SHORT + TIMEOUT)
    assert realtime_server.allocation_count == 0
    assert realtime_server.tcp_connection_count == 0
    assert port_is_free(relayed)


async def test_lifetime_never_runs_past_the_credentials(turn_server, turn_clock, make_turn_client):
    client = await make_turn_client(turn_server.udp_address)
    session = Session(client, *rest_credentials(turn_clock() + 30))
    response = await allocate(session, (LIFETIME, struct.pack("!I", 3600)))
    assert 29 <= response.attributes["LIFETIME"] <= 30
    # Refreshing cannot stretch it either.
    response = await session.call(REFRESH_REQUEST, [(LIFETIME, struct.pack("!I", 3600))])
    assert response.message_class == stun.Class.RESPONSE
    assert 29 <= response.attributes["LIFETIME"] <= 30
    turn_clock.advance(25)
    response = await session.call(REFRESH_REQUEST, [])
    assert 4 <= response.attributes["LIFETIME"] <= 5
    turn_clock.advance(6)
    turn_server.sweep()
    assert turn_server.allocation_count == 0
    assert (await session.call(REFRESH_REQUEST, [])).error_code == 401


async def test_refresh_of_an_expired_allocation_with_fresh_credentials_is_437(
    turn_server, turn_clock, make_turn_client
):
    client = await make_turn_client(turn_server.udp_address)
    session = Session(client, *rest_credentials(turn_clock() + 30))
    await allocate(session)
    turn_clock.advance(31)
    turn_server.sweep()
    renewed = Session(client, *rest_credentials(turn_clock() + 600))
    assert (await renewed.call(REFRESH_REQUEST, [])).error_code == 437
    await allocate(renewed)  # and a new allocation may be made with them


async def test_embedded_relay_allocation_ends_with_the_token(make_emulator, make_turn_client):
    """ice-config's credentials expire with the token: so does the allocation made with them."""
    frozen_clock = Clock()
    frozen_clock.freeze()
    emulator = await make_emulator(turn=True, turn_port=0, token_ttl=60, clock=frozen_clock)
    token = await mint(emulator.http)
    resp = await emulator.http.get("/v1/realtime/ice-config", headers=bearer(token))
    turn = (await resp.json())["iceServers"][1]
    server = emulator.app[RELAY].server
    session = Session(
        await make_turn_client(server.udp_address), turn["username"], turn["credential"]
    )
    response = await allocate(session)
    assert response.attributes["LIFETIME"] <= 60
    (allocation,) = server.allocations_by_key.values()
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    frozen_clock.advance(exp - frozen_clock.time() + 1)
    # The server's periodic check sees the moved clock: no waiting 60 s.
    await asyncio.wait_for(allocation.ended.wait(), TIMEOUT)
    assert server.allocation_count == 0
