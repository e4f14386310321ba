"""Allocation state (RFC 8656 sections 6, 9 and 12): permissions and channels, with explicit expiry.

Expiry times are absolute values of the server's injectable clock. Nothing here
looks at the clock itself: the server passes ``now`` in, so a test (or the
emulator) can move time forward without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

Address = tuple[str, int]


@dataclass(eq=False)
class Channel:
    number: int
    peer: Address
    expires_at: float


@dataclass(eq=False)
class Allocation:
    """One relayed transport address, owned by one client 5-tuple and one username."""

    # The client 5-tuple as the server sees it: its address on UDP, its connection on TCP.
    key: Hashable
    client_address: Address
    username: str
    user: str
    key_id: str | None  # the API key the username names (quota per key), if any
    relayed_address: Address  # as advertised in XOR-RELAYED-ADDRESS
    # Never past credentials_expire_at: an allocation ends with its credentials.
    expires_at: float
    credentials_expire_at: float
    send_to_client: Callable[[bytes], None]
    stream: bool  # TCP: ChannelData to the client is padded to 4 bytes
    transaction_id: bytes  # of the Allocate request, to answer its retransmissions
    response: bytes  # the success response, resent verbatim to retransmissions
    relay: asyncio.DatagramTransport | None = None
    # Peer IP -> expiry. Permissions are per IP address, not per port (RFC 8656 section 9).
    permissions: dict[str, float] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    channel_by_peer: dict[Address, int] = field(default_factory=dict)
    # The timer that ends it on time (allocations.py arms it); set once it has ended.
    timer: asyncio.TimerHandle | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def refresh(self, expires_at: float) -> None:
        self.expires_at = min(expires_at, self.credentials_expire_at)

    def install_permission(self, peer_ip: str, expires_at: float) -> None:
        self.permissions[peer_ip] = expires_at

    def can_bind(self, number: int, peer: Address) -> bool:
        """A number may be bound to one peer and a peer to one number (RFC 8656 section 12.2)."""
        channel = self.channels.get(number)
        if channel is not None and channel.peer != peer:
            return False
        bound = self.channel_by_peer.get(peer)
        return bound is None or bound == number

    def bind_channel(self, number: int, peer: Address, expires_at: float) -> None:
        channel = self.channels.get(number)
        if channel is None:
            self.channels[number] = Channel(number, peer, expires_at)
            self.channel_by_peer[peer] = number
        else:
            channel.expires_at = expires_at

    def expire(self, now: float) -> bool:
        """Drop expired permissions and channels; True if the allocation itself has expired."""
        if now >= self.expires_at:
            return True
        for peer_ip in [ip for ip, expiry in self.permissions.items() if now >= expiry]:
            del self.permissions[peer_ip]
        for channel in [c for c in self.channels.values() if now >= c.expires_at]:
            del self.channels[channel.number]
            del self.channel_by_peer[channel.peer]
        return False

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.relay is not None:
            self.relay.close()
        self.ended.set()
        self.permissions.clear()
        self.channels.clear()
        self.channel_by_peer.clear()
