"""The TURN server (RFC 8656) with its STUN Binding service (RFC 8489).

Requests are dispatched by method. Every method but Binding needs long-term
credentials of the TURN REST kind (see credentials.py), checked on every
request, so credentials stop working when their embedded expiry passes.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any

from aioice import stun

from . import message as msg
from .allocation import Address, Allocation
from .credentials import long_term_key, parse_rest_username, rest_password
from .nonce import NonceIssuer
from .policy import PeerPolicy, interface_addresses, is_wildcard, unwrap
from .transport import (
    ClientLink,
    RelayProtocol,
    TcpConnection,
    UdpServerProtocol,
    bind_relay_socket,
    set_dont_fragment,
)

logger = logging.getLogger(__name__)

UDP_TRANSPORT = 17  # REQUESTED-TRANSPORT protocol number (RFC 8656 section 18.7)
IPV4_FAMILY = 0x01
CHANNEL_MIN = 0x4000
# RFC 8656 narrows the range to 0x4FFF; RFC 5766 clients may use up to 0x7FFF.
CHANNEL_MAX = 0x7FFF
RESERVATION_LIFETIME = 30  # seconds a reserved port (EVEN-PORT R bit) is held


@dataclass
class TurnConfig:
    host: str = "127.0.0.1"
    port: int = 3478  # UDP and TCP on the same port; 0 picks one free for both
    realm: str = "orga-emulator"
    # The TURN REST shared secret; a random one unless the emulator shares its own.
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    relay_address: str | None = None  # default: host, or an interface address for a wildcard host
    advertised_address: str | None = None  # XOR-RELAYED-ADDRESS behind a 1:1 NAT
    default_lifetime: int = 600
    max_lifetime: int = 3600
    permission_lifetime: int = 300
    channel_lifetime: int = 600
    nonce_lifetime: int = 3600
    max_allocations: int = 1000
    max_allocations_per_user: int = 50
    allow_peers: list[str] = field(default_factory=list)
    deny_peers: list[str] = field(default_factory=list)
    sweep_interval: float = 1.0  # seconds between expiry sweeps


# A hook that may refuse an authenticated request: called with the method ("allocate",
# "refresh", "create_permission", "channel_bind") and the credentials' user, it returns a STUN
# error code to answer with (401 challenges again) or None to go on. An embedding application
# uses it to inject failures; turn_stub itself never sets one.
FaultHook = Callable[[str, str], int | None]


@dataclass(frozen=True)
class Credentials:
    username: str
    user: str
    key: bytes


@dataclass
class Reservation:
    sock: socket.socket
    expires_at: float


class TurnServer:
    def __init__(self, config: TurnConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.fault_hook: FaultHook | None = None
        self._nonces = NonceIssuer(config.nonce_lifetime, clock)
        self._policy = PeerPolicy(config.allow_peers, config.deny_peers)
        # Keyed by the client's 5-tuple (see ClientLink.key); read by the UDP hot path.
        self.allocations_by_key: dict[Hashable, Allocation] = {}
        # Allocations whose relay transport is being set up.
        self._pending: dict[Hashable, Allocation] = {}
        self._per_user: dict[str, int] = {}
        self._reservations: dict[bytes, Reservation] = {}
        self._connections: set[TcpConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._relay_address = config.relay_address or config.host
        self._advertised_address = config.advertised_address or self._relay_address
        self.udp_address: Address = (config.host, config.port)
        self.tcp_address: Address = (config.host, config.port)
        self._handlers = {
            stun.Method.ALLOCATE: self._allocate,
            stun.Method.REFRESH: self._refresh,
            stun.Method.CREATE_PERMISSION: self._create_permission,
            stun.Method.CHANNEL_BIND: self._channel_bind,
        }

    @property
    def allocation_count(self) -> int:
        return len(self.allocations_by_key) + len(self._pending)

    # Lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        local = interface_addresses()
        self._policy = PeerPolicy(self.config.allow_peers, self.config.deny_peers, local)
        if self.config.relay_address is None and is_wildcard(self.config.host):
            self._relay_address = _first_public_ipv4(local)
            self._advertised_address = self.config.advertised_address or self._relay_address
        if unwrap(self._relay_address).version != 4:
            raise ValueError("relayed addresses are IPv4 only: set relay_address")
        udp_sock, tcp_sock = _bind_listeners(self.config.host, self.config.port)
        self._udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: UdpServerProtocol(self), sock=udp_sock
        )
        self._tcp_server = await loop.create_server(lambda: TcpConnection(self), sock=tcp_sock)
        self.udp_address = udp_sock.getsockname()[:2]
        self.tcp_address = tcp_sock.getsockname()[:2]
        self._spawn(self._sweep_forever())
        logger.info(
            "TURN server on udp %s:%d and tcp %s:%d, relaying from %s",
            *self.udp_address,
            *self.tcp_address,
            self._relay_address,
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for allocation in list(self.allocations_by_key.values()) + list(self._pending.values()):
            self._delete(allocation)
        for reservation in self._reservations.values():
            reservation.sock.close()
        self._reservations.clear()
        if self._tcp_server is not None:
            self._tcp_server.close()
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.abort()
        if self._tcp_server is not None:
            await self._tcp_server.wait_closed()
            self._tcp_server = None
        if self._udp_transport is not None:
            self._udp_transport.close()
            self._udp_transport = None
        # Let transports run their connection_lost callbacks, which close the sockets.
        await asyncio.sleep(0)

    def sweep(self) -> None:
        """Expire allocations, permissions, channels and reservations against the clock."""
        now = self._clock()
        for allocation in list(self.allocations_by_key.values()):
            if allocation.expire(now):
                logger.info("allocation %s expired", allocation.relayed_address)
                self._delete(allocation)
        for token in [t for t, r in self._reservations.items() if now >= r.expires_at]:
            self._reservations.pop(token).sock.close()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            try:
                self.sweep()
            except Exception:
                logger.exception("expiry sweep failed")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # TCP connections

    def connection_made(self, connection: TcpConnection) -> None:
        self._connections.add(connection)

    def connection_lost(self, connection: TcpConnection) -> None:
        # A TCP allocation lives as long as its connection (RFC 8656 section 3.1).
        self._connections.discard(connection)
        allocation = self.allocations_by_key.get(connection) or self._pending.get(connection)
        if allocation is not None:
            self._delete(allocation)

    # STUN dispatch

    def handle_stun(self, data: bytes, link: ClientLink) -> None:
        """Handle one STUN message from a client; anything malformed is dropped silently."""
        if not msg.is_stun(data):
            return
        try:
            message = stun.parse_message(data)
            attributes = list(msg.iter_attributes(data))
        except Exception as exc:  # ValueError, struct.error... from aioice's unpackers
            logger.debug("malformed STUN from %s: %s", link.address, exc)
            return
        method = message.message_method
        if message.message_class == stun.Class.INDICATION:
            if method == stun.Method.SEND and not _unknown_required(attributes):
                self._send_indication(message, link)
            return
        if message.message_class != stun.Class.REQUEST:
            return
        if method == stun.Method.BINDING:
            self._binding(message, attributes, link)
            return
        handler = self._handlers.get(method)
        if handler is None:
            self._error(link, message, 400)
            return
        if method == stun.Method.ALLOCATE and self._is_retransmission(message, link):
            return
        credentials = self._authenticate(message, link)
        if credentials is None:
            return
        if self.fault_hook is not None:
            code = self.fault_hook(stun.Method(method).name.lower(), credentials.user)
            if code == 401:
                self._challenge(link, message, 401)
                return
            if code:
                self._error(link, message, code, credentials.key)
                return
        unknown = _unknown_required(attributes)
        if unknown:
            self._error(
                link,
                message,
                420,
                credentials.key,
                [(msg.UNKNOWN_ATTRIBUTES, msg.unknown_attributes(unknown))],
            )
            return
        handler(message, attributes, link, credentials)

    def _binding(self, message: stun.Message, attributes: list, link: ClientLink) -> None:
        unknown = _unknown_required(attributes)
        if unknown:
            extra = [(msg.UNKNOWN_ATTRIBUTES, msg.unknown_attributes(unknown))]
            self._error(link, message, 420, None, extra)
            return
        mapped = msg.xor_address(link.address, message.transaction_id)
        self._respond(link, message, [(msg.XOR_MAPPED_ADDRESS, mapped)])

    # Authentication (RFC 8489 section 9.2.4)

    def _authenticate(self, message: stun.Message, link: ClientLink) -> Credentials | None:
        attrs = message.attributes
        if "MESSAGE-INTEGRITY" not in attrs:
            self._challenge(link, message, 401)
            return None
        username, realm, nonce = attrs.get("USERNAME"), attrs.get("REALM"), attrs.get("NONCE")
        if username is None or realm is None or nonce is None:
            self._error(link, message, 400)
            return None
        try:
            expiry, user = parse_rest_username(username)
        except ValueError:
            self._challenge(link, message, 401)
            return None
        key = long_term_key(username, realm, rest_password(self.config.secret, username))
        if realm != self.config.realm or not message.check_message_integrity(key):
            self._challenge(link, message, 401)
            return None
        if expiry < self._clock():
            # The credentials outlived the token they were issued with.
            self._challenge(link, message, 401)
            return None
        if not self._nonces.is_valid(nonce, link.address[0]):
            self._challenge(link, message, 438)
            return None
        return Credentials(username, user, key)

    def _challenge(self, link: ClientLink, request: stun.Message, code: int) -> None:
        nonce = self._nonces.issue(link.address[0])
        extra = [(msg.REALM, self.config.realm.encode()), (msg.NONCE, nonce)]
        self._error(link, request, code, None, extra)

    # Allocate (RFC 8656 section 7.2)

    def _is_retransmission(self, message: stun.Message, link: ClientLink) -> bool:
        """Answer a retransmitted Allocate with the response it already had."""
        allocation = self.allocations_by_key.get(link.key)
        if allocation is not None and allocation.transaction_id == message.transaction_id:
            link.send(allocation.response)
            return True
        pending = self._pending.get(link.key)
        # Its response is on the way.
        return pending is not None and pending.transaction_id == message.transaction_id

    def _allocate(
        self, message: stun.Message, attributes: list, link: ClientLink, cred: Credentials
    ) -> None:
        key = cred.key
        if link.key in self.allocations_by_key or link.key in self._pending:
            self._error(link, message, 437, key)
            return
        transport = message.attributes.get("REQUESTED-TRANSPORT")
        if transport is None:
            self._error(link, message, 400, key)
            return
        if transport >> 24 != UDP_TRANSPORT:
            self._error(link, message, 442, key)
            return
        family = _first(attributes, msg.REQUESTED_ADDRESS_FAMILY)
        even_port = _first(attributes, msg.EVEN_PORT)
        token = _first(attributes, msg.RESERVATION_TOKEN)
        if token is not None and (even_port is not None or family is not None):
            self._error(link, message, 400, key)
            return
        if family is not None and (not family or family[0] != IPV4_FAMILY):
            self._error(link, message, 440, key)
            return
        if len(self.allocations_by_key) + len(self._pending) >= self.config.max_allocations:
            self._error(link, message, 486, key)
            return
        if self._per_user.get(cred.user, 0) >= self.config.max_allocations_per_user:
            self._error(link, message, 486, key)
            return

        reserved: socket.socket | None = None
        if token is not None:
            reservation = self._reservations.pop(token, None)
            if reservation is None:
                self._error(link, message, 508, key)
                return
            sock = reservation.sock
        else:
            reserve = bool(even_port and even_port[0] & 0x80)
            try:
                sock, reserved = bind_relay_socket(
                    self._relay_address, even_port is not None, reserve
                )
            except OSError as exc:
                logger.warning("cannot bind a relay socket: %s", exc)
                self._error(link, message, 508, key)
                return
        if _has(attributes, msg.DONT_FRAGMENT):
            set_dont_fragment(sock)

        now = self._clock()
        lifetime = self._lifetime(message)
        relayed = (self._advertised_address, sock.getsockname()[1])
        response_attributes = [
            (msg.XOR_RELAYED_ADDRESS, msg.xor_address(relayed, message.transaction_id)),
            (msg.XOR_MAPPED_ADDRESS, msg.xor_address(link.address, message.transaction_id)),
            (msg.LIFETIME, stun.pack_unsigned(lifetime)),
        ]
        if reserved is not None:
            new_token = os.urandom(8)
            self._reservations[new_token] = Reservation(reserved, now + RESERVATION_LIFETIME)
            response_attributes.append((msg.RESERVATION_TOKEN, new_token))
        response = msg.encode(
            message.message_method | stun.Class.RESPONSE,
            message.transaction_id,
            response_attributes,
            key,
        )
        allocation = Allocation(
            key=link.key,
            client_address=link.address,
            username=cred.username,
            user=cred.user,
            relayed_address=relayed,
            expires_at=now + lifetime,
            send_to_client=link.send,
            stream=link.stream,
            transaction_id=message.transaction_id,
            response=response,
        )
        self._pending[link.key] = allocation
        self._per_user[cred.user] = self._per_user.get(cred.user, 0) + 1
        self._spawn(self._open_relay(allocation, sock, link))

    async def _open_relay(
        self, allocation: Allocation, sock: socket.socket, link: ClientLink
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            relay, _ = await loop.create_datagram_endpoint(
                lambda: RelayProtocol(allocation), sock=sock
            )
        except BaseException:
            sock.close()
            self._forget(allocation)
            raise
        if self._pending.pop(allocation.key, None) is not allocation:
            relay.close()  # the client went away meanwhile
            return
        allocation.relay = relay  # type: ignore[assignment]
        self.allocations_by_key[allocation.key] = allocation
        if isinstance(link, TcpConnection):
            link.allocation = allocation
        logger.info(
            "allocation %s for %s (%s)", allocation.relayed_address, link.address, allocation.user
        )
        link.send(allocation.response)

    def _lifetime(self, message: stun.Message) -> int:
        """The granted lifetime (RFC 8656 section 7.2): the default unless more is asked for."""
        requested = message.attributes.get("LIFETIME")
        if requested is None:
            return self.config.default_lifetime
        return max(self.config.default_lifetime, min(requested, self.config.max_lifetime))

    # Refresh (RFC 8656 section 8)

    def _refresh(
        self, message: stun.Message, attributes: list, link: ClientLink, cred: Credentials
    ) -> None:
        allocation = self._owned_allocation(message, link, cred)
        if allocation is None:
            return
        family = _first(attributes, msg.REQUESTED_ADDRESS_FAMILY)
        if family is not None and (not family or family[0] != IPV4_FAMILY):
            self._error(link, message, 443, cred.key)
            return
        if message.attributes.get("LIFETIME") == 0:
            self._delete(allocation)
            lifetime = 0
        else:
            # No LIFETIME (as Chrome sends it) means the default.
            lifetime = self._lifetime(message)
            allocation.refresh(self._clock() + lifetime)
        self._respond(link, message, [(msg.LIFETIME, stun.pack_unsigned(lifetime))], cred.key)

    # CreatePermission (RFC 8656 section 10)

    def _create_permission(
        self, message: stun.Message, attributes: list, link: ClientLink, cred: Credentials
    ) -> None:
        allocation = self._owned_allocation(message, link, cred)
        if allocation is None:
            return
        try:
            peers = [
                stun.unpack_xor_address(value, message.transaction_id)
                for attr_type, value in attributes
                if attr_type == msg.XOR_PEER_ADDRESS
            ]
        except ValueError:
            peers = []
        if not peers:
            self._error(link, message, 400, cred.key)
            return
        # All or nothing: one refused peer refuses the request.
        for peer in peers:
            code = self._check_peer(peer)
            if code:
                self._error(link, message, code, cred.key)
                return
        expires_at = self._clock() + self.config.permission_lifetime
        for peer in peers:
            allocation.install_permission(peer[0], expires_at)
        self._respond(link, message, [], cred.key)

    # ChannelBind (RFC 8656 section 12.2)

    def _channel_bind(
        self, message: stun.Message, attributes: list, link: ClientLink, cred: Credentials
    ) -> None:
        allocation = self._owned_allocation(message, link, cred)
        if allocation is None:
            return
        number = message.attributes.get("CHANNEL-NUMBER")
        peer = message.attributes.get("XOR-PEER-ADDRESS")
        if number is None or peer is None or not CHANNEL_MIN <= number <= CHANNEL_MAX:
            self._error(link, message, 400, cred.key)
            return
        code = self._check_peer(peer)
        if code:
            self._error(link, message, code, cred.key)
            return
        peer = (peer[0], peer[1])
        if not allocation.can_bind(number, peer):
            self._error(link, message, 400, cred.key)
            return
        now = self._clock()
        allocation.bind_channel(number, peer, now + self.config.channel_lifetime)
        allocation.install_permission(peer[0], now + self.config.permission_lifetime)
        self._respond(link, message, [], cred.key)

    # Send indication (RFC 8656 section 11.2)

    def _send_indication(self, message: stun.Message, link: ClientLink) -> None:
        allocation = self.allocations_by_key.get(link.key)
        if allocation is None or allocation.relay is None:
            return
        peer = message.attributes.get("XOR-PEER-ADDRESS")
        data = message.attributes.get("DATA")
        if peer is None or data is None or peer[0] not in allocation.permissions:
            return
        allocation.relay.sendto(data, (peer[0], peer[1]))

    # Helpers

    def _owned_allocation(
        self, message: stun.Message, link: ClientLink, cred: Credentials
    ) -> Allocation | None:
        allocation = self.allocations_by_key.get(link.key)
        if allocation is None:
            self._error(link, message, 437, cred.key)
            return None
        if allocation.username != cred.username:
            # Only the credentials that made the allocation may touch it (RFC 8656 section 6).
            self._error(link, message, 441, cred.key)
            return None
        return allocation

    def _check_peer(self, peer: Address) -> int:
        """0 if the peer is acceptable, else the error code to refuse it with."""
        if not self._policy.permits(peer[0]):
            return 403
        if ":" in peer[0]:
            return 443  # relayed addresses are IPv4
        return 0

    def _delete(self, allocation: Allocation) -> None:
        self._forget(allocation)
        allocation.close()

    def _forget(self, allocation: Allocation) -> None:
        if self.allocations_by_key.get(allocation.key) is allocation:
            del self.allocations_by_key[allocation.key]
        elif self._pending.get(allocation.key) is allocation:
            del self._pending[allocation.key]
        else:
            return
        remaining = self._per_user.get(allocation.user, 1) - 1
        if remaining > 0:
            self._per_user[allocation.user] = remaining
        else:
            self._per_user.pop(allocation.user, None)
        if isinstance(allocation.key, TcpConnection):
            allocation.key.allocation = None

    def _respond(
        self,
        link: ClientLink,
        request: stun.Message,
        attributes: list[tuple[int, bytes]],
        key: bytes | None = None,
    ) -> None:
        message_type = request.message_method | stun.Class.RESPONSE
        link.send(msg.encode(message_type, request.transaction_id, attributes, key))

    def _error(
        self,
        link: ClientLink,
        request: stun.Message,
        code: int,
        key: bytes | None = None,
        extra: list[tuple[int, bytes]] | None = None,
    ) -> None:
        # Errors after successful authentication are signed too (RFC 8489 section 9.2.4),
        # or clients such as aioice discard them and time out.
        attributes = [(msg.ERROR_CODE, msg.error_code(code)), *(extra or [])]
        message_type = request.message_method | stun.Class.ERROR
        link.send(msg.encode(message_type, request.transaction_id, attributes, key))


def _first(attributes: list[tuple[int, bytes]], attr_type: int) -> bytes | None:
    for t, value in attributes:
        if t == attr_type:
            return value
    return None


def _has(attributes: list[tuple[int, bytes]], attr_type: int) -> bool:
    return any(t == attr_type for t, _ in attributes)


def _unknown_required(attributes: list[tuple[int, bytes]]) -> list[int]:
    return [t for t, _ in attributes if t < 0x8000 and t not in msg.KNOWN_REQUIRED]


def _first_public_ipv4(addresses: list[str]) -> str:
    for address in addresses:
        ip = unwrap(address)
        if ip.version == 4 and not ip.is_loopback and not ip.is_link_local:
            return str(ip)
    return "127.0.0.1"


def _bind_listeners(
    host: str, port: int, attempts: int = 32
) -> tuple[socket.socket, socket.socket]:
    """Bind UDP and TCP on one port; with port 0, find one that is free for both."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(attempts if port == 0 else 1):
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            tcp.bind((host, port))
            udp.bind((host, tcp.getsockname()[1]))
            tcp.listen(128)
        except OSError as exc:
            tcp.close()
            udp.close()
            if port == 0 and exc.errno == errno.EADDRINUSE:
                continue
            raise
        tcp.setblocking(False)
        udp.setblocking(False)
        return udp, tcp
    raise OSError(errno.EADDRINUSE, "no port free for both UDP and TCP")
