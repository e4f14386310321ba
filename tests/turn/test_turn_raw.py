"""Cases aioice's client cannot express, with hand-encoded requests over UDP (and TCP)."""

from __future__ import annotations

import asyncio
import random
import struct

import pytest
from aioice import stun

from tests.turn.raw import (
    ALLOCATE_REQUEST,
    BINDING_REQUEST,
    CHANNEL_BIND_REQUEST,
    CHANNEL_NUMBER,
    CREATE_PERMISSION_REQUEST,
    DONT_FRAGMENT,
    EVEN_PORT,
    LIFETIME,
    NONCE,
    REALM_ATTR,
    REFRESH_REQUEST,
    REQUESTED_ADDRESS_FAMILY,
    REQUESTED_TRANSPORT,
    RESERVATION_TOKEN,
    TIMEOUT,
    UDP,
    USERNAME,
    Session,
    allocate,
    bind,
    channel_data,
    encode,
    has_valid_fingerprint,
    permit,
    rest_credentials,
    send_indication,
    tid,
    xor_peer,
)


async def new_session(
    turn_server, turn_clock, make_turn_client, protocol="udp", user="alice", ttl=600
):
    client = await make_turn_client(turn_server.udp_address, protocol)
    return Session(client, *rest_credentials(turn_clock() + ttl, user))


def error_of(response: stun.Message) -> int | None:
    return response.error_code


async def no_message(client, within: float = 0.3) -> bool:
    """True if nothing (indication or ChannelData) arrives in time: for asserting absence."""
    try:
        await client.receive(within)
    except TimeoutError:
        return True
    return False


# Binding


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
@pytest.mark.parametrize("fingerprint", [True, False])
async def test_binding(turn_server, make_turn_client, protocol, fingerprint):
    client = await make_turn_client(turn_server.udp_address, protocol)
    raw = await client.request(encode(BINDING_REQUEST, tid(), [], fingerprint=fingerprint))
    response = stun.parse_message(raw)
    assert response.message_class == stun.Class.RESPONSE
    assert response.attributes["XOR-MAPPED-ADDRESS"] == client.local_address
    assert has_valid_fingerprint(raw)


async def test_binding_with_bad_fingerprint_is_dropped(turn_server, make_turn_client):
    client = await make_turn_client(turn_server.udp_address)
    request = bytearray(encode(BINDING_REQUEST, tid(), []))
    request[-1] ^= 0xFF
    with pytest.raises(TimeoutError):
        await client.request(bytes(request), within=0.3)


async def test_binding_with_unknown_required_attribute_is_420(turn_server, make_turn_client):
    client = await make_turn_client(turn_server.udp_address)
    raw = await client.request(encode(BINDING_REQUEST, tid(), [(0x7F01, b"abcd")]))
    response = stun.parse_message(raw)
    assert response.error_code == 420
    assert struct.unpack("!H", raw[raw.index(b"\x00\x0a\x00\x02") + 4 :][:2])[0] == 0x7F01


# Long-term credentials


async def test_400_when_integrity_present_but_nonce_missing(
    turn_server, turn_clock, make_turn_client
):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    attributes = [
        (REQUESTED_TRANSPORT, UDP),
        (USERNAME, session.username.encode()),
        (REALM_ATTR, b"orga-emulator"),
    ]
    raw = await session.client.request(encode(ALLOCATE_REQUEST, tid(), attributes, session.key))
    assert error_of(stun.parse_message(raw)) == 400


async def test_401_without_integrity_even_with_username(turn_server, turn_clock, make_turn_client):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    attributes = [(REQUESTED_TRANSPORT, UDP), (USERNAME, session.username.encode())]
    response = stun.parse_message(
        await session.client.request(encode(ALLOCATE_REQUEST, tid(), attributes))
    )
    assert error_of(response) == 401
    assert "NONCE" in response.attributes and "REALM" in response.attributes


async def test_401_for_bad_integrity_and_foreign_nonce(turn_server, turn_clock, make_turn_client):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    await allocate(session)
    good_key = session.password
    session.password = "wrong"
    response = await session.call(REFRESH_REQUEST, [])
    assert error_of(response) == 401
    session.password = good_key
    session.nonce = b"0" * 32  # not issued by this server
    response = await session.call(REFRESH_REQUEST, [])
    assert session.challenges[-1] == 438
    assert response.message_class == stun.Class.RESPONSE


async def test_401_for_username_not_in_rest_form(turn_server, turn_clock, make_turn_client):
    client = await make_turn_client(turn_server.udp_address)
    session = Session(client, "alice", "whatever")
    response = await session.call(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP)])
    assert error_of(response) == 401


async def test_refresh_refused_once_credentials_expire(turn_server, turn_clock, make_turn_client):
    session = await new_session(turn_server, turn_clock, make_turn_client, ttl=60)
    await allocate(session)
    turn_clock.advance(61)
    assert error_of(await session.call(REFRESH_REQUEST, [])) == 401


async def test_error_responses_after_authentication_are_signed(
    turn_server, turn_clock, make_turn_client
):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    raw = await session.client.request(
        encode(ALLOCATE_REQUEST, tid(), [(REQUESTED_TRANSPORT, UDP)])
    )
    session.nonce = stun.parse_message(raw).attributes["NONCE"]
    raw = await session.client.request(session.signed(ALLOCATE_REQUEST, [], tid()))
    response = stun.parse_message(raw)
    assert error_of(response) == 400  # no REQUESTED-TRANSPORT
    assert response.check_message_integrity(session.key)
    assert has_valid_fingerprint(raw)


# Allocate


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
async def test_allocate_response(turn_server, turn_clock, make_turn_client, protocol):
    session = await new_session(turn_server, turn_clock, make_turn_client, protocol)
    response = await allocate(session)
    assert session.challenges == [401]
    relayed = response.attributes["XOR-RELAYED-ADDRESS"]
    assert relayed[0] == "127.0.0.1" and relayed[1] > 0
    assert response.attributes["XOR-MAPPED-ADDRESS"] == session.client.local_address
    assert response.attributes["LIFETIME"] == 600


async def test_allocate_lifetime_is_clamped(turn_server, turn_clock, make_turn_client):
    for requested, granted in ((30, 600), (1200, 1200), (100000, 3600)):
        # Credentials that outlive every lifetime (an allocation never outlives them).
        session = await new_session(turn_server, turn_clock, make_turn_client, ttl=7200)
        response = await allocate(session, (LIFETIME, struct.pack("!I", requested)))
        assert response.attributes["LIFETIME"] == granted


async def test_allocate_requires_udp_transport(turn_server, turn_clock, make_turn_client):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    assert error_of(await session.call(ALLOCATE_REQUEST, [])) == 400
    tcp = struct.pack("!B3x", 6)
    assert error_of(await session.call(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, tcp)])) == 442
    assert turn_server.allocation_count == 0


async def test_allocate_unknown_required_attribute_is_420(
    turn_server, turn_clock, make_turn_client
):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    response = await session.call(
        ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP), (0x0030, b"\x00\x00\x00\x01")]
    )
    assert error_of(response) == 420
    assert response.check_message_integrity(session.key)
    # Unknown comprehension-optional attributes are ignored.
    await allocate(session, (0x8888, b"ok"))


async def test_duplicate_allocate_437_but_retransmission_cached(
    turn_server, turn_clock, make_turn_client
):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    first = await allocate(session)
    original = session.signed(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP)], first.transaction_id)
    retransmitted = await session.client.request(original)
    again = stun.parse_message(retransmitted)
    assert again.message_class == stun.Class.RESPONSE
    assert again.attributes["XOR-RELAYED-ADDRESS"] == first.attributes["XOR-RELAYED-ADDRESS"]
    duplicate = await session.call(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP)])
    assert error_of(duplicate) == 437
    assert duplicate.check_message_integrity(session.key)
    assert turn_server.allocation_count == 1


async def test_allocate_accepts_turn_options(turn_server, turn_clock, make_turn_client):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    response = await allocate(
        session, (REQUESTED_ADDRESS_FAMILY, b"\x01\x00\x00\x00"), (DONT_FRAGMENT, b"")
    )
    assert response.attributes["XOR-RELAYED-ADDRESS"][1] > 0

    ipv6 = await new_session(turn_server, turn_clock, make_turn_client)
    family = (REQUESTED_ADDRESS_FAMILY, b"\x02\x00\x00\x00")
    assert error_of(await ipv6.call(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP), family])) == 440


async def test_even_port_and_reservation_token(turn_server, turn_clock, make_turn_client):
    rtp = await new_session(turn_server, turn_clock, make_turn_client)
    response = await allocate(rtp, (EVEN_PORT, b"\x80\x00\x00\x00"))
    port = response.attributes["XOR-RELAYED-ADDRESS"][1]
    assert port % 2 == 0
    response_token = None
    for attr_type, value in iter_raw_attributes(rtp.last_raw):
        if attr_type == RESERVATION_TOKEN:
            response_token = value
    assert response_token is not None and len(response_token) == 8

    rtcp = await new_session(turn_server, turn_clock, make_turn_client)
    response = await allocate(rtcp, (RESERVATION_TOKEN, response_token))
    assert response.attributes["XOR-RELAYED-ADDRESS"][1] == port + 1
    # A token is good once.
    again = await new_session(turn_server, turn_clock, make_turn_client)
    attributes = [(REQUESTED_TRANSPORT, UDP), (RESERVATION_TOKEN, response_token)]
    assert error_of(await again.call(ALLOCATE_REQUEST, attributes)) == 508

    plain_even = await new_session(turn_server, turn_clock, make_turn_client)
    response = await allocate(plain_even, (EVEN_PORT, b"\x00\x00\x00\x00"))
    assert response.attributes["XOR-RELAYED-ADDRESS"][1] % 2 == 0


def iter_raw_attributes(data: bytes):
    pos = 20
    while pos + 4 <= len(data):
        attr_type, length = struct.unpack("!HH", data[pos : pos + 4])
        yield attr_type, data[pos + 4 : pos + 4 + length]
        pos += 4 + length + (-length % 4)


async def test_allocation_quotas(make_turn_server, turn_clock, make_turn_client):
    server = await make_turn_server(max_allocations=3, max_allocations_per_user=2)
    for _ in range(2):
        await allocate(await new_session(server, turn_clock, make_turn_client, user="alice"))
    over = await new_session(server, turn_clock, make_turn_client, user="alice")
    assert error_of(await over.call(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP)])) == 486
    await allocate(await new_session(server, turn_clock, make_turn_client, user="bob"))
    over = await new_session(server, turn_clock, make_turn_client, user="carol")
    assert error_of(await over.call(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP)])) == 486
    assert server.allocation_count == 3


# Refresh


async def test_refresh_lifetimes(turn_server, turn_clock, make_turn_client):
    session = await new_session(turn_server, turn_clock, make_turn_client, ttl=3600)
    await allocate(session)
    # Chrome sends no LIFETIME: that means the default.
    response = await session.call(REFRESH_REQUEST, [])
    assert response.attributes["LIFETIME"] == 600
    assert response.check_message_integrity(session.key)
    response = await session.call(REFRESH_REQUEST, [(LIFETIME, struct.pack("!I", 2000))])
    assert response.attributes["LIFETIME"] == 2000
    turn_clock.advance(1999)
    turn_server.sweep()
    assert turn_server.allocation_count == 1
    response = await session.call(REFRESH_REQUEST, [(LIFETIME, struct.pack("!I", 0))])
    assert response.attributes["LIFETIME"] == 0
    assert turn_server.allocation_count == 0
    assert error_of(await session.call(REFRESH_REQUEST, [])) == 437


async def test_refresh_with_other_username_is_441(turn_server, turn_clock, make_turn_client):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    await allocate(session)
    intruder = Session(session.client, *rest_credentials(turn_clock() + 600, "mallory"))
    intruder.nonce = session.nonce
    response = await intruder.call(REFRESH_REQUEST, [])
    assert error_of(response) == 441
    assert response.check_message_integrity(intruder.key)
    # Permissions and channels on someone else's allocation are refused too.
    for method in (CREATE_PERMISSION_REQUEST, CHANNEL_BIND_REQUEST):
        transaction_id = tid()
        attrs = [(0x0012, xor_peer(("127.0.0.1", 9), transaction_id))]
        if method == CHANNEL_BIND_REQUEST:
            attrs.append((CHANNEL_NUMBER, struct.pack("!HH", 0x4000, 0)))
        assert error_of(await intruder.call(method, attrs, transaction_id)) == 441


async def test_allocation_expires_without_refresh(turn_server, turn_clock, make_turn_client):
    session = await new_session(turn_server, turn_clock, make_turn_client, ttl=3600)
    await allocate(session)
    turn_clock.advance(599)
    turn_server.sweep()
    assert turn_server.allocation_count == 1
    turn_clock.advance(2)
    turn_server.sweep()
    assert turn_server.allocation_count == 0
    assert error_of(await session.call(REFRESH_REQUEST, [])) == 437


# CreatePermission, Send and Data indications


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
async def test_send_and_data_indications(
    turn_server, turn_clock, make_turn_client, make_peer, protocol
):
    session = await new_session(turn_server, turn_clock, make_turn_client, protocol)
    relayed = (await allocate(session)).attributes["XOR-RELAYED-ADDRESS"]
    first, second = await make_peer("127.0.0.1"), await make_peer("127.0.0.2")
    # Without a permission nothing is relayed.
    session.client.send(send_indication(first.address, b"too early"))
    response = await permit(session, first.address, second.address)
    assert response.message_class == stun.Class.RESPONSE
    assert response.check_message_integrity(session.key)
    for peer in (first, second):
        payload = f"hello {peer.address}".encode()
        session.client.send(send_indication(peer.address, payload, [(DONT_FRAGMENT, b"")]))
        data, source = await asyncio.wait_for(peer.received.get(), TIMEOUT)
        assert (data, source) == (payload, relayed)  # "too early" never arrived
        indication = stun.parse_message(await session.client.receive())
        assert indication.message_method == stun.Method.DATA
        assert indication.message_class == stun.Class.INDICATION
        assert indication.attributes["XOR-PEER-ADDRESS"] == peer.address
        assert indication.attributes["DATA"] == payload


async def test_data_from_unpermitted_peer_is_dropped(
    turn_server, turn_clock, make_turn_client, make_peer, echo_peer
):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    relayed = (await allocate(session)).attributes["XOR-RELAYED-ADDRESS"]
    stranger = await make_peer("127.0.0.3")
    await permit(session, echo_peer.address)
    stranger.transport.sendto(b"from a stranger", relayed)
    echo_peer.transport.sendto(b"from the peer", relayed)
    indication = stun.parse_message(await session.client.receive())
    assert indication.attributes["DATA"] == b"from the peer"
    assert indication.attributes["XOR-PEER-ADDRESS"] == echo_peer.address


async def test_permission_denied_peer_is_403(
    make_turn_server, turn_clock, make_turn_client, echo_peer
):
    server = await make_turn_server(deny_peers=["127.0.0.2/32"])
    session = await new_session(server, turn_clock, make_turn_client)
    await allocate(session)
    # All or nothing: one denied peer refuses the whole request.
    response = await permit(session, echo_peer.address, ("127.0.0.2", 9))
    assert error_of(response) == 403
    assert error_of(await permit(session, ("169.254.169.254", 80))) == 403
    session.client.send(send_indication(echo_peer.address, b"no permission was installed"))
    assert await no_message(session.client)
    assert echo_peer.received.empty()


async def test_create_permission_without_peer_is_400(turn_server, turn_clock, make_turn_client):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    await allocate(session)
    assert error_of(await session.call(CREATE_PERMISSION_REQUEST, [])) == 400


async def test_permission_expires(turn_server, turn_clock, make_turn_client, echo_peer):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    relayed = (await allocate(session)).attributes["XOR-RELAYED-ADDRESS"]
    await permit(session, echo_peer.address)
    turn_clock.advance(301)
    turn_server.sweep()
    echo_peer.transport.sendto(b"permission expired", relayed)
    assert await no_message(session.client)
    await permit(session, echo_peer.address)
    echo_peer.transport.sendto(b"permission renewed", relayed)
    indication = stun.parse_message(await session.client.receive())
    assert indication.attributes["DATA"] == b"permission renewed"


# ChannelBind and ChannelData


@pytest.mark.parametrize("number", [0x3FFF, 0x8000, 0xFFFF, 0x0000])
async def test_channel_number_out_of_range_is_400(
    turn_server, turn_clock, make_turn_client, echo_peer, number
):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    await allocate(session)
    assert error_of(await bind(session, number, echo_peer.address)) == 400


async def test_channel_bind_rules(turn_server, turn_clock, make_turn_client, make_peer):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    await allocate(session)
    one, two = await make_peer(), await make_peer()
    for number, port in ((0x4000, 10000), (0x7FFF, 10001)):
        response = await bind(session, number, (one.address[0], port))
        assert response.message_class == stun.Class.RESPONSE
    assert (await bind(session, 0x4001, one.address)).message_class == stun.Class.RESPONSE
    # The same pair again is a refresh.
    assert (await bind(session, 0x4001, one.address)).message_class == stun.Class.RESPONSE
    # The number taken by another peer, or the peer by another number: 400.
    assert error_of(await bind(session, 0x4001, two.address)) == 400
    assert error_of(await bind(session, 0x4002, one.address)) == 400
    # A missing CHANNEL-NUMBER too.
    transaction_id = tid()
    peer_only = [(0x0012, xor_peer(one.address, transaction_id))]
    assert error_of(await session.call(CHANNEL_BIND_REQUEST, peer_only, transaction_id)) == 400


@pytest.mark.parametrize("padded", [False, True])
async def test_channel_data_udp(turn_server, turn_clock, make_turn_client, echo_peer, padded):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    relayed = (await allocate(session)).attributes["XOR-RELAYED-ADDRESS"]
    assert (await bind(session, 0x4ABC, echo_peer.address)).message_class == stun.Class.RESPONSE
    for payload in (b"a", b"abcde", b"x" * 1200):
        session.client.send(channel_data(0x4ABC, payload, pad=padded))
        data, source = await asyncio.wait_for(echo_peer.received.get(), TIMEOUT)
        assert (data, source) == (payload, relayed)
        # UDP ChannelData to the client is not padded.
        assert await session.client.receive() == channel_data(0x4ABC, payload)


async def test_channel_data_on_unbound_channel_is_dropped(
    turn_server, turn_clock, make_turn_client, echo_peer
):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    await allocate(session)
    await bind(session, 0x4000, echo_peer.address)
    session.client.send(channel_data(0x4001, b"unbound"))
    session.client.send(channel_data(0x4000, b"truncated")[:-1])
    session.client.send(channel_data(0x4000, b"bound"))
    data, _ = await asyncio.wait_for(echo_peer.received.get(), TIMEOUT)
    assert data == b"bound"


async def test_peer_data_prefers_channel_then_indication(
    turn_server, turn_clock, make_turn_client, make_peer
):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    relayed = (await allocate(session)).attributes["XOR-RELAYED-ADDRESS"]
    bound, unbound = await make_peer(), await make_peer()  # same IP, so one permission
    await bind(session, 0x4000, bound.address)
    bound.transport.sendto(b"via channel", relayed)
    assert await session.client.receive() == channel_data(0x4000, b"via channel")
    unbound.transport.sendto(b"via indication", relayed)
    indication = stun.parse_message(await session.client.receive())
    assert indication.attributes["DATA"] == b"via indication"


async def test_channel_expires(turn_server, turn_clock, make_turn_client, echo_peer):
    session = await new_session(turn_server, turn_clock, make_turn_client, ttl=3600)
    response = await allocate(session, (LIFETIME, struct.pack("!I", 3600)))
    relayed = response.attributes["XOR-RELAYED-ADDRESS"]
    await bind(session, 0x4000, echo_peer.address)
    turn_clock.advance(299)
    turn_server.sweep()
    await permit(session, echo_peer.address)  # keep the permission, let the channel go
    turn_clock.advance(299)
    await permit(session, echo_peer.address)
    turn_clock.advance(3)
    turn_server.sweep()
    echo_peer.transport.sendto(b"after the channel", relayed)
    indication = stun.parse_message(await session.client.receive())
    assert indication.attributes["DATA"] == b"after the channel"
    # The number is free again, for any peer.
    assert (await bind(session, 0x4000, ("127.0.0.1", 9))).message_class == stun.Class.RESPONSE


# Robustness


async def test_fuzzed_input_never_breaks_the_server(
    turn_server, turn_clock, make_turn_client, echo_peer
):
    rng = random.Random(8656)
    session = await new_session(turn_server, turn_clock, make_turn_client)
    await allocate(session)
    await bind(session, 0x4000, echo_peer.address)
    valid = [
        encode(BINDING_REQUEST, tid(), []),
        session.signed(REFRESH_REQUEST, [], tid()),
        session.signed(CHANNEL_BIND_REQUEST, [(CHANNEL_NUMBER, b"\x40\x00\x00\x00")], tid()),
        send_indication(echo_peer.address, b"payload"),
        channel_data(0x4000, b"payload"),
        encode(ALLOCATE_REQUEST, tid(), [(LIFETIME, b"\x00\x01"), (NONCE, b"\xff" * 3)]),
    ]
    for count in range(3000):
        if count % 100 == 0:
            # A round trip now and then: the server still answers, and the socket
            # buffers are drained before the next burst.
            raw = await session.client.request(encode(BINDING_REQUEST, tid(), []))
            assert stun.parse_message(raw).message_class == stun.Class.RESPONSE
        sample = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 4)):
            operation = rng.randrange(3)
            if operation == 0 and sample:
                sample[rng.randrange(len(sample))] = rng.randrange(256)
            elif operation == 1:
                del sample[rng.randrange(len(sample) + 1) :]
            else:
                sample += rng.randbytes(rng.randrange(8))
        session.client.send(bytes(sample))
    session.client.send(bytes(rng.randbytes(rng.randrange(100))) + b"")
    # Still serving: a Binding round trip and a fresh client's allocation.
    raw = await session.client.request(encode(BINDING_REQUEST, tid(), []))
    assert stun.parse_message(raw).message_class == stun.Class.RESPONSE
    await allocate(await new_session(turn_server, turn_clock, make_turn_client, user="bob"))


async def test_tcp_connection_loss_frees_allocation(turn_server, turn_clock, make_turn_client):
    session = await new_session(turn_server, turn_clock, make_turn_client, "tcp")
    await allocate(session)
    assert turn_server.allocation_count == 1
    session.client.close()
    await asyncio.wait_for(session.client.closed.wait(), TIMEOUT)
    for _ in range(200):
        if turn_server.allocation_count == 0:
            break
        await asyncio.sleep(0.01)
    assert turn_server.allocation_count == 0


async def test_tcp_garbage_closes_connection(turn_server, make_turn_client):
    client = await make_turn_client(turn_server.udp_address, "tcp")
    client.send(b"\xff" * 32)
    await asyncio.wait_for(client.closed.wait(), TIMEOUT)


async def test_attributes_after_message_integrity_are_ignored(
    turn_server, turn_clock, make_turn_client, make_peer
):
    session = await new_session(turn_server, turn_clock, make_turn_client)
    await allocate(session)
    signed_peer, smuggled_peer = await make_peer("127.0.0.1"), await make_peer("127.0.0.2")
    transaction_id = tid()
    request = session.signed(
        CREATE_PERMISSION_REQUEST,
        [(0x0012, xor_peer(signed_peer.address, transaction_id))],
        transaction_id,
    )
    # Strip the FINGERPRINT, append an unsigned XOR-PEER-ADDRESS after MESSAGE-INTEGRITY.
    unsigned = struct.pack("!HH", 0x0012, 8) + xor_peer(smuggled_peer.address, transaction_id)
    body = request[20:-8] + unsigned
    request = request[:2] + struct.pack("!H", len(body)) + request[4:20] + body
    response = stun.parse_message(await session.client.request(request))
    assert response.message_class == stun.Class.RESPONSE
    session.client.send(send_indication(smuggled_peer.address, b"smuggled"))
    session.client.send(send_indication(signed_peer.address, b"signed"))
    data, _ = await asyncio.wait_for(signed_peer.received.get(), TIMEOUT)
    assert data == b"signed"
    assert smuggled_peer.received.empty()
