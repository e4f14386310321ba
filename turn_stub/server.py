"""The TURN server (RFC 8656) with its STUN Binding service (RFC 8489): its sockets, its
lifetime, and one dispatcher.

The dispatcher parses a request, checks its credentials (auth.py; every method but Binding needs
long-term credentials of the TURN REST kind, checked on every request, so they stop working when
their embedded expiry passes), hands it to the method's handler (allocations.py), and encodes,
signs and sends the Reply the handler returns.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import socket
import time
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any

from . import message as msg
from . import stun
from .allocation import Address, Allocation
from .allocations import AllocationTable, Lifetimes
from .auth import Authenticator, Credentials
from .nonce import NonceIssuer
from .policy import PeerPolicy, interface_addresses, is_wildcard, primary_address, unwrap
from .quota import Quota
from .transport import ClientLink, TcpConnection, UdpServerProtocol

logger = logging.getLogger(__name__)


@dataclass
class TurnConfig:
    host: str = "127.0.0.1"
    port: int = 3478  # UDP and TCP on the same port; 0 picks one free for both
    realm: str = "orga-emulator"
    # The TURN REST shared secret; a random one unless the emulator shares its own.
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    relay_address: str | None = None  # default: host; wildcard: the default route's address
    advertised_address: str | None = None  # XOR-RELAYED-ADDRESS behind a 1:1 NAT
    default_lifetime: int = 600
    max_lifetime: int = 3600
    permission_lifetime: int = 300
    channel_lifetime: int = 600
    nonce_lifetime: int = 3600
    max_allocations: int = 1000
    max_allocations_per_user: int = 50
    max_allocations_per_key: int = 200  # of credentials that name their API key
    # Peer rules, ADDR[/PREFIX][:PORT[-PORT]] (policy.py). only_peers makes the policy closed:
    # nothing else is relayed to (the emulator's embedded relay: its own WebRTC peers).
    allow_peers: list[str] = field(default_factory=list)
    deny_peers: list[str] = field(default_factory=list)
    only_peers: list[str] | None = None
    tcp_idle_timeout: float = 10.0  # seconds a TCP connection may stay open without allocating
    max_tcp_connections: int = 1000
    max_tcp_connections_per_address: int = 64
    sweep_interval: float = 1.0  # seconds between expiry sweeps


# A hook that may refuse an authenticated request: called with the method ("allocate",
# "refresh", "create_permission", "channel_bind") and the credentials' user, it returns a STUN
# error code to answer with (401 challenges again) or None to go on. An embedding application
# uses it to inject failures; turn_stub itself never sets one.
FaultHook = Callable[[str, str], int | None]
Handler = Callable[[stun.Message, ClientLink, Credentials], "msg.Reply | None"]


class TurnServer:
    def __init__(self, config: TurnConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.fault_hook: FaultHook | None = None
        self._auth = Authenticator(
            config.realm, config.secret, NonceIssuer(config.nonce_lifetime, clock), clock
        )
        self.allocations = AllocationTable(
            lifetimes=Lifetimes(
                config.default_lifetime,
                config.max_lifetime,
                config.permission_lifetime,
                config.channel_lifetime,
            ),
            quota=Quota(
                config.max_allocations,
                config.max_allocations_per_user,
                config.max_allocations_per_key,
            ),
            policy=PeerPolicy(config.allow_peers, config.deny_peers, only=config.only_peers),
            clock=clock,
            spawn=self._spawn,
        )
        self._connections: set[TcpConnection] = set()
        self._per_address: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self.udp_address: Address = (config.host, config.port)
        self.tcp_address: Address = (config.host, config.port)
        table = self.allocations
        self._handlers: dict[int, Handler] = {
            stun.Method.ALLOCATE: table.allocate,
            stun.Method.REFRESH: table.refresh,
            stun.Method.CREATE_PERMISSION: table.create_permission,
            stun.Method.CHANNEL_BIND: table.channel_bind,
        }

    @property
    def allocations_by_key(self) -> dict[Hashable, Allocation]:
        """What the transports relay by (the UDP hot path reads this dict)."""
        return self.allocations.by_key

    @property
    def allocation_count(self) -> int:
        return len(self.allocations)

    @property
    def tcp_idle_timeout(self) -> float:
        return self.config.tcp_idle_timeout

    @property
    def tcp_connection_count(self) -> int:
        return len(self._connections)

    # Lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        config, table = self.config, self.allocations
        local = interface_addresses()
        table.relay_address = config.relay_address or config.host
        if config.relay_address is None and is_wildcard(config.host):
            table.relay_address = primary_address() or _first_public_ipv4(local)
        table.advertised_address = config.advertised_address or table.relay_address
        if unwrap(table.relay_address).version != 4:
            raise ValueError("relayed addresses are IPv4 only: set relay_address")
        udp_sock, tcp_sock = _bind_listeners(config.host, config.port)
        port = udp_sock.getsockname()[1]
        # No TURN inside TURN: the listening port, on every address it is reached by.
        own = [(config.host, port), (table.advertised_address, port)]
        table.policy = PeerPolicy(
            config.allow_peers,
            config.deny_peers,
            only=config.only_peers,
            own_ports=own,
            local_addresses=local,
        )
        self._udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: UdpServerProtocol(self), sock=udp_sock
        )
        self._tcp_server = await loop.create_server(lambda: TcpConnection(self), sock=tcp_sock)
        self.udp_address = udp_sock.getsockname()[:2]
        self.tcp_address = tcp_sock.getsockname()[:2]
        self._spawn(self._sweep_forever())
        logger.debug(
            "TURN server on udp %s:%d and tcp %s:%d, relaying from %s",
            *self.udp_address,
            *self.tcp_address,
            table.relay_address,
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.allocations.close()
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
        self.allocations.sweep()

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

    def connection_made(self, connection: TcpConnection) -> bool:
        """Count a new connection; False (it is aborted) past a limit, in total or per address."""
        config, source = self.config, connection.address[0]
        held = self._per_address.get(source, 0)
        if len(self._connections) >= config.max_tcp_connections:
            logger.debug("refused TCP from %s: %d connections", source, len(self._connections))
            return False
        if held >= config.max_tcp_connections_per_address:
            logger.debug("refused TCP from %s: %d connections from it", source, held)
            return False
        self._connections.add(connection)
        self._per_address[source] = held + 1
        return True

    def connection_lost(self, connection: TcpConnection) -> None:
        if connection in self._connections:
            self._connections.discard(connection)
            source = connection.address[0]
            held = self._per_address.pop(source, 1) - 1
            if held > 0:
                self._per_address[source] = held
        self.allocations.connection_lost(connection)

    # STUN dispatch

    def handle_stun(self, data: bytes, link: ClientLink) -> None:
        """Handle one STUN message from a client; anything malformed is dropped silently."""
        try:
            message = stun.parse_message(data)
        except ValueError as exc:
            logger.debug("malformed STUN from %s: %s", link.address, exc)
            return
        method = message.message_method
        if message.message_class == stun.Class.INDICATION:
            if method == stun.Method.SEND and not message.unknown_required:
                self.allocations.send_indication(message, link)
            return
        if message.message_class != stun.Class.REQUEST:
            return
        if method == stun.Method.ALLOCATE and self.allocations.is_retransmission(message, link):
            return
        reply = self._answer(message, link)
        if reply is not None:
            link.send(reply.encode(message))

    def _answer(self, message: stun.Message, link: ClientLink) -> msg.Reply | None:
        method = message.message_method
        if method == stun.Method.BINDING:
            return _binding(message, link)
        handler = self._handlers.get(method)
        if handler is None:
            return msg.error(400)
        cred = self._auth.check(message, link.address[0])
        if isinstance(cred, msg.Reply):
            return cred
        if self.fault_hook is not None:
            code = self.fault_hook(method.name.lower(), cred.user)
            if code == 401:
                return self._auth.challenge(401, link.address[0])
            if code:
                return msg.error(code, cred.key)
        if message.unknown_required:
            return msg.error(420, cred.key, ("UNKNOWN-ATTRIBUTES", message.unknown_required))
        return handler(message, link, cred)


def _binding(message: stun.Message, link: ClientLink) -> msg.Reply:
    """STUN Binding (RFC 8489 section 5): the client's address as this server sees it."""
    if message.unknown_required:
        return msg.error(420, None, ("UNKNOWN-ATTRIBUTES", message.unknown_required))
    return msg.success(None, ("XOR-MAPPED-ADDRESS", link.address))


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
