"""Raw STUN/TURN client pieces for the turn_stub tests.

Requests are encoded here by hand (not with turn_stub's own encoder) so that the
tests check the server against an independent implementation of the wire format.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import hmac
import os
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aioice import stun

COOKIE = 0x2112A442
SECRET = "test-shared-secret"
REALM = "orga-emulator"
TIMEOUT = 3.0

# Message types: method | class.
BINDING_REQUEST = 0x0001
ALLOCATE_REQUEST = 0x0003
REFRESH_REQUEST = 0x0004
SEND_INDICATION = 0x0016
DATA_INDICATION = 0x0017
CREATE_PERMISSION_REQUEST = 0x0008
CHANNEL_BIND_REQUEST = 0x0009

# Attribute types.
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
CHANNEL_NUMBER = 0x000C
LIFETIME = 0x000D
XOR_PEER_ADDRESS = 0x0012
DATA = 0x0013
REALM_ATTR = 0x0014
NONCE = 0x0015
REQUESTED_ADDRESS_FAMILY = 0x0017
EVEN_PORT = 0x0018
REQUESTED_TRANSPORT = 0x0019
DONT_FRAGMENT = 0x001A
RESERVATION_TOKEN = 0x0022
FINGERPRINT = 0x8028

UDP = struct.pack("!B3x", 17)
Attr = tuple[int, bytes]


class ManualClock:
    """A clock the test moves by hand, starting at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def rest_credentials(expiry: float, user: str = "alice", secret: str = SECRET) -> tuple[str, str]:
    """TURN REST username and password, computed independently of turn_stub.credentials."""
    username = f"{int(expiry)}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, binascii.b2a_base64(digest, newline=False).decode()


def integrity_key(username: str, password: str, realm: str = REALM) -> bytes:
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()


def tid() -> bytes:
    return os.urandom(12)


def xor_peer(address: tuple[str, int], transaction_id: bytes) -> bytes:
    return stun.pack_xor_address(address, transaction_id)


def encode(
    message_type: int,
    transaction_id: bytes,
    attributes: list[tuple[int, bytes]],
    key: bytes | None = None,
    fingerprint: bool = True,
) -> bytes:
    body = b""
    for attr_type, value in attributes:
        body += struct.pack("!HH", attr_type, len(value)) + value + bytes(-len(value) % 4)

    def header(length: int) -> bytes:
        return struct.pack("!HHI12s", message_type, length, COOKIE, transaction_id)

    if key is not None:
        mac = hmac.new(key, header(len(body) + 24) + body, hashlib.sha1).digest()
        body += struct.pack("!HH", MESSAGE_INTEGRITY, 20) + mac
    if fingerprint:
        crc = binascii.crc32(header(len(body) + 8) + body) ^ 0x5354554E
        body += struct.pack("!HHI", FINGERPRINT, 4, crc)
    return header(len(body)) + body


def has_valid_fingerprint(data: bytes) -> bool:
    if len(data) < 28 or struct.unpack("!HH", data[-8:-4]) != (FINGERPRINT, 4):
        return False
    head = data[:2] + struct.pack("!H", len(data) - 20) + data[4:20]
    crc = binascii.crc32(head + data[20:-8]) ^ 0x5354554E
    return struct.unpack("!I", data[-4:])[0] == crc


def channel_data(number: int, payload: bytes, pad: bool = False) -> bytes:
    frame = struct.pack("!HH", number, len(payload)) + payload
    return frame + bytes(-len(payload) % 4) if pad else frame


class RawClient(asyncio.Protocol, asyncio.DatagramProtocol):
    """A UDP or TCP client: STUN responses are matched by transaction ID, the rest queued."""

    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self.waiters: dict[bytes, asyncio.Future[bytes]] = {}
        self.other: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.stream = False
        self._buffer = b""

    @classmethod
    async def connect(cls, server: tuple[str, int], protocol: str = "udp") -> RawClient:
        loop = asyncio.get_running_loop()
        if protocol == "tcp":
            _, client = await loop.create_connection(cls, server[0], server[1])
            client.stream = True
        else:
            _, client = await loop.create_datagram_endpoint(cls, remote_addr=server)
        return client

    @property
    def local_address(self) -> tuple[str, int]:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[:2]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    def send(self, data: bytes) -> None:
        if self.stream:
            self.transport.write(data)  # type: ignore[union-attr]
        else:
            self.transport.sendto(data)  # type: ignore[union-attr]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def request(self, data: bytes, within: float = TIMEOUT) -> bytes:
        """Send a request and return the raw response with the same transaction ID."""
        future = asyncio.get_running_loop().create_future()
        self.waiters[data[8:20]] = future
        self.send(data)
        try:
            return await asyncio.wait_for(future, within)
        finally:
            self.waiters.pop(data[8:20], None)

    async def receive(self, within: float = TIMEOUT) -> bytes:
        """The next message that is not a response: an indication or ChannelData."""
        return await asyncio.wait_for(self.other.get(), within)

    def datagram_received(self, data: bytes, addr: object) -> None:
        self._dispatch(data)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 4:
            length = struct.unpack("!H", self._buffer[2:4])[0]
            if self._buffer[0] < 0x40:
                size = 20 + length
            else:
                size = 4 + length + (-length % 4)
            if len(self._buffer) < size:
                return
            frame, self._buffer = self._buffer[:size], self._buffer[size:]
            self._dispatch(frame)

    def _dispatch(self, data: bytes) -> None:
        if data[0] < 0x40 and data[0] & 0x01:
            # Responses (class bit 0x100 set): success or error.
            future = self.waiters.get(data[8:20])
            if future is not None and not future.done():
                future.set_result(data)
                return
        self.other.put_nowait(data)


@dataclass
class Session:
    """A raw client with long-term credentials, learning REALM and NONCE from a 401."""

    client: RawClient
    username: str
    password: str
    nonce: bytes | None = None
    realm: str = REALM
    challenges: list[int] = field(default_factory=list)
    last_raw: bytes = b""  # the raw bytes of the last response call() returned

    @property
    def key(self) -> bytes:
        return integrity_key(self.username, self.password, self.realm)

    def signed(
        self, message_type: int, attributes: list[tuple[int, bytes]], transaction_id: bytes
    ) -> bytes:
        assert self.nonce is not None
        credentials = [
            (USERNAME, self.username.encode()),
            (REALM_ATTR, self.realm.encode()),
            (NONCE, self.nonce),
        ]
        return encode(message_type, transaction_id, attributes + credentials, self.key)

    async def call(
        self, message_type: int, attributes: list[tuple[int, bytes]], transaction_id: bytes = b""
    ) -> stun.Message:
        """An authenticated request; a 401 or 438 is answered once with the new nonce."""
        transaction_id = transaction_id or tid()
        if self.nonce is None:
            challenge = stun.parse_message(
                await self.client.request(encode(message_type, tid(), attributes))
            )
            self._learn(challenge)
        for _ in range(2):
            raw = await self.client.request(self.signed(message_type, attributes, transaction_id))
            self.last_raw = raw
            response = stun.parse_message(raw)
            if response.error_code in (401, 438) and "NONCE" in response.attributes:
                self._learn(response)
                transaction_id = tid()
                continue
            return response
        return response

    def _learn(self, challenge: stun.Message) -> None:
        assert challenge.error_code in (401, 438), challenge
        self.nonce = challenge.attributes["NONCE"]
        self.realm = challenge.attributes.get("REALM", self.realm)
        self.challenges.append(challenge.error_code)


async def allocate(session: Session, *extra: tuple[int, bytes]) -> stun.Message:
    response = await session.call(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP), *extra])
    assert response.message_class == stun.Class.RESPONSE, response
    assert response.check_message_integrity(session.key)
    return response


async def permit(session: Session, *peers: tuple[str, int]) -> stun.Message:
    """CreatePermission for these peers."""
    transaction_id = tid()
    attributes = [(XOR_PEER_ADDRESS, xor_peer(peer, transaction_id)) for peer in peers]
    return await session.call(CREATE_PERMISSION_REQUEST, attributes, transaction_id)


async def bind(session: Session, number: int, peer: tuple[str, int]) -> stun.Message:
    """ChannelBind of `number` to `peer`."""
    transaction_id = tid()
    attributes = [
        (CHANNEL_NUMBER, struct.pack("!HH", number, 0)),
        (XOR_PEER_ADDRESS, xor_peer(peer, transaction_id)),
    ]
    return await session.call(CHANNEL_BIND_REQUEST, attributes, transaction_id)


def send_indication(peer: tuple[str, int], payload: bytes, extra: Sequence[Attr] = ()) -> bytes:
    transaction_id = tid()
    attributes = [(XOR_PEER_ADDRESS, xor_peer(peer, transaction_id)), (DATA, payload), *extra]
    return encode(SEND_INDICATION, transaction_id, attributes, fingerprint=False)
