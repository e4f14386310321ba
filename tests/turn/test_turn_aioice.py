"""turn_stub against aioice's TURN client, over UDP and TCP."""

from __future__ import annotations

import asyncio

import pytest
from aioice import stun, turn

from tests.turn.raw import (
    ALLOCATE_REQUEST,
    REFRESH_REQUEST,
    REQUESTED_TRANSPORT,
    TIMEOUT,
    UDP,
    Session,
    encode,
    has_valid_fingerprint,
    rest_credentials,
    tid,
)
from turn_stub.server import TurnServer

pytestmark = pytest.mark.parametrize("protocol", ["udp", "tcp"])


class Receiver(asyncio.DatagramProtocol):
    """The application side of a TURN endpoint: relayed data and send errors, queued."""

    def __init__(self) -> None:
        self.data: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.errors: asyncio.Queue[Exception] = asyncio.Queue()
        self.lost = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.data.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.put_nowait(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()


async def open_endpoint(turn_server: TurnServer, protocol: str, username: str, password: str):
    return await turn.create_turn_endpoint(
        Receiver, turn_server.udp_address, username, password, transport=protocol
    )


async def close_endpoint(transport: turn.TurnTransport, receiver: Receiver) -> None:
    transport.close()
    await asyncio.wait_for(receiver.lost.wait(), TIMEOUT)


async def test_401_then_allocation(turn_server, turn_clock, make_turn_client, protocol):
    # The challenge, seen raw: 401 with REALM and NONCE, no MESSAGE-INTEGRITY.
    client = await make_turn_client(turn_server.udp_address, protocol)
    raw = await client.request(encode(ALLOCATE_REQUEST, tid(), [(REQUESTED_TRANSPORT, UDP)]))
    challenge = stun.parse_message(raw)
    assert challenge.error_code == 401
    assert challenge.attributes["REALM"] == "orga-emulator"
    assert challenge.attributes["NONCE"]
    assert "MESSAGE-INTEGRITY" not in challenge.attributes
    assert has_valid_fingerprint(raw)

    # aioice goes through the same 401, then allocates.
    username, password = rest_credentials(turn_clock() + 600)
    transport, receiver = await open_endpoint(turn_server, protocol, username, password)
    relayed = transport.get_extra_info("sockname")
    assert relayed[0] == "127.0.0.1" and relayed[1] > 0
    assert transport.get_extra_info("related_address")[0] == "127.0.0.1"
    assert turn_server.allocation_count == 1
    await close_endpoint(transport, receiver)
    assert turn_server.allocation_count == 0


async def test_relay_through_channel_both_ways(turn_server, turn_clock, echo_peer, protocol):
    username, password = rest_credentials(turn_clock() + 600)
    transport, receiver = await open_endpoint(turn_server, protocol, username, password)
    relayed = transport.get_extra_info("sockname")
    for payload in (b"ping", b"odd-length!", bytes(range(256)) * 4):
        transport.sendto(payload, echo_peer.address)
        data, source = await asyncio.wait_for(echo_peer.received.get(), TIMEOUT)
        assert (data, source) == (payload, relayed)  # the peer sees the relayed address
        data, source = await asyncio.wait_for(receiver.data.get(), TIMEOUT)
        assert (data, source) == (payload, echo_peer.address)
    await close_endpoint(transport, receiver)


async def test_stale_nonce_is_438_and_aioice_recovers(
    make_turn_server, turn_clock, echo_peer, protocol
):
    server = await make_turn_server(nonce_lifetime=30)
    username, password = rest_credentials(turn_clock() + 3600)
    transport, receiver = await open_endpoint(server, protocol, username, password)
    turn_clock.advance(31)
    # The first send binds a channel: 438 with a fresh nonce, which aioice retries with.
    transport.sendto(b"after the nonce went stale", echo_peer.address)
    data, _ = await asyncio.wait_for(receiver.data.get(), TIMEOUT)
    assert data == b"after the nonce went stale"
    assert receiver.errors.empty()
    await close_endpoint(transport, receiver)


async def test_stale_nonce_raw(make_turn_server, turn_clock, make_turn_client, protocol):
    server = await make_turn_server(nonce_lifetime=30)
    session = Session(
        await make_turn_client(server.udp_address, protocol), *rest_credentials(turn_clock() + 3600)
    )
    await session.call(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP)])
    stale_nonce = session.nonce
    turn_clock.advance(31)
    raw = await session.client.request(session.signed(REFRESH_REQUEST, [], tid()))
    response = stun.parse_message(raw)
    assert response.error_code == 438
    assert response.attributes["REALM"] == "orga-emulator"
    assert response.attributes["NONCE"] != stale_nonce
    session.nonce = response.attributes["NONCE"]
    response = await session.call(REFRESH_REQUEST, [])
    assert response.message_class == stun.Class.RESPONSE
    assert response.check_message_integrity(session.key)


async def test_expired_credentials_are_refused(turn_server, turn_clock, protocol):
    username, password = rest_credentials(turn_clock() + 10)
    turn_clock.advance(11)
    with pytest.raises(stun.TransactionFailed) as failed:
        await open_endpoint(turn_server, protocol, username, password)
    assert failed.value.response.error_code == 401
    assert turn_server.allocation_count == 0


async def test_wrong_password_is_refused(turn_server, turn_clock, protocol):
    username, _ = rest_credentials(turn_clock() + 600)
    _, password = rest_credentials(turn_clock() + 600, secret="not the secret")
    with pytest.raises(stun.TransactionFailed) as failed:
        await open_endpoint(turn_server, protocol, username, password)
    assert failed.value.response.error_code == 401


@pytest.mark.parametrize(
    ("peer", "deny"),
    [
        (("0.0.0.0", 9), []),
        (("169.254.169.254", 80), []),
        (("224.0.0.251", 5353), []),
        (("::ffff:127.0.0.1", 9), ["127.0.0.0/8"]),
        (("127.0.0.1", 9), ["127.0.0.0/8"]),
    ],
)
async def test_denied_peers(make_turn_server, turn_clock, protocol, peer, deny):
    server = await make_turn_server(deny_peers=deny)
    username, password = rest_credentials(turn_clock() + 600)
    transport, receiver = await open_endpoint(server, protocol, username, password)
    transport.sendto(b"nope", peer)
    error = await asyncio.wait_for(receiver.errors.get(), TIMEOUT)
    assert isinstance(error, stun.TransactionFailed)
    assert error.response.error_code == 403
    # Signed like any response to an authenticated request, or aioice would have timed out.
    assert "MESSAGE-INTEGRITY" in error.response.attributes
    await close_endpoint(transport, receiver)
