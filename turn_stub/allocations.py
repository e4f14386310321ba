"""The allocations and the TURN methods that act on them (RFC 8656 sections 7 to 12).

Each method takes an authenticated request and returns its Reply; the server encodes, signs and
sends it. Allocate answers later, once the relayed socket is open.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Any

from . import message as msg
from . import stun
from .allocation import Address, Allocation
from .auth import Credentials
from .policy import PeerPolicy
from .quota import Quota
from .transport import (
    ClientLink,
    RelayProtocol,
    TcpConnection,
    bind_relay_socket,
    set_dont_fragment,
)

logger = logging.getLogger(__name__)

UDP_TRANSPORT = 17  # REQUESTED-TRANSPORT protocol number (RFC 8656 section 18.7)
CHANNEL_MIN = 0x4000
# RFC 8656 narrows the range to 0x4FFF; RFC 5766 clients may use up to 0x7FFF.
CHANNEL_MAX = 0x7FFF
RESERVATION_LIFETIME = 30  # seconds a reserved port (EVEN-PORT R bit) is held
# A timer that fires a little early (the loop's clock is not the server's) re-arms, at least
# this far ahead, so a frozen test clock just short of an expiry cannot spin the loop.
MIN_TIMER = 0.05
_LOGGED_DENIALS = 1024  # refused peers remembered so that each is logged once

Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass(frozen=True)
class Lifetimes:
    default: int = 600
    max: int = 3600
    permission: int = 300
    channel: int = 600


@dataclass
class Reservation:
    sock: socket.socket
    expires_at: float


class AllocationTable:
    def __init__(
        self,
        *,
        lifetimes: Lifetimes,
        quota: Quota,
        policy: PeerPolicy,
        clock: Callable[[], float],
        spawn: Spawn,
    ) -> None:
        self.lifetimes = lifetimes
        self.quota = quota
        self.policy = policy
        self.relay_address = "127.0.0.1"  # where relayed sockets bind; set when the server starts
        self.advertised_address = "127.0.0.1"  # what XOR-RELAYED-ADDRESS says
        # Keyed by the client's 5-tuple (see ClientLink.key); read by the UDP hot path.
        self.by_key: dict[Hashable, Allocation] = {}
        # Allocations whose relayed socket is being set up.
        self._pending: dict[Hashable, Allocation] = {}
        self._reservations: dict[bytes, Reservation] = {}
        self._clock = clock
        self._spawn = spawn
        self._logged: set[tuple[str, Address]] = set()

    def __len__(self) -> int:
        return len(self.by_key) + len(self._pending)

    def __contains__(self, key: Hashable) -> bool:
        """Whether this client 5-tuple has an allocation, made or on its way."""
        return key in self.by_key or key in self._pending

    # Allocate (RFC 8656 section 7.2)

    def is_retransmission(self, message: stun.Message, link: ClientLink) -> bool:
        """Answer a retransmitted Allocate with the response it already had."""
        allocation = self.by_key.get(link.key)
        if allocation is not None and allocation.transaction_id == message.transaction_id:
            link.send(allocation.response)
            return True
        pending = self._pending.get(link.key)
        # Its response is on the way.
        return pending is not None and pending.transaction_id == message.transaction_id

    def allocate(
        self, message: stun.Message, link: ClientLink, cred: Credentials
    ) -> msg.Reply | None:
        """An error now, or None: the success is sent once the relayed socket is open."""
        key = cred.key
        if link.key in self.by_key or link.key in self._pending:
            return msg.error(437, key)
        attributes = message.attributes
        transport = attributes.get("REQUESTED-TRANSPORT")
        if transport is None:
            return msg.error(400, key)
        if transport != UDP_TRANSPORT:
            return msg.error(442, key)
        family = attributes.get("REQUESTED-ADDRESS-FAMILY")
        even_port = attributes.get("EVEN-PORT")  # its R bit: reserve the next port
        token = attributes.get("RESERVATION-TOKEN")
        if token is not None and (even_port is not None or family is not None):
            return msg.error(400, key)
        if family is not None and family != stun.IPV4:
            return msg.error(440, key)
        refusal = self.quota.refusal(len(self), cred.user, cred.key_id)
        if refusal is not None:
            logger.info("486 to %s: %s", link.address, refusal)
            return msg.error(486, key)
        reserved: socket.socket | None = None
        if token is not None:
            reservation = self._reservations.pop(token, None)
            if reservation is None:
                return msg.error(508, key)
            sock = reservation.sock
        else:
            try:
                sock, reserved = bind_relay_socket(
                    self.relay_address, even_port is not None, bool(even_port)
                )
            except OSError as exc:
                logger.warning("cannot bind a relay socket: %s", exc)
                return msg.error(508, key)
        if "DONT-FRAGMENT" in attributes:
            set_dont_fragment(sock)
        self._create(message, link, cred, sock, reserved)
        return None

    def _create(
        self,
        message: stun.Message,
        link: ClientLink,
        cred: Credentials,
        sock: socket.socket,
        reserved: socket.socket | None,
    ) -> None:
        now = self._clock()
        # Never past the credentials' expiry: a token's relay ends with the token.
        expires_at = min(now + self._lifetime(message), cred.expiry)
        relayed = (self.advertised_address, sock.getsockname()[1])
        attributes: list[tuple[str, Any]] = [
            ("XOR-RELAYED-ADDRESS", relayed),
            ("XOR-MAPPED-ADDRESS", link.address),
            ("LIFETIME", _seconds_left(expires_at, now)),
        ]
        if reserved is not None:
            new_token = os.urandom(8)
            self._reservations[new_token] = Reservation(reserved, now + RESERVATION_LIFETIME)
            attributes.append(("RESERVATION-TOKEN", new_token))
        allocation = Allocation(
            key=link.key,
            client_address=link.address,
            username=cred.username,
            user=cred.user,
            key_id=cred.key_id,
            relayed_address=relayed,
            expires_at=expires_at,
            credentials_expire_at=cred.expiry,
            send_to_client=link.send,
            stream=link.stream,
            transaction_id=message.transaction_id,
            response=msg.success(cred.key, *attributes).encode(message),
        )
        self._pending[link.key] = allocation
        self.quota.add(cred.user, cred.key_id)
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
            self.forget(allocation)
            raise
        if self._pending.pop(allocation.key, None) is not allocation:
            relay.close()  # the client went away meanwhile
            return
        allocation.relay = relay
        self.by_key[allocation.key] = allocation
        if isinstance(link, TcpConnection):
            link.allocated(allocation)
        self._arm(allocation)
        logger.info(
            "allocation %s for %s (%s)", allocation.relayed_address, link.address, allocation.user
        )
        link.send(allocation.response)

    def _lifetime(self, message: stun.Message) -> int:
        """The granted lifetime (RFC 8656 section 7.2): the default unless more is asked for."""
        requested = message.attributes.get("LIFETIME")
        if requested is None:
            return self.lifetimes.default
        return max(self.lifetimes.default, min(requested, self.lifetimes.max))

    # Refresh (RFC 8656 section 8)

    def refresh(self, message: stun.Message, link: ClientLink, cred: Credentials) -> msg.Reply:
        allocation = self._owned(link, cred)
        if isinstance(allocation, msg.Reply):
            return allocation
        family = message.attributes.get("REQUESTED-ADDRESS-FAMILY")
        if family is not None and family != stun.IPV4:
            return msg.error(443, cred.key)
        if message.attributes.get("LIFETIME") == 0:
            self.delete(allocation)
            lifetime = 0
        else:
            # No LIFETIME (as Chrome sends it) means the default.
            now = self._clock()
            allocation.refresh(now + self._lifetime(message))
            lifetime = _seconds_left(allocation.expires_at, now)
            self._arm(allocation)
        return msg.success(cred.key, ("LIFETIME", lifetime))

    # CreatePermission (RFC 8656 section 10)

    def create_permission(
        self, message: stun.Message, link: ClientLink, cred: Credentials
    ) -> msg.Reply:
        allocation = self._owned(link, cred)
        if isinstance(allocation, msg.Reply):
            return allocation
        peers = message.all_values("XOR-PEER-ADDRESS")
        if not peers:
            return msg.error(400, cred.key)
        # All or nothing: one refused peer refuses the request.
        for peer in peers:
            code = self.check_peer(peer, cred.user)
            if code:
                return msg.error(code, cred.key)
        expires_at = self._clock() + self.lifetimes.permission
        for peer in peers:
            allocation.install_permission(peer[0], expires_at)
        return msg.success(cred.key)

    # ChannelBind (RFC 8656 section 12.2)

    def channel_bind(self, message: stun.Message, link: ClientLink, cred: Credentials) -> msg.Reply:
        allocation = self._owned(link, cred)
        if isinstance(allocation, msg.Reply):
            return allocation
        number = message.attributes.get("CHANNEL-NUMBER")
        peer = message.attributes.get("XOR-PEER-ADDRESS")
        if number is None or peer is None or not CHANNEL_MIN <= number <= CHANNEL_MAX:
            return msg.error(400, cred.key)
        code = self.check_peer(peer, cred.user)
        if code:
            return msg.error(code, cred.key)
        if not allocation.can_bind(number, peer):
            return msg.error(400, cred.key)
        now = self._clock()
        allocation.bind_channel(number, peer, now + self.lifetimes.channel)
        allocation.install_permission(peer[0], now + self.lifetimes.permission)
        return msg.success(cred.key)

    # Send indication (RFC 8656 section 11.2): never answered

    def send_indication(self, message: stun.Message, link: ClientLink) -> None:
        allocation = self.by_key.get(link.key)
        if allocation is None or allocation.relay is None:
            return
        peer = message.attributes.get("XOR-PEER-ADDRESS")
        data = message.attributes.get("DATA")
        if peer is None or data is None or peer[0] not in allocation.permissions:
            return
        # Permissions are per IP address, the policy is per port too.
        if self._refused(peer, allocation.user):
            return
        allocation.relay.sendto(data, (peer[0], peer[1]))

    # The table's own upkeep

    def _owned(self, link: ClientLink, cred: Credentials) -> Allocation | msg.Reply:
        allocation = self.by_key.get(link.key)
        if allocation is None:
            return msg.error(437, cred.key)
        if allocation.username != cred.username:
            # Only the credentials that made the allocation may touch it (RFC 8656 section 6).
            return msg.error(441, cred.key)
        return allocation

    def check_peer(self, peer: Address, user: str) -> int:
        """0 if the peer is acceptable, else the error code to refuse it with."""
        if self._refused(peer, user):
            return 403  # Forbidden (RFC 8656 sections 10.2 and 12.2)
        if ":" in peer[0]:
            return 443  # relayed addresses are IPv4
        return 0

    def _refused(self, peer: Address, user: str) -> bool:
        """True if the policy refuses the peer; logged once per user and peer."""
        reason = self.policy.refusal((peer[0], peer[1]))
        if reason is None:
            return False
        if (user, peer) not in self._logged:
            if len(self._logged) >= _LOGGED_DENIALS:
                self._logged.clear()
            self._logged.add((user, peer))
            logger.warning("refused to relay to %s:%d for %s: %s", peer[0], peer[1], user, reason)
        return True

    # Expiry: a timer per allocation, on the server's clock

    def _arm(self, allocation: Allocation) -> None:
        if allocation.timer is not None:
            allocation.timer.cancel()
        delay = max(allocation.expires_at - self._clock(), MIN_TIMER)
        loop = asyncio.get_running_loop()
        allocation.timer = loop.call_later(delay, self._due, allocation)

    def _due(self, allocation: Allocation) -> None:
        allocation.timer = None
        if self.by_key.get(allocation.key) is not allocation:
            return
        if self._clock() >= allocation.expires_at:
            self.end(allocation)
        else:
            self._arm(allocation)  # refreshed meanwhile, or the timer fired a little early

    def end(self, allocation: Allocation) -> None:
        """An allocation's lifetime (or its credentials) ran out: over TCP, the connection too."""
        logger.info("allocation %s expired", allocation.relayed_address)
        self.delete(allocation)
        if isinstance(allocation.key, TcpConnection):
            allocation.key.close()

    def connection_lost(self, connection: TcpConnection) -> None:
        # A TCP allocation lives as long as its connection (RFC 8656 section 3.1).
        allocation = self.by_key.get(connection) or self._pending.get(connection)
        if allocation is not None:
            self.delete(allocation)

    def sweep(self) -> None:
        """Expire allocations, permissions, channels and reservations against the clock."""
        now = self._clock()
        for allocation in list(self.by_key.values()):
            if allocation.expire(now):
                self.end(allocation)
        for token in [t for t, r in self._reservations.items() if now >= r.expires_at]:
            self._reservations.pop(token).sock.close()

    def close(self) -> None:
        for allocation in list(self.by_key.values()) + list(self._pending.values()):
            self.delete(allocation)
        for reservation in self._reservations.values():
            reservation.sock.close()
        self._reservations.clear()

    def delete(self, allocation: Allocation) -> None:
        self.forget(allocation)
        allocation.close()

    def forget(self, allocation: Allocation) -> None:
        if self.by_key.get(allocation.key) is allocation:
            del self.by_key[allocation.key]
        elif self._pending.get(allocation.key) is allocation:
            del self._pending[allocation.key]
        else:
            return
        self.quota.remove(allocation.user, allocation.key_id)
        if isinstance(allocation.key, TcpConnection):
            allocation.key.allocation_ended()


def _seconds_left(expires_at: float, now: float) -> int:
    """LIFETIME for an expiry: whole seconds, rounded up so that a live allocation never says 0."""
    return max(1, math.ceil(expires_at - now))
