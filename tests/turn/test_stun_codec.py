"""turn_stub's STUN codec (turn_stub/stun.py), byte by byte: the RFC 5769 test vectors, messages
captured from aioice's client and the earlier server (fixtures/packets/stun), round trips, and
malformed input, which must raise ValueError and nothing else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import struct

import pytest

from tests.kit.paths import FIXTURES
from turn_stub import message as msg
from turn_stub import stun
from turn_stub.credentials import long_term_key

PACKETS = FIXTURES / "packets" / "stun"
COOKIE = b"\x21\x12\xa4\x42"


def packet(name: str) -> bytes:
    return (PACKETS / name).read_bytes()


def vector(text: str) -> bytes:
    return bytes.fromhex(text.replace("\n", " "))


# RFC 5769, section 2 (the same bytes as its Appendix A).
SHORT_TERM_PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"
TRANSACTION_ID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
SAMPLE_REQUEST = vector("""
    00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
    00 24 00 04 6e 00 01 ff
    80 29 00 08 93 2f f9 b1 51 26 3b 36
    00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
    00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
    80 28 00 04 e5 7a 3b cf""")
SAMPLE_IPV4_RESPONSE = vector("""
    01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
    00 20 00 08 00 01 a1 47 e1 12 a6 43
    00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
    80 28 00 04 c0 7d 4c 96""")
SAMPLE_IPV6_RESPONSE = vector("""
    01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
    00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
    00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
    80 28 00 04 c8 fb 0b 4c""")
LONG_TERM_REQUEST = vector("""
    00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
    00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
    00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46
                53 54 76 79 36 34 73 41
    00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
    00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66""")
LONG_TERM_USERNAME = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"  # "matorikkusu" in katakana
LONG_TERM_PASSWORD = "TheMatrIX"  # "TheM\u00aatr\u2168x" after SASLprep
LONG_TERM_REALM = "example.org"


def raw_message(message_type: int, *attributes: tuple[int, bytes], **header: int) -> bytes:
    """A message encoded by hand, padding with zeros, so that malformed ones can be made too."""
    body = b"".join(struct.pack("!HH", t, len(v)) + v + bytes(-len(v) % 4) for t, v in attributes)
    length = header.get("length", len(body))
    cookie = header.get("cookie", 0x2112A442)
    return struct.pack("!HHI12s", message_type, length, cookie, TRANSACTION_ID) + body


# RFC 5769 test vectors


def test_sample_request_short_term():
    message = stun.parse_message(SAMPLE_REQUEST)
    assert (message.message_method, message.message_class) == (
        stun.Method.BINDING,
        stun.Class.REQUEST,
    )
    assert message.transaction_id == TRANSACTION_ID
    assert message.attributes["SOFTWARE"] == "STUN test client"
    assert message.attributes["PRIORITY"] == 0x6E0001FF
    assert message.attributes["USERNAME"] == "evtj:h6vY"  # padded with spaces, not zeros
    assert message.attributes["FINGERPRINT"] == 0xE57A3BCF
    # ICE-CONTROLLED is comprehension-optional and unknown to this codec: skipped.
    assert "ICE-CONTROLLED" not in message.attributes and message.unknown_required == []
    assert message.check_message_integrity(SHORT_TERM_PASSWORD)
    assert not message.check_message_integrity(b"VOkJxbRl1RmTxUk/WvJxBT")


@pytest.mark.parametrize(
    ("data", "mapped"),
    [
        (SAMPLE_IPV4_RESPONSE, ("192.0.2.1", 32853)),
        (SAMPLE_IPV6_RESPONSE, ("2001:db8:1234:5678:11:2233:4455:6677", 32853)),
    ],
    ids=["ipv4", "ipv6"],
)
def test_sample_responses(data, mapped):
    message = stun.parse_message(data)
    assert message.message_class == stun.Class.RESPONSE
    assert message.attributes["SOFTWARE"] == "test vector"
    assert message.attributes["XOR-MAPPED-ADDRESS"] == mapped
    assert message.check_message_integrity(SHORT_TERM_PASSWORD)
    # Encoded again (zero padding, where the RFC pads with spaces), it checks out the same.
    again = stun.parse_message(message.encode(SHORT_TERM_PASSWORD))
    assert again.attributes["XOR-MAPPED-ADDRESS"] == mapped
    assert again.check_message_integrity(SHORT_TERM_PASSWORD)


def test_sample_request_long_term():
    key = hashlib.md5(
        f"{LONG_TERM_USERNAME}:{LONG_TERM_REALM}:{LONG_TERM_PASSWORD}".encode()
    ).digest()
    assert long_term_key(LONG_TERM_USERNAME, LONG_TERM_REALM, LONG_TERM_PASSWORD) == key
    message = stun.parse_message(LONG_TERM_REQUEST)
    assert message.attributes["USERNAME"] == LONG_TERM_USERNAME
    assert message.attributes["NONCE"] == b"f//499k954d6OL34oL9FSTvy64sA"
    assert message.attributes["REALM"] == LONG_TERM_REALM
    assert "FINGERPRINT" not in message.attributes
    assert message.check_message_integrity(key)
    assert not message.check_message_integrity(hashlib.md5(b"x:example.org:TheMatrIX").digest())
    # Its padding is zeros, so the encoder gives back the very same bytes.
    assert message.encode(key, fingerprint=False) == LONG_TERM_REQUEST


@pytest.mark.parametrize(
    "data", [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE], ids=["req", "v4", "v6"]
)
def test_integrity_and_fingerprint_functions_on_the_vectors(data):
    integrity_at = len(data) - 8 - 24
    mac = data[integrity_at + 4 : integrity_at + 24]
    assert stun.message_integrity(data[:integrity_at], SHORT_TERM_PASSWORD) == mac
    assert stun.message_fingerprint(data[:-8]) == int.from_bytes(data[-4:], "big")


# Captured messages: aioice's TURN client and the turn_stub of before this codec

SECRET, USERNAME, REALM = "fixture-secret", "2000000000:alice", "orga-emulator"
TURN_KEY = hashlib.md5(
    f"{USERNAME}:{REALM}:"
    f"{base64.b64encode(hmac.digest(SECRET.encode(), USERNAME.encode(), 'sha1')).decode()}".encode()
).digest()
SIGNED = [
    "allocate_request_signed.bin",
    "allocate_success.bin",
    "channel_bind_request.bin",
    "channel_bind_success.bin",
    "refresh_delete_request.bin",
    "refresh_delete_success.bin",
]
CAPTURED = sorted(
    path.name for path in PACKETS.glob("*.bin") if path.name not in ("channel_data.bin",)
)


def test_the_fixtures_are_there():
    assert len(CAPTURED) == 13 and set(SIGNED) <= set(CAPTURED)


@pytest.mark.parametrize("name", SIGNED)
def test_captured_turn_messages_are_signed_with_the_long_term_key(name):
    message = stun.parse_message(packet(name))
    assert message.check_message_integrity(TURN_KEY)
    assert not message.check_message_integrity(hashlib.md5(b"wrong").digest())
    if message.message_class == stun.Class.REQUEST:
        assert message.attributes["USERNAME"] == USERNAME
        assert message.attributes["REALM"] == REALM


def test_captured_allocation():
    request = stun.parse_message(packet("allocate_request.bin"))
    assert (request.message_method, request.message_class) == (
        stun.Method.ALLOCATE,
        stun.Class.REQUEST,
    )
    assert request.attributes == {"LIFETIME": 600, "REQUESTED-TRANSPORT": 17}
    assert not request.check_message_integrity(TURN_KEY)  # no MESSAGE-INTEGRITY at all

    challenge = stun.parse_message(packet("allocate_401.bin"))
    assert challenge.transaction_id == request.transaction_id
    assert challenge.message_class == stun.Class.ERROR
    assert challenge.attributes["ERROR-CODE"] == (401, "Unauthorized")
    assert challenge.attributes["REALM"] == REALM
    assert "MESSAGE-INTEGRITY" not in challenge.attributes

    signed = stun.parse_message(packet("allocate_request_signed.bin"))
    assert signed.attributes["NONCE"] == challenge.attributes["NONCE"]
    assert signed.attributes["LIFETIME"] == 600

    success = stun.parse_message(packet("allocate_success.bin"))
    assert success.transaction_id == signed.transaction_id
    assert success.message_class == stun.Class.RESPONSE
    assert success.attributes["XOR-RELAYED-ADDRESS"][0] == "127.0.0.1"
    mapped = success.attributes["XOR-MAPPED-ADDRESS"]
    assert mapped[0] == "127.0.0.1"
    assert stun.parse_message(packet("binding_success.bin")).attributes["XOR-MAPPED-ADDRESS"] == (
        mapped  # the same client, as the server sees it
    )


def test_captured_channel_bind_refresh_and_indications():
    bind = stun.parse_message(packet("channel_bind_request.bin"))
    assert bind.message_method == stun.Method.CHANNEL_BIND
    assert bind.attributes["CHANNEL-NUMBER"] == 0x4000
    assert bind.attributes["XOR-PEER-ADDRESS"][0] == "127.0.0.1"
    assert stun.parse_message(packet("refresh_delete_request.bin")).attributes["LIFETIME"] == 0

    indication = stun.parse_message(packet("data_indication.bin"))
    assert (indication.message_method, indication.message_class) == (
        stun.Method.DATA,
        stun.Class.INDICATION,
    )
    assert indication.attributes["DATA"] == b"from a peer without a channel"
    # The relay path's direct encoder writes exactly these bytes.
    peer = indication.attributes["XOR-PEER-ADDRESS"]
    assert msg.data_indication(
        peer, b"from a peer without a channel", indication.transaction_id
    ) == (packet("data_indication.bin"))

    send = stun.parse_message(packet("send_indication_ipv6.bin"))
    assert send.message_method == stun.Method.SEND
    assert send.attributes == {"XOR-PEER-ADDRESS": ("2001:db8::1", 5000), "DATA": b"odd"}


def test_captured_ice_check():
    check = stun.parse_message(packet("ice_check.bin"))
    assert check.attributes["USERNAME"] == "remoteufrag:localufrag"
    assert check.attributes["PRIORITY"] == 1853824767
    assert check.attributes["USE-CANDIDATE"] is None and "USE-CANDIDATE" in check.attributes
    assert check.unknown_required == []  # ICE-CONTROLLING is optional: skipped
    assert check.check_message_integrity(b"remote-ice-password-0123")


@pytest.mark.parametrize("name", [n for n in CAPTURED if n != "ice_check.bin"])
def test_captured_messages_encode_back_to_the_same_bytes(name):
    """Same order, zero padding, same MESSAGE-INTEGRITY and FINGERPRINT: for the responses,
    the new encoder writes what the aioice-based server wrote."""
    data = packet(name)
    message = stun.parse_message(data)
    key = TURN_KEY if "MESSAGE-INTEGRITY" in message.attributes else None
    assert message.encode(key, fingerprint="FINGERPRINT" in message.attributes) == data


def test_reply_encodes_a_signed_error_like_the_old_server():
    request = stun.parse_message(packet("allocate_request_signed.bin"))
    data = msg.error(437, TURN_KEY).encode(request)
    reply = stun.parse_message(data)
    assert reply.transaction_id == request.transaction_id
    assert (reply.message_method, reply.message_class) == (stun.Method.ALLOCATE, stun.Class.ERROR)
    assert reply.attributes["ERROR-CODE"] == (437, "Allocation Mismatch")
    assert reply.check_message_integrity(TURN_KEY)
    assert list(reply.attributes) == ["ERROR-CODE", "MESSAGE-INTEGRITY", "FINGERPRINT"]


# Encoding and parsing, attribute by attribute

SAMPLES = {
    "MAPPED-ADDRESS": ("192.0.2.1", 32853),
    "USERNAME": "1700000000:b\u00f6b",
    "ERROR-CODE": (438, "Stale Nonce"),
    "UNKNOWN-ATTRIBUTES": [0x7F01, 0x0030, 0x001C],
    "CHANNEL-NUMBER": 0x7FFF,
    "LIFETIME": 3600,
    "XOR-PEER-ADDRESS": ("2001:db8::9", 65535),
    "DATA": bytes(range(7)),
    "REALM": "realm",
    "NONCE": b"nonce-bytes",
    "XOR-RELAYED-ADDRESS": ("203.0.113.7", 50000),
    "REQUESTED-ADDRESS-FAMILY": stun.IPV6,
    "EVEN-PORT": True,
    "REQUESTED-TRANSPORT": 17,
    "DONT-FRAGMENT": None,
    "XOR-MAPPED-ADDRESS": ("fe80::1:2", 1),
    "RESERVATION-TOKEN": bytes(range(8)),
    "PRIORITY": 0xFFFFFFFF,
    "USE-CANDIDATE": None,
    "SOFTWARE": "orga",
}


def test_every_attribute_of_the_table_round_trips():
    assert set(SAMPLES) | {"MESSAGE-INTEGRITY", "FINGERPRINT"} == set(stun.BY_NAME)
    original = stun.Message(stun.Method.ALLOCATE, stun.Class.REQUEST, attributes=dict(SAMPLES))
    data = original.encode(b"key")
    assert len(data) % 4 == 0 and int.from_bytes(data[2:4], "big") == len(data) - 20
    parsed = stun.parse_message(data)
    assert parsed.transaction_id == original.transaction_id
    assert list(parsed.attributes) == [*SAMPLES, "MESSAGE-INTEGRITY", "FINGERPRINT"]
    assert {name: parsed.attributes[name] for name in SAMPLES} == SAMPLES
    assert parsed.check_message_integrity(b"key")
    assert parsed.unknown_required == []


def test_xor_addresses_on_the_wire():
    message = stun.Message(
        stun.Method.BINDING,
        stun.Class.RESPONSE,
        TRANSACTION_ID,
        {"XOR-MAPPED-ADDRESS": ("192.0.2.1", 32853)},
    )
    # RFC 5769 section 2.2's XOR-MAPPED-ADDRESS.
    assert message.encode(fingerprint=False)[20:] == bytes.fromhex("002000080001a147e112a643")
    assert stun.xor_address(stun.xor_address(b"\x00\x01abcdef", b"t" * 12), b"t" * 12) == (
        b"\x00\x01abcdef"
    )


@pytest.mark.parametrize(
    ("method", "message_class", "message_type"),
    [
        (stun.Method.BINDING, stun.Class.REQUEST, 0x0001),
        (stun.Method.BINDING, stun.Class.RESPONSE, 0x0101),
        (stun.Method.ALLOCATE, stun.Class.ERROR, 0x0113),
        (stun.Method.SEND, stun.Class.INDICATION, 0x0016),
        (stun.Method.DATA, stun.Class.INDICATION, 0x0017),
        (stun.Method.CHANNEL_BIND, stun.Class.RESPONSE, 0x0109),
        (0xFFF, stun.Class.REQUEST, 0x3EEF),  # the method bits around the class bits
        (0x080, stun.Class.ERROR, 0x0310),
    ],
)
def test_message_types(method, message_class, message_type):
    assert stun.message_type(method, message_class) == message_type


def test_repeated_unknown_and_uncovered_attributes():
    peer = stun.Message(stun.Method.BINDING, stun.Class.REQUEST, TRANSACTION_ID)
    first = ("127.0.0.1", 1000)
    second = ("127.0.0.2", 2000)
    xor_peers = [
        stun.xor_address(stun.pack_address(address), peer.transaction_id)
        for address in (first, second)
    ]
    data = raw_message(
        0x0008,
        (0x0012, xor_peers[0]),
        (0x7F01, b"?"),  # unknown, comprehension-required
        (0x0012, xor_peers[1]),
        (0xC001, b"ignored"),  # unknown, comprehension-optional
        (0x0030, b""),
    )
    message = stun.parse_message(data)
    assert message.message_method == stun.Method.CREATE_PERMISSION
    assert message.attributes["XOR-PEER-ADDRESS"] == first  # the first one counts
    assert message.all_values("XOR-PEER-ADDRESS") == [first, second]
    assert message.all_values("DATA") == []
    assert message.unknown_required == [0x7F01, 0x0030]

    # After MESSAGE-INTEGRITY only FINGERPRINT is read (RFC 8489 section 14.5).
    signed = stun.Message(stun.Method.BINDING, stun.Class.REQUEST, attributes={"LIFETIME": 1})
    data = signed.encode(b"key", fingerprint=False)
    data += bytes.fromhex("000d0004000000027f020000")  # LIFETIME 2, an unknown 0x7F02
    data = stun.set_body_length(data, len(data) - 20)
    message = stun.parse_message(data)
    assert message.attributes["LIFETIME"] == 1 and message.unknown_required == []
    assert message.check_message_integrity(b"key")


def test_integrity_detects_tampering():
    request = stun.Message(stun.Method.REFRESH, stun.Class.REQUEST, attributes={"LIFETIME": 600})
    data = bytearray(request.encode(b"key", fingerprint=False))
    assert stun.parse_message(bytes(data)).check_message_integrity(b"key")
    data[-25] ^= 1  # the LIFETIME value
    message = stun.parse_message(bytes(data))
    assert message.attributes["LIFETIME"] == 601
    assert not message.check_message_integrity(b"key")


# Malformed input: ValueError, always


def overrunning() -> bytes:
    data = bytearray(raw_message(0x0001, (0x0013, b"abcd")))
    data[23] = 5  # DATA claims 5 bytes where the message has 4 left
    return bytes(data)


def unaligned() -> bytes:
    return struct.pack("!HHI12s", 0x0001, 6, 0x2112A442, TRANSACTION_ID) + b"\x00\x13\x00\x02ab"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "shorter than its header", id="empty"),
        pytest.param(SAMPLE_REQUEST[:19], "shorter than its header", id="short-header"),
        pytest.param(SAMPLE_REQUEST[:-4], "length 88 for 84", id="truncated"),
        pytest.param(SAMPLE_REQUEST + bytes(4), "length 88 for 92", id="trailing-bytes"),
        pytest.param(raw_message(0x0001, length=4), "length 4 for 0", id="length-past-the-end"),
        pytest.param(unaligned(), "length 6 for 6", id="length-not-multiple-of-4"),
        pytest.param(raw_message(0x0001, cookie=0x2112A443), "not a STUN", id="bad-cookie"),
        pytest.param(raw_message(0x4001), "not a STUN", id="leading-bits-01"),
        pytest.param(raw_message(0x8001), "not a STUN", id="leading-bits-10"),
        pytest.param(packet("channel_data.bin"), "not a STUN", id="channel-data"),
        pytest.param(raw_message(0x000A), "not a valid Method", id="unknown-method"),
        pytest.param(overrunning(), "overruns", id="attribute-overruns"),
        pytest.param(SAMPLE_REQUEST[:-1] + b"\x00", "FINGERPRINT", id="bad-fingerprint"),
        pytest.param(raw_message(1, (0x8028, b"\x00\x00")), "32-bit", id="short-fingerprint"),
        pytest.param(raw_message(1, (0x000D, b"\x00\x00\x02")), "32-bit", id="short-lifetime"),
        pytest.param(raw_message(1, (0x0024, bytes(8))), "32-bit", id="long-priority"),
        pytest.param(raw_message(1, (0x0020, b"\x00\x03" + bytes(6))), "IPv4", id="bad-family"),
        pytest.param(raw_message(1, (0x0020, b"\x00\x01" + bytes(18))), "IPv4", id="ipv4-size"),
        pytest.param(raw_message(1, (0x0012, b"\x00\x02" + bytes(6))), "IPv6", id="ipv6-size"),
        pytest.param(raw_message(1, (0x0001, b"\x00")), "IPv4", id="one-byte-address"),
        pytest.param(raw_message(1, (0x0006, b"\xff\xfe")), "utf-8", id="username-not-utf8"),
        pytest.param(raw_message(1, (0x8022, b"\xc3")), "utf-8", id="software-not-utf8"),
        pytest.param(raw_message(0x0111, (0x0009, bytes(3))), "ERROR-CODE", id="short-error"),
        pytest.param(raw_message(0x0111, (0x000A, bytes(3))), "UNKNOWN-ATTR", id="odd-unknown"),
        pytest.param(raw_message(9, (0x000C, b"\x40\x00")), "CHANNEL-NUMBER", id="short-channel"),
        pytest.param(raw_message(3, (0x0019, b"\x11")), "byte-and-reserved", id="short-transport"),
        pytest.param(raw_message(3, (0x0017, b"")), "byte-and-reserved", id="empty-family"),
        pytest.param(raw_message(3, (0x0018, b"")), "EVEN-PORT", id="empty-even-port"),
    ],
)
def test_malformed_messages_raise_value_error(data, reason):
    with pytest.raises(ValueError, match=reason):
        stun.parse_message(data)


@pytest.mark.parametrize("name", CAPTURED)
def test_every_truncation_raises_value_error(name):
    data = packet(name)
    for end in range(len(data)):
        with pytest.raises(ValueError):
            stun.parse_message(data[:end])


@pytest.mark.parametrize("name", CAPTURED)
def test_corrupted_bytes_parse_or_raise_value_error(name):
    """Any single corrupted byte gives a message or a ValueError: never another exception."""
    data = packet(name)
    rng = random.Random(name)
    for _ in range(300):
        corrupted = bytearray(data)
        corrupted[rng.randrange(len(data))] = rng.randrange(256)
        try:
            stun.parse_message(bytes(corrupted))
        except ValueError:
            pass
