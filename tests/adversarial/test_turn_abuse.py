"""TURN garbage and abuse (issue 13): turn_stub answers or drops, never crashes, and its
allocations, TCP connections and file descriptors come back to where they were.

The server runs in a thread of its own loop, so that hypothesis drives it from plain blocking
sockets. Every case ends with a real client's Allocate on the same server: it must still work.
Bounded: hypothesis examples are capped, floods are counted, every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aioice import stun
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.turn.raw import (
    ALLOCATE_REQUEST,
    BINDING_REQUEST,
    CHANNEL_BIND_REQUEST,
    COOKIE,
    CREATE_PERMISSION_REQUEST,
    LIFETIME,
    NONCE,
    REALM,
    REALM_ATTR,
    REFRESH_REQUEST,
    REQUESTED_TRANSPORT,
    SECRET,
    UDP,
    USERNAME,
    encode,
    integrity_key,
    rest_credentials,
    tid,
)
from turn_stub.server import TurnConfig, TurnServer

BOUND = 10.0  # seconds any single wait may take
PER_USER = 5
PER_KEY = 8
TOTAL = 12
# `baseline` is meant to wrap all of a property's examples, hence the suppressed check.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Swallowed(logging.Handler):
    """Exceptions the server's catch-alls swallowed: a fuzz case that raises one found a bug."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


class TurnThread:
    """A TurnServer serving from its own loop in a background thread."""

    def __init__(self, config: TurnConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = TurnServer(config)

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(BOUND)

    def read(self, getter: Callable[[TurnServer], Any]) -> Any:
        async def get() -> Any:
            return getter(self.server)

        return self.run(get())

    def start(self) -> TurnThread:
        self.thread.start()
        self.run(self.server.start())
        return self

    def stop(self) -> None:
        self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(BOUND)
        self.loop.close()

    @property
    def address(self) -> tuple[str, int]:
        return self.server.udp_address

    def allocations(self) -> int:
        return self.read(lambda server: server.allocation_count)

    def tcp_connections(self) -> int:
        return self.read(lambda server: server.tcp_connection_count)


@pytest.fixture(scope="module")
def turn() -> Iterator[TurnThread]:
    config = TurnConfig(
        port=0,
        secret=SECRET,
        max_allocations=TOTAL,
        max_allocations_per_user=PER_USER,
        max_allocations_per_key=PER_KEY,
        max_tcp_connections_per_address=16,
        tcp_idle_timeout=1.0,
    )
    server = TurnThread(config).start()
    swallowed = Swallowed()
    logger = logging.getLogger("turn_stub")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(swallowed)
    try:
        yield server
    finally:
        logger.removeHandler(swallowed)
        logger.setLevel(level)
        server.stop()
    assert not swallowed.records, [r.getMessage() for r in swallowed.records]


@pytest.fixture
def baseline(turn: TurnThread) -> Iterator[None]:
    """Each case leaves no allocation, no TCP connection and no file descriptor behind, and a
    real client can still allocate."""
    assert turn.allocations() == 0
    fds = _fds()
    yield
    _wait_for(lambda: turn.tcp_connections() == 0, "the server's TCP connections to close")
    still_allocates(turn)
    assert turn.allocations() == 0
    _wait_for(lambda: _fds() <= fds, f"fds back to {fds}")


# Blocking STUN clients


class Client:
    """One UDP (or TCP) socket speaking STUN with long-term credentials, blocking."""

    def __init__(self, turn: TurnThread, user: str = "mallory", tcp: bool = False):
        kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.settimeout(BOUND)
        self.sock.connect(turn.address)
        self.turn = turn
        self.tcp = tcp
        self.username, self.password = rest_credentials(time.time() + 600, user)
        self.nonce = b""

    def close(self) -> None:
        self.sock.close()

    def request(self, data: bytes) -> stun.Message:
        answer = self.answer(data)
        assert answer is not None, "no answer"
        return answer

    def answer(self, data: bytes) -> stun.Message | None:
        """The answer to `data`, or None if the server dropped it: a Binding request sent right
        after it is answered in order, so its answer marks the end of the wait (but for the
        success of an Allocate, sent once its relayed socket is open)."""
        barrier = encode(BINDING_REQUEST, tid(), [])
        send = self.sock.sendall if self.tcp else self.sock.send
        had_allocation = self._allocating()
        send(data)
        send(barrier)
        answer, barrier_answered = None, False
        while answer is None or not barrier_answered:
            raw = self._receive()
            if raw[8:20] == data[8:20]:
                answer = stun.parse_message(raw)
            elif raw[8:20] == barrier[8:20]:
                barrier_answered = True
                # An Allocate's success waits for its relayed socket to open: keep reading.
                if answer is None and (had_allocation or not self._allocating()):
                    return None
        return answer

    def _allocating(self) -> bool:
        own = self.sock.getsockname()[:2]
        return not self.tcp and self.turn.read(lambda server: own in server.allocations)

    def _receive(self) -> bytes:
        if not self.tcp:
            return self.sock.recv(65536)
        header = self._exactly(20)
        return header + self._exactly(struct.unpack("!H", header[2:4])[0])

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed by the server")
            data += chunk
        return data

    def call(self, message_type: int, attributes: list[tuple[int, bytes]]) -> stun.Message | None:
        """An authenticated request (the nonce learnt from a plain Refresh's 401 first); None
        when the server drops it."""
        for _ in range(2):
            if not self.nonce:
                challenge = self.request(encode(REFRESH_REQUEST, tid(), []))
                self.nonce = challenge.attributes["NONCE"]
            credentials = [
                (USERNAME, self.username.encode()),
                (REALM_ATTR, REALM.encode()),
                (NONCE, self.nonce),
            ]
            key = integrity_key(self.username, self.password)
            response = self.answer(encode(message_type, tid(), attributes + credentials, key))
            if response is None or response.error_code not in (401, 438):
                return response
            self.nonce = b""
        return response

    def allocate(self) -> stun.Message:
        response = self.call(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP)])
        assert response is not None
        return response

    def release(self) -> None:
        response = self.call(REFRESH_REQUEST, [(LIFETIME, b"\x00\x00\x00\x00")])
        assert response is not None and response.attributes.get("LIFETIME") == 0, response


def still_allocates(turn: TurnThread) -> None:
    client = Client(turn, "after-the-abuse")
    try:
        response = client.allocate()
        assert response.message_class == stun.Class.RESPONSE, response
        client.release()
    finally:
        client.close()


# Garbage: random bytes, STUN-shaped messages with lying lengths, ChannelData without allocation

TYPES = [BINDING_REQUEST, ALLOCATE_REQUEST, REFRESH_REQUEST, CREATE_PERMISSION_REQUEST]
TYPES += [CHANNEL_BIND_REQUEST, 0x0016, 0x0017, 0x0101, 0x0111, 0x3FFF]


@st.composite
def stun_shaped(draw: st.DrawFn) -> bytes:
    """A STUN header (any type, maybe the cookie, a length that may lie) and TLVs whose lengths
    may lie too, maybe cut short."""
    attributes = b""
    for _ in range(draw(st.integers(0, 6))):
        attr_type = draw(st.sampled_from([0x0006, 0x0008, 0x000D, 0x0012, 0x0013, 0x0015]))
        attr_type = draw(st.one_of(st.just(attr_type), st.integers(0, 0xFFFF)))
        value = draw(st.binary(max_size=40))
        length = draw(st.one_of(st.just(len(value)), st.integers(0, 0xFFFF)))
        attributes += struct.pack("!HH", attr_type, length) + value + bytes(-len(value) % 4)
    message_type = draw(st.one_of(st.sampled_from(TYPES), st.integers(0, 0x3FFF)))
    length = draw(st.one_of(st.just(len(attributes)), st.integers(0, 0xFFFF)))
    cookie = draw(st.one_of(st.just(COOKIE), st.integers(0, 0xFFFFFFFF)))
    message = struct.pack("!HHI", message_type, length, cookie) + draw(
        st.binary(min_size=12, max_size=12)
    )
    message += attributes
    return message[: draw(st.integers(0, len(message)))] if draw(st.booleans()) else message


channel_shaped = st.builds(
    lambda number, length, body: struct.pack("!HH", number, length) + body,
    st.integers(0x4000, 0x7FFF),
    st.integers(0, 0xFFFF),
    st.binary(max_size=64),
)
garbage = st.one_of(st.binary(max_size=1500), stun_shaped(), channel_shaped)


@pytest.mark.slow
@FUZZ
@given(datagrams=st.lists(garbage, min_size=1, max_size=8))
def test_garbage_datagrams(turn, baseline, datagrams):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(turn.address)
        for datagram in datagrams:
            sock.send(datagram)
        # A Binding request after the garbage, on the same socket, is still answered.
        sock.settimeout(BOUND)
        request = encode(BINDING_REQUEST, tid(), [])
        sock.send(request)
        while (reply := sock.recv(65536))[8:20] != request[8:20]:
            pass
        assert stun.parse_message(reply).message_class == stun.Class.RESPONSE


@pytest.mark.slow
@FUZZ
@given(chunks=st.lists(garbage, min_size=1, max_size=6))
def test_garbage_tcp_streams(turn, baseline, chunks):
    with socket.create_connection(turn.address, timeout=BOUND) as sock:
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except OSError:
                break  # the server closed a stream it could not frame: allowed


@pytest.mark.slow
@FUZZ
@given(
    method=st.sampled_from(TYPES[1:5]),
    attributes=st.lists(
        st.tuples(
            st.sampled_from([0x000C, 0x000D, 0x0012, 0x0013, 0x0017, 0x0018, 0x0019, 0x0022]),
            st.binary(max_size=24),
        ),
        max_size=5,
    ),
)
def test_authenticated_requests_with_bogus_attributes(turn, baseline, method, attributes):
    """Past authentication, the handlers meet attribute values of any size and content."""
    client = Client(turn, "fuzzer")
    try:
        response = client.call(method, attributes)  # answered, or dropped as malformed
        if response is not None:
            assert response.message_class in (stun.Class.RESPONSE, stun.Class.ERROR)
        if turn.allocations():
            client.release()  # an Allocate that went through
    finally:
        client.close()


# Abuse: floods and exhaustion


def test_allocate_flood_with_one_credential(turn, baseline):
    """Many sockets, one user: PER_USER allocations, then 486 for every other one."""
    clients = [Client(turn, "flooder") for _ in range(40)]
    try:
        responses = [client.allocate() for client in clients]
        granted = [c for c, r in zip(clients, responses, strict=True) if r.error_code is None]
        refused = [r for r in responses if r.error_code is not None]
        assert len(granted) == PER_USER
        assert {r.error_code for r in refused} == {486}
        assert turn.allocations() == PER_USER
        for client in granted:
            client.release()
    finally:
        for client in clients:
            client.close()


def test_allocate_flood_on_one_five_tuple(turn, baseline):
    """One socket repeating Allocate: one allocation, then 437 Allocation Mismatch."""
    client = Client(turn, "repeater")
    try:
        assert client.allocate().error_code is None
        assert {client.allocate().error_code for _ in range(100)} == {437}
        assert turn.allocations() == 1
        client.release()
    finally:
        client.close()


def test_exhaustion_by_many_users_of_one_key(turn, baseline):
    """Users made up under one API key stop at the key's cap; the global cap holds for all."""
    clients = []
    try:
        for n in range(PER_KEY + 4):
            client = Client(turn, f"user-{n}:key=key_attacker")
            clients.append(client)
            response = client.allocate()
            assert response.error_code == (None if n < PER_KEY else 486), (n, response)
        for n in range(TOTAL):  # users without a key, up to the total
            client = Client(turn, f"plain-{n}")
            clients.append(client)
            response = client.allocate()
            assert response.error_code == (None if PER_KEY + n < TOTAL else 486), (n, response)
        assert turn.allocations() == TOTAL
        for client in clients:
            if turn.allocations() == 0:
                break
            response = client.call(REFRESH_REQUEST, [(LIFETIME, b"\x00\x00\x00\x00")])
            assert response is not None and response.error_code in (None, 437)
    finally:
        for client in clients:
            client.close()


def test_tcp_connection_flood(turn, baseline):
    """More connections than an address may hold: the rest are closed at once, and the ones
    kept are closed by the idle timeout, as none allocates."""
    sockets = []
    try:
        for _ in range(40):
            sockets.append(socket.create_connection(turn.address, timeout=BOUND))
        _wait_for(lambda: turn.tcp_connections() == 16, "16 connections held")
        for sock in sockets:
            assert sock.recv(1) == b""  # closed by the server: at once, or when idle
    finally:
        for sock in sockets:
            sock.close()
