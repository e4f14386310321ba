"""TCP connections that never allocate are closed, and their number is bounded (issue 13,
finding 4: "TCP connections that never allocate stay open forever")."""

from __future__ import annotations

import asyncio

import pytest
from aioice import stun

from tests.turn.raw import (
    BINDING_REQUEST,
    LIFETIME,
    REFRESH_REQUEST,
    TIMEOUT,
    RawClient,
    Session,
    allocate,
    encode,
    rest_credentials,
    tid,
)

IDLE = 0.5  # the servers' --tcp-idle-timeout here


async def connect(server, make_turn_client, local: str | None = None) -> RawClient:
    if local is None:
        return await make_turn_client(server.tcp_address, "tcp")
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(RawClient, *server.tcp_address, local_addr=(local, 0))
    client.stream = True
    return client


async def test_a_silent_connection_is_closed(make_turn_server, make_turn_client):
    server = await make_turn_server(tcp_idle_timeout=IDLE)
    client = await connect(server, make_turn_client)
    await asyncio.wait_for(client.closed.wait(), IDLE + TIMEOUT)
    assert server.tcp_connection_count == 0


async def test_a_connection_that_never_allocates_is_closed(make_turn_server, make_turn_client):
    server = await make_turn_server(tcp_idle_timeout=IDLE)
    client = await connect(server, make_turn_client)
    # Valid STUN, answered, yet no allocation: the clock keeps running.
    raw = await client.request(encode(BINDING_REQUEST, tid(), []))
    assert stun.parse_message(raw).message_class == stun.Class.RESPONSE
    await asyncio.wait_for(client.closed.wait(), IDLE + TIMEOUT)


async def test_a_half_sent_message_does_not_keep_it_open(make_turn_server, make_turn_client):
    server = await make_turn_server(tcp_idle_timeout=IDLE)
    client = await connect(server, make_turn_client)
    client.send(encode(BINDING_REQUEST, tid(), [])[:10])  # a header it never finishes
    await asyncio.wait_for(client.closed.wait(), IDLE + TIMEOUT)


async def test_an_allocating_connection_stays(make_turn_server, make_turn_client, turn_clock):
    server = await make_turn_server(tcp_idle_timeout=IDLE)
    client = await connect(server, make_turn_client)
    session = Session(client, *rest_credentials(turn_clock() + 600))
    await allocate(session)
    # Past the idle timeout, the allocation's connection still answers.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.closed.wait(), IDLE * 3)
    response = await session.call(REFRESH_REQUEST, [])
    assert response.message_class == stun.Class.RESPONSE
    # Once the allocation is released, the connection is idle again and closed.
    await session.call(REFRESH_REQUEST, [(LIFETIME, b"\x00\x00\x00\x00")])
    await asyncio.wait_for(client.closed.wait(), IDLE + TIMEOUT)


async def test_connections_per_address_are_bounded(make_turn_server, make_turn_client):
    # Long enough an idle timeout for the four connections below, short enough to wait for.
    idle = 3.0
    server = await make_turn_server(max_tcp_connections_per_address=3, tcp_idle_timeout=idle)
    held = [await connect(server, make_turn_client, "127.0.0.2") for _ in range(3)]
    for client in held:
        assert stun.parse_message(await client.request(encode(BINDING_REQUEST, tid(), [])))
    refused = await connect(server, make_turn_client, "127.0.0.2")
    await asyncio.wait_for(refused.closed.wait(), TIMEOUT)
    assert not any(client.closed.is_set() for client in held)
    # Another address has its own count.
    other = await connect(server, make_turn_client, "127.0.0.3")
    assert stun.parse_message(await other.request(encode(BINDING_REQUEST, tid(), [])))
    # The server closes idle connections itself (its count drops before the client sees it):
    # then the address has room again.
    for client in held:
        await asyncio.wait_for(client.closed.wait(), idle + TIMEOUT)
    again = await connect(server, make_turn_client, "127.0.0.2")
    assert stun.parse_message(await again.request(encode(BINDING_REQUEST, tid(), [])))
    for client in (other, again):
        client.close()


async def test_connections_in_total_are_bounded(make_turn_server, make_turn_client):
    server = await make_turn_server(max_tcp_connections=2)
    first = await connect(server, make_turn_client, "127.0.0.4")
    second = await connect(server, make_turn_client, "127.0.0.5")
    third = await connect(server, make_turn_client, "127.0.0.6")
    await asyncio.wait_for(third.closed.wait(), TIMEOUT)
    for client in (first, second):
        assert stun.parse_message(await client.request(encode(BINDING_REQUEST, tid(), [])))
        client.close()
