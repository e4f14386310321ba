"""STUN message framing shared by the server: attribute scanning and encoding.

Decoding of known attributes and MESSAGE-INTEGRITY checks use ``aioice.stun``.
aioice keeps its attribute tables in module-level dicts and only knows the
attributes an ICE agent and TURN client need; parse_message() silently skips the
rest and keeps only the last of repeated attributes. Rather than registering
extra entries in aioice's global tables (which would change what aioice clients
in the same process parse), this module scans the raw attribute list itself for
what a server needs beyond that: every XOR-PEER-ADDRESS, EVEN-PORT,
REQUESTED-ADDRESS-FAMILY, DONT-FRAGMENT, RESERVATION-TOKEN, and unknown
comprehension-required attributes. Responses are encoded here from raw
(type, value) pairs for the same reason, with aioice's pack, integrity and
fingerprint helpers.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from aioice import stun

HEADER_LENGTH = stun.HEADER_LENGTH
MAGIC_COOKIE = stun.COOKIE

# Attribute types (RFC 8489 section 18.3, RFC 8656 section 18).
MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
UNKNOWN_ATTRIBUTES = 0x000A
CHANNEL_NUMBER = 0x000C
LIFETIME = 0x000D
XOR_PEER_ADDRESS = 0x0012
DATA = 0x0013
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
REQUESTED_ADDRESS_FAMILY = 0x0017
EVEN_PORT = 0x0018
REQUESTED_TRANSPORT = 0x0019
DONT_FRAGMENT = 0x001A
XOR_MAPPED_ADDRESS = 0x0020
RESERVATION_TOKEN = 0x0022
PRIORITY = 0x0024
USE_CANDIDATE = 0x0025
SOFTWARE = 0x8022
FINGERPRINT = 0x8028

# Comprehension-required attributes (< 0x8000) this server understands; any
# other one in a request earns a 420 (RFC 8489 section 6.3.1). PRIORITY and
# USE-CANDIDATE are tolerated so that ICE-style Binding requests still work.
KNOWN_REQUIRED = frozenset(
    {
        MAPPED_ADDRESS,
        USERNAME,
        MESSAGE_INTEGRITY,
        ERROR_CODE,
        CHANNEL_NUMBER,
        LIFETIME,
        XOR_PEER_ADDRESS,
        DATA,
        REALM,
        NONCE,
        XOR_RELAYED_ADDRESS,
        REQUESTED_ADDRESS_FAMILY,
        EVEN_PORT,
        REQUESTED_TRANSPORT,
        DONT_FRAGMENT,
        XOR_MAPPED_ADDRESS,
        RESERVATION_TOKEN,
        PRIORITY,
        USE_CANDIDATE,
    }
)

REASONS = {
    300: "Try Alternate",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    420: "Unknown Attribute",
    437: "Allocation Mismatch",
    438: "Stale Nonce",
    440: "Address Family not Supported",
    441: "Wrong Credentials",
    442: "Unsupported Transport Protocol",
    443: "Peer Address Family Mismatch",
    486: "Allocation Quota Reached",
    500: "Server Error",
    508: "Insufficient Capacity",
}

_HEADER = struct.Struct("!HHI12s")
_ATTR_HEADER = struct.Struct("!HH")


def is_stun(data: bytes) -> bool:
    """True for a STUN message with the RFC 5389+ magic cookie (RFC 3489 is not served)."""
    return (
        len(data) >= HEADER_LENGTH
        and data[0] < 0x40
        and data[4:8] == b"\x21\x12\xa4\x42"
        and len(data) == HEADER_LENGTH + ((data[2] << 8) | data[3])
    )


def iter_attributes(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (type, value) for every attribute, in order, repeated ones included.

    Attributes after MESSAGE-INTEGRITY, except FINGERPRINT, are not covered by it,
    so they are skipped (RFC 8489 section 14.5), as aioice's parser does.
    """
    pos = HEADER_LENGTH
    end = len(data)
    integrity_seen = False
    while pos + 4 <= end:
        attr_type, attr_len = _ATTR_HEADER.unpack_from(data, pos)
        value = data[pos + 4 : pos + 4 + attr_len]
        if len(value) != attr_len:
            raise ValueError("STUN attribute overruns the message")
        if not integrity_seen or attr_type == FINGERPRINT:
            yield attr_type, value
        integrity_seen = integrity_seen or attr_type == MESSAGE_INTEGRITY
        pos += 4 + attr_len + stun.padding_length(attr_len)


def xor_address(value: tuple[str, int], transaction_id: bytes) -> bytes:
    return stun.pack_xor_address(value, transaction_id)


def encode(
    message_type: int,
    transaction_id: bytes,
    attributes: list[tuple[int, bytes]],
    integrity_key: bytes | None = None,
) -> bytes:
    """Encode a STUN message, then MESSAGE-INTEGRITY (if keyed) and FINGERPRINT."""
    body = b"".join(
        _ATTR_HEADER.pack(t, len(v)) + v + bytes(stun.padding_length(len(v))) for t, v in attributes
    )
    data = _HEADER.pack(message_type, len(body), MAGIC_COOKIE, transaction_id) + body
    if integrity_key is not None:
        # message_integrity() fixes up the length to cover the attribute itself.
        data = _append(data, MESSAGE_INTEGRITY, stun.message_integrity(data, integrity_key))
    return _append(data, FINGERPRINT, struct.pack("!I", stun.message_fingerprint(data)))


def _append(data: bytes, attr_type: int, value: bytes) -> bytes:
    data += _ATTR_HEADER.pack(attr_type, len(value)) + value
    return stun.set_body_length(data, len(data) - HEADER_LENGTH)


@dataclass(frozen=True)
class Reply:
    """What a request handler answers: a success (code 0) or an error, with its attributes.

    The server encodes it for the request and signs it with `key` (RFC 8489 section 9.2.4:
    errors after a successful authentication are signed too, or clients such as aioice discard
    them and time out).
    """

    code: int = 0
    attributes: tuple[tuple[int, bytes], ...] = ()
    key: bytes | None = None

    def encode(self, request: stun.Message) -> bytes:
        if self.code:
            message_type = request.message_method | stun.Class.ERROR
            attributes = [(ERROR_CODE, error_code(self.code)), *self.attributes]
        else:
            message_type = request.message_method | stun.Class.RESPONSE
            attributes = list(self.attributes)
        return encode(message_type, request.transaction_id, attributes, self.key)


def success(key: bytes | None, *attributes: tuple[int, bytes]) -> Reply:
    return Reply(0, attributes, key)


def error(code: int, key: bytes | None = None, *attributes: tuple[int, bytes]) -> Reply:
    return Reply(code, attributes, key)


def unknown_required(attributes: list[tuple[int, bytes]]) -> list[int]:
    """Comprehension-required attributes this server does not know (answered with 420)."""
    return [t for t, _ in attributes if t < 0x8000 and t not in KNOWN_REQUIRED]


def first(attributes: list[tuple[int, bytes]], attr_type: int) -> bytes | None:
    for t, value in attributes:
        if t == attr_type:
            return value
    return None


def error_code(code: int) -> bytes:
    return stun.pack_error_code((code, REASONS.get(code, "Error")))


def unknown_attributes(types: list[int]) -> bytes:
    return b"".join(struct.pack("!H", t) for t in types)


_PADDING = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")
_DATA_INDICATION = struct.Struct("!HHI12sHHBBHIHH")
_DATA_INDICATION_TYPE = 0x0017  # Data method (0x007), indication class


def padding(length: int) -> bytes:
    """Zero bytes that round ``length`` up to a multiple of 4."""
    return _PADDING[length & 3]


def data_indication(peer: tuple[str, int], payload: bytes, transaction_id: bytes) -> bytes:
    """Encode a Data indication from an IPv4 peer directly, as it is on the relay path.

    For IPv4 the XOR-PEER-ADDRESS only depends on the magic cookie, not on the
    transaction ID, so it is a couple of integer XORs.
    """
    length = len(payload)
    return (
        _DATA_INDICATION.pack(
            _DATA_INDICATION_TYPE,
            16 + length + ((-length) & 3),
            MAGIC_COOKIE,
            transaction_id,
            XOR_PEER_ADDRESS,
            8,
            0,
            stun.IPV4_PROTOCOL,
            peer[1] ^ (MAGIC_COOKIE >> 16),
            int.from_bytes(socket.inet_aton(peer[0]), "big") ^ MAGIC_COOKIE,
            DATA,
            length,
        )
        + payload
        + _PADDING[length & 3]
    )
