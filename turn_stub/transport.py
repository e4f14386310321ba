"""Client and peer transports: the UDP listener, TCP stream framing, and relay sockets.

The relay hot path lives here: ChannelData from a client goes out of the relay
socket, and a peer's datagram goes back as ChannelData or a Data indication.
Each step is a dict lookup; nothing is parsed beyond the 4-byte channel header.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import sys
from collections.abc import Hashable
from typing import Any, Protocol

from .allocation import Address, Allocation
from .message import data_indication
from .stun import padding


class StunHandler(Protocol):
    """What the transports hand their traffic to (the server), declared here so that this lower
    module needs nothing from server.py."""

    @property
    def allocations_by_key(self) -> dict[Hashable, Allocation]: ...

    @property
    def tcp_idle_timeout(self) -> float: ...

    def handle_stun(self, data: bytes, link: ClientLink) -> None: ...

    def connection_made(self, connection: TcpConnection) -> bool: ...

    def connection_lost(self, connection: TcpConnection) -> None: ...


logger = logging.getLogger(__name__)

_CHANNEL_HEADER = struct.Struct("!HH")
_UDP_BUFFER_SIZE = 1 << 20


class ClientLink(Protocol):
    """How the server reaches a client: its 5-tuple key, address, and a send function."""

    key: Hashable
    address: Address
    stream: bool

    def send(self, data: bytes) -> None: ...


def channel_data_to_peer(allocation: Allocation, data: bytes) -> None:
    """Relay one ChannelData message from the client to the peer bound to its channel."""
    number, length = _CHANNEL_HEADER.unpack_from(data)
    if len(data) < 4 + length:
        return  # truncated: drop (RFC 8656 section 12.5)
    channel = allocation.channels.get(number)
    if channel is None:
        return
    peer = channel.peer
    relay = allocation.relay
    if relay is not None and peer[0] in allocation.permissions:
        relay.sendto(data[4 : 4 + length], peer)


class UdpLink:
    """A UDP client: the 5-tuple is its source address on the single listening socket."""

    __slots__ = ("key", "address", "stream", "_transport")

    def __init__(self, transport: asyncio.DatagramTransport, address: Address) -> None:
        self.key: Hashable = address
        self.address = address
        self.stream = False
        self._transport = transport

    def send(self, data: bytes) -> None:
        self._transport.sendto(data, self.address)


class UdpServerProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: StunHandler) -> None:
        self._server = server
        self._allocations = server.allocations_by_key
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Room for bursts while the (single-threaded) server is busy.
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, _UDP_BUFFER_SIZE)
                except OSError:
                    pass

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            if len(data) >= 4 and 0x40 <= data[0] < 0x80:
                allocation = self._allocations.get(addr)
                if allocation is not None:
                    channel_data_to_peer(allocation, data)
                return
            assert self.transport is not None
            self._server.handle_stun(data, UdpLink(self.transport, addr))
        except Exception:
            # Never let one bad datagram take the listener down.
            logger.debug("dropped datagram from %s", addr, exc_info=True)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier sends (a client went away): nothing to do.
        logger.debug("UDP error: %s", exc)


class TcpConnection(asyncio.Protocol):
    """One TURN-over-TCP client: STUN and ChannelData frames on a stream (RFC 8656 12.5).

    The connection is the 5-tuple, so it is its own key; losing it frees its allocation. A
    connection without an allocation is closed after the server's tcp_idle_timeout: one that
    sends nothing, or never allocates, holds no socket for long.
    """

    stream = True

    def __init__(self, server: StunHandler) -> None:
        self._server = server
        self._buffer = b""
        self.key: Hashable = self
        self.address: Address = ("", 0)
        self.transport: asyncio.Transport | None = None
        self.allocation: Allocation | None = None
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.address = transport.get_extra_info("peername")
        if not self._server.connection_made(self):
            transport.abort()  # type: ignore[attr-defined]  # over a connection limit
            return
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_idle()
        self._server.connection_lost(self)

    def allocated(self, allocation: Allocation) -> None:
        self.allocation = allocation
        self._cancel_idle()

    def allocation_ended(self) -> None:
        self.allocation = None
        if self.transport is not None and not self.transport.is_closing():
            self._arm_idle()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _arm_idle(self) -> None:
        self._cancel_idle()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self._server.tcp_idle_timeout, self._idle_timeout)

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_timeout(self) -> None:
        self._idle = None
        if self.allocation is None and self.transport is not None:
            logger.info("closing TCP connection from %s: no allocation in time", self.address)
            self.transport.abort()

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        end = len(buffer)
        pos = 0
        try:
            while end - pos >= 4:
                first = buffer[pos]
                length = (buffer[pos + 2] << 8) | buffer[pos + 3]
                if first < 0x40:
                    size = 20 + length
                elif first < 0x80:
                    # ChannelData is padded to 4 bytes on streams; the length excludes it.
                    size = 4 + length + ((-length) & 3)
                else:
                    # Neither STUN nor ChannelData: the stream is out of sync, give up on it.
                    logger.debug("closing TCP connection from %s: bad framing", self.address)
                    self._buffer = b""
                    if self.transport is not None:
                        self.transport.close()
                    return
                if end - pos < size:
                    break
                frame = buffer[pos : pos + size]
                pos += size
                if first < 0x40:
                    self._server.handle_stun(frame, self)
                elif self.allocation is not None:
                    channel_data_to_peer(self.allocation, frame)
        except Exception:
            logger.debug("dropped TCP frame from %s", self.address, exc_info=True)
        self._buffer = buffer[pos:]


class RelayProtocol(asyncio.DatagramProtocol):
    """The relayed transport address of one allocation: datagrams from peers go to the client."""

    def __init__(self, allocation: Allocation) -> None:
        self._allocation = allocation

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # Only the IP is checked here, on the hot path: a refused address never gets a
        # permission, and what the policy refuses by port is never sent to (allocations.py).
        allocation = self._allocation
        if addr[0] not in allocation.permissions:
            return  # no permission: drop (RFC 8656 section 11.3)
        number = allocation.channel_by_peer.get(addr)
        try:
            if number is not None:
                length = len(data)
                message = _CHANNEL_HEADER.pack(number, length) + data
                if allocation.stream:
                    message += padding(length)
                allocation.send_to_client(message)
            else:
                allocation.send_to_client(data_indication(addr, data, random.randbytes(12)))
        except Exception:
            logger.debug("dropped datagram from peer %s", addr, exc_info=True)

    def error_received(self, exc: Exception) -> None:
        logger.debug("relay error: %s", exc)


# Linux values; Python's socket module does not export them.
_IP_MTU_DISCOVER = 10
_IP_PMTUDISC_DO = 2


def bind_relay_socket(
    address: str, even_port: bool = False, reserve_next: bool = False, attempts: int = 64
) -> tuple[socket.socket, socket.socket | None]:
    """Bind a relayed transport address; with EVEN-PORT an even port, maybe holding port + 1 too.

    Returns the relay socket and, when ``reserve_next``, the socket that keeps
    the next port reserved for a later RESERVATION-TOKEN (RFC 8656 section 7.2).
    """
    for _ in range(attempts):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((address, 0))
        except OSError:
            sock.close()
            raise
        port = sock.getsockname()[1]
        if not even_port:
            return sock, None
        if port % 2:
            sock.close()
            continue
        if not reserve_next:
            return sock, None
        reserved = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            reserved.bind((address, port + 1))
        except OSError:
            reserved.close()
            sock.close()
            continue
        return sock, reserved
    raise OSError("no relay port pair available")


def set_dont_fragment(sock: socket.socket) -> None:
    """Honour DONT-FRAGMENT: send with the IP DF bit set (Linux); elsewhere best effort."""
    if not sys.platform.startswith("linux"):
        return
    try:
        sock.setsockopt(socket.IPPROTO_IP, _IP_MTU_DISCOVER, _IP_PMTUDISC_DO)
    except OSError:
        pass
