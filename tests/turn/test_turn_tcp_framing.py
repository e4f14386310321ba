"""TURN over TCP: STUN and ChannelData frames split and merged arbitrarily across reads."""

from __future__ import annotations

import asyncio
import random
import socket
import struct

from aioice import stun

from tests.turn.raw import (
    ALLOCATE_REQUEST,
    BINDING_REQUEST,
    CHANNEL_BIND_REQUEST,
    CHANNEL_NUMBER,
    CREATE_PERMISSION_REQUEST,
    DATA,
    REQUESTED_TRANSPORT,
    SEND_INDICATION,
    TIMEOUT,
    UDP,
    XOR_PEER_ADDRESS,
    Session,
    channel_data,
    encode,
    rest_credentials,
    tid,
    xor_peer,
)


def write_in_pieces(client, data: bytes, sizes) -> None:
    """Write ``data`` in pieces of the given sizes (TCP_NODELAY: one segment each)."""
    pos = 0
    for size in sizes:
        if pos >= len(data):
            break
        client.transport.write(data[pos : pos + size])
        pos += size
    if pos < len(data):
        client.transport.write(data[pos:])


async def tcp_session(turn_server, turn_clock, make_turn_client) -> Session:
    client = await make_turn_client(turn_server.tcp_address, "tcp")
    client.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Session(client, *rest_credentials(turn_clock() + 600))


async def test_stun_written_one_byte_at_a_time(turn_server, turn_clock, make_turn_client):
    session = await tcp_session(turn_server, turn_clock, make_turn_client)
    request = encode(ALLOCATE_REQUEST, tid(), [(REQUESTED_TRANSPORT, UDP)])
    future = asyncio.get_running_loop().create_future()
    session.client.waiters[request[8:20]] = future
    write_in_pieces(session.client, request, [1] * len(request))
    challenge = stun.parse_message(await asyncio.wait_for(future, TIMEOUT))
    assert challenge.error_code == 401
    session.nonce = challenge.attributes["NONCE"]

    request = session.signed(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP)], tid())
    future = asyncio.get_running_loop().create_future()
    session.client.waiters[request[8:20]] = future
    rng = random.Random(5766)
    write_in_pieces(session.client, request, [rng.randint(1, 7) for _ in range(len(request))])
    response = stun.parse_message(await asyncio.wait_for(future, TIMEOUT))
    assert response.message_class == stun.Class.RESPONSE
    assert turn_server.allocation_count == 1


async def test_frames_merged_and_split(turn_server, turn_clock, make_turn_client, echo_peer):
    session = await tcp_session(turn_server, turn_clock, make_turn_client)
    allocated = await session.call(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP)])
    relayed = allocated.attributes["XOR-RELAYED-ADDRESS"]

    # One write, handled in order: ChannelBind, ChannelData on that channel (odd
    # length, padded), a Binding request, a CreatePermission and a Send indication.
    loop = asyncio.get_running_loop()
    bind_tid, permission_tid, binding_tid, send_tid = tid(), tid(), tid(), tid()
    other_peer = echo_peer.address
    merged = (
        session.signed(
            CHANNEL_BIND_REQUEST,
            [
                (CHANNEL_NUMBER, struct.pack("!HH", 0x4001, 0)),
                (XOR_PEER_ADDRESS, xor_peer(echo_peer.address, bind_tid)),
            ],
            bind_tid,
        )
        + channel_data(0x4001, b"odd", pad=True)
        + encode(BINDING_REQUEST, binding_tid, [])
        + session.signed(
            CREATE_PERMISSION_REQUEST,
            [(XOR_PEER_ADDRESS, xor_peer(other_peer, permission_tid))],
            permission_tid,
        )
        + encode(
            SEND_INDICATION,
            send_tid,
            [(XOR_PEER_ADDRESS, xor_peer(other_peer, send_tid)), (DATA, b"indicated")],
        )
    )
    futures = {t: loop.create_future() for t in (bind_tid, binding_tid, permission_tid)}
    session.client.waiters.update(futures)
    session.client.transport.write(merged)
    for future in futures.values():
        response = stun.parse_message(await asyncio.wait_for(future, TIMEOUT))
        assert response.message_class == stun.Class.RESPONSE
    for expected in (b"odd", b"indicated"):
        data, source = await asyncio.wait_for(echo_peer.received.get(), TIMEOUT)
        assert (data, source) == (expected, relayed)

    # The echoes come back: ChannelData padded to 4 bytes on TCP.
    assert await session.client.receive() == b"\x40\x01\x00\x03odd\x00"
    assert await session.client.receive() == b"\x40\x01\x00\x09indicated\x00\x00\x00"

    # ChannelData one byte at a time, then several frames in random pieces.
    frame = channel_data(0x4001, b"bytewise", pad=True)
    write_in_pieces(session.client, frame, [1] * len(frame))
    data, _ = await asyncio.wait_for(echo_peer.received.get(), TIMEOUT)
    assert data == b"bytewise"
    assert await session.client.receive() == channel_data(0x4001, b"bytewise", pad=True)

    rng = random.Random(8656)
    payloads = [rng.randbytes(rng.randint(1, 300)) for _ in range(40)]
    stream = b"".join(channel_data(0x4001, p, pad=True) for p in payloads)
    write_in_pieces(session.client, stream, [rng.randint(1, 97) for _ in range(len(stream))])
    for payload in payloads:
        data, _ = await asyncio.wait_for(echo_peer.received.get(), TIMEOUT)
        assert data == payload
    for payload in payloads:
        assert await session.client.receive() == channel_data(0x4001, payload, pad=True)
