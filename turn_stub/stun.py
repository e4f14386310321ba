"""STUN messages (RFC 8489) with the TURN methods and attributes (RFC 8656): turn_stub's codec.

ATTRIBUTES is the one table of the attributes this server knows: each row gives the type, the
RFC name, and the functions that encode and parse the value. A Message holds the attributes by
name, in order. parse_message() raises ValueError for anything that is not a well-formed
message, checks FINGERPRINT, and keeps what MESSAGE-INTEGRITY covers so that
Message.check_message_integrity() can check it once the credentials give a key;
Message.encode() writes a message, signed when given a key.
"""

from __future__ import annotations

import binascii
import enum
import hmac
import ipaddress
import os
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

HEADER_LENGTH = 20
COOKIE = 0x2112A442  # the magic cookie (RFC 8489 section 5); RFC 3489 messages have none
FINGERPRINT_XOR = 0x5354554E  # "STUN" (RFC 8489 section 14.7)
INTEGRITY_LENGTH = 24  # the MESSAGE-INTEGRITY attribute: 4-byte header, HMAC-SHA1
FINGERPRINT_LENGTH = 8
IPV4 = 0x01  # address families (RFC 8489 section 14.1, RFC 8656 section 18.8)
IPV6 = 0x02

_HEADER = struct.Struct("!HHI12s")
_ATTRIBUTE_HEADER = struct.Struct("!HH")
_U32 = struct.Struct("!I")
_PADDING = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")
# What XOR-ed addresses are XOR-ed with, from the port on (RFC 8489 section 14.2): the top half
# of the cookie for the port, then the cookie (IPv4), or the cookie and transaction ID (IPv6).
_PORT_AND_COOKIE = struct.pack("!HI", COOKIE >> 16, COOKIE)


class Class(enum.IntEnum):
    """The class bits (C1 and C0) where they sit in the message type."""

    REQUEST = 0x000
    INDICATION = 0x010
    RESPONSE = 0x100
    ERROR = 0x110


class Method(enum.IntEnum):
    BINDING = 0x001
    SHARED_SECRET = 0x002  # RFC 3489 only: known so that a request for it is refused, not dropped
    ALLOCATE = 0x003  # the TURN methods (RFC 8656 section 17)
    REFRESH = 0x004
    SEND = 0x006
    DATA = 0x007
    CREATE_PERMISSION = 0x008
    CHANNEL_BIND = 0x009


def message_type(method: int, message_class: int) -> int:
    """The 14-bit message type: the 12 method bits with the class bits between them."""
    return (method & 0x000F) | (method & 0x0070) << 1 | (method & 0x0F80) << 2 | message_class


def padding_length(length: int) -> int:
    """Values are padded to a multiple of 4 bytes."""
    return -length & 3


def padding(length: int) -> bytes:
    """The zero bytes that pad a value of ``length`` bytes."""
    return _PADDING[length & 3]


def set_body_length(data: bytes, length: int) -> bytes:
    """``data`` with another message length in its header."""
    return data[:2] + length.to_bytes(2, "big") + data[4:]


def message_integrity(data: bytes, key: bytes) -> bytes:
    """HMAC-SHA1 of the message up to MESSAGE-INTEGRITY, its length counting the attribute
    (RFC 8489 section 14.5). The long-term credential key is MD5(username:realm:password)."""
    covered = set_body_length(data, len(data) - HEADER_LENGTH + INTEGRITY_LENGTH)
    return hmac.digest(key, covered, "sha1")


def message_fingerprint(data: bytes) -> int:
    """CRC-32 of the message up to FINGERPRINT, its length counting the attribute, XOR "STUN"
    (RFC 8489 section 14.7)."""
    covered = set_body_length(data, len(data) - HEADER_LENGTH + FINGERPRINT_LENGTH)
    return binascii.crc32(covered) ^ FINGERPRINT_XOR


# Attribute values: pack_* encodes one, unpack_* parses one or raises ValueError.


def pack_address(value: tuple[str, int]) -> bytes:
    ip = ipaddress.ip_address(value[0])
    family = IPV4 if ip.version == 4 else IPV6
    return struct.pack("!xBH", family, value[1]) + ip.packed


def unpack_address(data: bytes) -> tuple[str, int]:
    if len(data) == 8 and data[1] == IPV4:
        host = str(ipaddress.IPv4Address(data[4:]))
    elif len(data) == 20 and data[1] == IPV6:
        host = str(ipaddress.IPv6Address(data[4:]))
    else:
        raise ValueError("STUN address is neither IPv4 in 8 bytes nor IPv6 in 20")
    return host, int.from_bytes(data[2:4], "big")


def xor_address(data: bytes, transaction_id: bytes) -> bytes:
    """An encoded address to or from its XOR-ed form: the bytes from the port on, XOR-ed."""
    rest = data[2:]
    mask = (_PORT_AND_COOKIE + transaction_id)[: len(rest)]
    xored = int.from_bytes(rest, "big") ^ int.from_bytes(mask, "big")
    return data[:2] + xored.to_bytes(len(rest), "big")


def pack_unsigned(value: int) -> bytes:
    return _U32.pack(value)


def unpack_unsigned(data: bytes) -> int:
    if len(data) != 4:
        raise ValueError(f"STUN 32-bit value is {len(data)} bytes")
    return int.from_bytes(data, "big")


def pack_leading_byte(value: int) -> bytes:
    """REQUESTED-TRANSPORT (a protocol number) and REQUESTED-ADDRESS-FAMILY: a byte, then 3
    reserved."""
    return bytes((value, 0, 0, 0))


def unpack_leading_byte(data: bytes) -> int:
    if len(data) != 4:
        raise ValueError(f"STUN byte-and-reserved value is {len(data)} bytes")
    return data[0]


def pack_channel_number(value: int) -> bytes:
    return struct.pack("!H2x", value)


def unpack_channel_number(data: bytes) -> int:
    if len(data) != 4:
        raise ValueError(f"STUN CHANNEL-NUMBER is {len(data)} bytes")
    return int.from_bytes(data[:2], "big")


def pack_even_port(reserve_next: bool) -> bytes:
    return b"\x80" if reserve_next else b"\x00"


def unpack_even_port(data: bytes) -> bool:
    """The R bit: reserve the next port too. One byte, though some clients send four."""
    if not data:
        raise ValueError("STUN EVEN-PORT is empty")
    return bool(data[0] & 0x80)


def pack_flag(value: None) -> bytes:
    return b""


def unpack_flag(data: bytes) -> None:
    """DONT-FRAGMENT and USE-CANDIDATE say it by being there; they have no value to read."""
    return None


def pack_string(value: str) -> bytes:
    return value.encode("utf8")


def unpack_string(data: bytes) -> str:
    return data.decode("utf8")  # UnicodeDecodeError is a ValueError


def pack_error_code(value: tuple[int, str]) -> bytes:
    code, reason = value
    return struct.pack("!2xBB", code // 100, code % 100) + reason.encode("utf8")


def unpack_error_code(data: bytes) -> tuple[int, str]:
    if len(data) < 4:
        raise ValueError("STUN ERROR-CODE is shorter than 4 bytes")
    return (data[2] & 0x07) * 100 + data[3], data[4:].decode("utf8")


def pack_attribute_types(types: list[int]) -> bytes:
    return b"".join(attr_type.to_bytes(2, "big") for attr_type in types)


def unpack_attribute_types(data: bytes) -> list[int]:
    if len(data) % 2:
        raise ValueError("STUN UNKNOWN-ATTRIBUTES has an odd length")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


class Attribute(NamedTuple):
    type: int
    name: str
    pack: Callable[[Any], bytes]
    unpack: Callable[[bytes], Any]
    xor: bool = False  # an XOR-ed address (RFC 8489 section 14.2)


# RFC 8489 section 18.3 and RFC 8656 section 18 (DATA, NONCE, MESSAGE-INTEGRITY and
# RESERVATION-TOKEN are opaque bytes). Comprehension-required attributes (below 0x8000) missing
# here earn a request a 420; PRIORITY and USE-CANDIDATE are here so that ICE-style Binding
# requests are answered. Missing comprehension-optional ones (ICE-CONTROLLED, ICE-CONTROLLING...)
# are skipped.
ATTRIBUTES = [
    Attribute(0x0001, "MAPPED-ADDRESS", pack_address, unpack_address),
    Attribute(0x0006, "USERNAME", pack_string, unpack_string),
    Attribute(0x0008, "MESSAGE-INTEGRITY", bytes, bytes),
    Attribute(0x0009, "ERROR-CODE", pack_error_code, unpack_error_code),
    Attribute(0x000A, "UNKNOWN-ATTRIBUTES", pack_attribute_types, unpack_attribute_types),
    Attribute(0x000C, "CHANNEL-NUMBER", pack_channel_number, unpack_channel_number),
    Attribute(0x000D, "LIFETIME", pack_unsigned, unpack_unsigned),
    Attribute(0x0012, "XOR-PEER-ADDRESS", pack_address, unpack_address, xor=True),
    Attribute(0x0013, "DATA", bytes, bytes),
    Attribute(0x0014, "REALM", pack_string, unpack_string),
    Attribute(0x0015, "NONCE", bytes, bytes),
    Attribute(0x0016, "XOR-RELAYED-ADDRESS", pack_address, unpack_address, xor=True),
    Attribute(0x0017, "REQUESTED-ADDRESS-FAMILY", pack_leading_byte, unpack_leading_byte),
    Attribute(0x0018, "EVEN-PORT", pack_even_port, unpack_even_port),
    Attribute(0x0019, "REQUESTED-TRANSPORT", pack_leading_byte, unpack_leading_byte),
    Attribute(0x001A, "DONT-FRAGMENT", pack_flag, unpack_flag),
    Attribute(0x0020, "XOR-MAPPED-ADDRESS", pack_address, unpack_address, xor=True),
    Attribute(0x0022, "RESERVATION-TOKEN", bytes, bytes),
    Attribute(0x0024, "PRIORITY", pack_unsigned, unpack_unsigned),
    Attribute(0x0025, "USE-CANDIDATE", pack_flag, unpack_flag),
    Attribute(0x8022, "SOFTWARE", pack_string, unpack_string),
    Attribute(0x8028, "FINGERPRINT", pack_unsigned, unpack_unsigned),
]
BY_TYPE = {attribute.type: attribute for attribute in ATTRIBUTES}
BY_NAME = {attribute.name: attribute for attribute in ATTRIBUTES}
_INTEGRITY = BY_NAME["MESSAGE-INTEGRITY"]
_FINGERPRINT = BY_NAME["FINGERPRINT"]


class Message:
    """A STUN message; ``attributes`` maps RFC names to values, in order.

    Parsed, it has the first of each attribute in ``attributes`` (RFC 8489 section 14: only the
    first occurrence need be processed) and all of them in ``all_values()``; the types of the
    comprehension-required attributes this codec does not know are in ``unknown_required``.
    """

    def __init__(
        self,
        message_method: Method,
        message_class: Class,
        transaction_id: bytes | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self.message_method = message_method
        self.message_class = message_class
        self.transaction_id = os.urandom(12) if transaction_id is None else transaction_id
        self.attributes: dict[str, Any] = {} if attributes is None else attributes
        self.unknown_required: list[int] = []
        self._repeated: dict[str, list[Any]] = {}
        self._integrity_data: bytes | None = None  # what MESSAGE-INTEGRITY covers, once parsed

    def all_values(self, name: str) -> list[Any]:
        """Every value of an attribute, in order (CreatePermission repeats XOR-PEER-ADDRESS)."""
        if name not in self.attributes:
            return []
        return [self.attributes[name], *self._repeated.get(name, ())]

    def check_message_integrity(self, key: bytes) -> bool:
        """True if the parsed message carries a MESSAGE-INTEGRITY made with ``key``."""
        if self._integrity_data is None:
            return False
        expected = message_integrity(self._integrity_data, key)
        return hmac.compare_digest(self.attributes["MESSAGE-INTEGRITY"], expected)

    def encode(self, integrity_key: bytes | None = None, fingerprint: bool = True) -> bytes:
        """The message on the wire: the attributes, then MESSAGE-INTEGRITY when given a key, then
        FINGERPRINT; any MESSAGE-INTEGRITY or FINGERPRINT in ``attributes`` is made anew."""
        body = b""
        for name, value in self.attributes.items():
            attribute = BY_NAME[name]
            if attribute is _INTEGRITY or attribute is _FINGERPRINT:
                continue
            encoded = attribute.pack(value)
            if attribute.xor:
                encoded = xor_address(encoded, self.transaction_id)
            body += _attribute(attribute.type, encoded)
        kind = message_type(self.message_method, self.message_class)
        data = _HEADER.pack(kind, len(body), COOKIE, self.transaction_id) + body
        if integrity_key is not None:
            data = _append(data, _INTEGRITY.type, message_integrity(data, integrity_key))
        if fingerprint:
            data = _append(data, _FINGERPRINT.type, pack_unsigned(message_fingerprint(data)))
        return data

    def __bytes__(self) -> bytes:
        return self.encode()

    def __repr__(self) -> str:
        return (
            f"Message({self.message_method.name} {self.message_class.name}, "
            f"{self.transaction_id.hex()}, {self.attributes})"
        )


def _attribute(attr_type: int, value: bytes) -> bytes:
    return _ATTRIBUTE_HEADER.pack(attr_type, len(value)) + value + _PADDING[len(value) & 3]


def _append(data: bytes, attr_type: int, value: bytes) -> bytes:
    data += _attribute(attr_type, value)
    return set_body_length(data, len(data) - HEADER_LENGTH)


def parse_message(data: bytes) -> Message:
    """Parse one whole STUN message; ValueError if it is not a well-formed one.

    The header must have its two zero bits, the magic cookie, and a length that is the rest of
    ``data`` and a multiple of 4; every attribute must fit, every known one must parse, and
    FINGERPRINT must match. Attributes after MESSAGE-INTEGRITY, except FINGERPRINT, are not
    covered by it and are ignored (RFC 8489 section 14.5).
    """
    if len(data) < HEADER_LENGTH:
        raise ValueError("STUN message is shorter than its header")
    kind, length, cookie, transaction_id = _HEADER.unpack_from(data)
    if kind & 0xC000 or cookie != COOKIE:
        raise ValueError("not a STUN message: no leading zero bits or no magic cookie")
    if length != len(data) - HEADER_LENGTH or length & 3:
        raise ValueError(f"STUN message length {length} for {len(data) - HEADER_LENGTH} bytes")
    method = (kind & 0x000F) | (kind & 0x00E0) >> 1 | (kind & 0x3E00) >> 2
    message = Message(Method(method), Class(kind & 0x0110), transaction_id)

    pos = HEADER_LENGTH
    while pos < len(data):
        attr_type, attr_length = _ATTRIBUTE_HEADER.unpack_from(data, pos)
        end = pos + 4 + attr_length
        if end > len(data):
            raise ValueError(f"STUN attribute {attr_type:#06x} overruns the message")
        attribute = BY_TYPE.get(attr_type)
        if message._integrity_data is not None and attribute is not _FINGERPRINT:
            pass  # after MESSAGE-INTEGRITY, which does not cover it
        elif attribute is None:
            if attr_type < 0x8000:
                message.unknown_required.append(attr_type)
        else:
            raw = data[pos + 4 : end]
            value = attribute.unpack(xor_address(raw, transaction_id) if attribute.xor else raw)
            if attribute is _FINGERPRINT and value != message_fingerprint(data[:pos]):
                raise ValueError("STUN FINGERPRINT does not match")
            if attribute is _INTEGRITY:
                message._integrity_data = data[:pos]
            if attribute.name in message.attributes:
                message._repeated.setdefault(attribute.name, []).append(value)
            else:
                message.attributes[attribute.name] = value
        pos = end + padding_length(attr_length)
    return message
