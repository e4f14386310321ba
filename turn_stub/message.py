"""What the server sends: a Reply to a request, and Data indications on the relay path.

The wire format itself (attributes, MESSAGE-INTEGRITY, FINGERPRINT) is stun.py's.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Any

from . import stun

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

Attributes = tuple[tuple[str, Any], ...]  # (RFC name, value) pairs, as stun.ATTRIBUTES encodes


@dataclass(frozen=True)
class Reply:
    """What a request handler answers: a success (code 0) or an error, with its attributes.

    The server encodes it for the request and signs it with `key` (RFC 8489 section 9.2.4:
    errors after a successful authentication are signed too, or clients such as aioice discard
    them and time out).
    """

    code: int = 0
    attributes: Attributes = ()
    key: bytes | None = None

    def encode(self, request: stun.Message) -> bytes:
        attributes = dict(self.attributes)
        if self.code:
            message_class = stun.Class.ERROR
            error_code = (self.code, REASONS.get(self.code, "Error"))
            attributes = {"ERROR-CODE": error_code, **attributes}
        else:
            message_class = stun.Class.RESPONSE
        reply = stun.Message(
            request.message_method, message_class, request.transaction_id, attributes
        )
        return reply.encode(self.key)


def success(key: bytes | None, *attributes: tuple[str, Any]) -> Reply:
    return Reply(0, attributes, key)


def error(code: int, key: bytes | None = None, *attributes: tuple[str, Any]) -> Reply:
    return Reply(code, attributes, key)


_DATA_INDICATION = struct.Struct("!HHI12sHHBBHIHH")
_DATA_INDICATION_TYPE = stun.message_type(stun.Method.DATA, stun.Class.INDICATION)
_XOR_PEER_ADDRESS = stun.BY_NAME["XOR-PEER-ADDRESS"].type
_DATA = stun.BY_NAME["DATA"].type


def data_indication(peer: tuple[str, int], payload: bytes, transaction_id: bytes) -> bytes:
    """A Data indication from an IPv4 peer, encoded directly, as it is on the relay path.

    The same bytes as stun.Message(...).encode(fingerprint=False), faster: for IPv4 the
    XOR-PEER-ADDRESS only depends on the magic cookie, so it is a couple of integer XORs.
    """
    length = len(payload)
    cookie = stun.COOKIE
    return (
        _DATA_INDICATION.pack(
            _DATA_INDICATION_TYPE,
            16 + length + stun.padding_length(length),
            cookie,
            transaction_id,
            _XOR_PEER_ADDRESS,
            8,
            0,
            stun.IPV4,
            peer[1] ^ (cookie >> 16),
            int.from_bytes(socket.inet_aton(peer[0]), "big") ^ cookie,
            _DATA,
            length,
        )
        + payload
        + stun.padding(length)
    )
