"""The TURN relay clients are told about: the in-process turn_stub (started with the app, closed
with it) or an external one (compose), and the ICE servers list that points at it.

TURN credentials follow the TURN REST scheme and expire with the token (`exp`), so a client can
reach the relay exactly as long as its token lives; the username names the token's API key
(`<exp>:<sub>:key=<api_key_id>`), for turn_stub's quota per key.

The embedded relay reaches only the emulator's own WebRTC peers, which is what a relay-only call
needs: the host addresses aioice gathers (and --advertised-ip), on --rtc-ports when set. Loopback
services, the TURN port itself and other hosts are refused; --turn-allow-peer adds peers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.config import Settings
from emulator.identity.clock import Clock
from emulator.net import ListenError, reachable_host
from turn_stub.credentials import rest_password, rest_username

if TYPE_CHECKING:
    from turn_stub.server import TurnServer

log = logging.getLogger(__name__)


def ice_servers(host: str, port: int, secret: str, claims: dict[str, Any]) -> list[dict[str, Any]]:
    """STUN first, then TURN with UDP before TCP: aiortc uses only the first TURN URL it sees."""
    username = rest_username(int(claims["exp"]), claims["sub"], claims.get("api_key_id"))
    return [
        {"urls": [f"stun:{host}:{port}"]},
        {
            "urls": [f"turn:{host}:{port}?transport=udp", f"turn:{host}:{port}?transport=tcp"],
            "username": username,
            "credential": rest_password(secret, username),
        },
    ]


class RelayService:
    """Owns the embedded TURN server's lifetime and the address clients are told to use."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self.server: TurnServer | None = None
        # Set by the control plane (TURN faults); handed to the server when it starts.
        self.fault_hook: Callable[[str, str], int | None] | None = None
        self.client_address: tuple[str, int] | None = None

    def ice_servers(self, claims: dict[str, Any]) -> list[dict[str, Any]]:
        """What ice-config hands out for a token: none without a relay."""
        if self.client_address is None:
            return []
        host, port = self.client_address
        return ice_servers(host, port, self._settings.turn_secret, claims)

    def use_external(self) -> None:
        """--no-turn with --turn-host: ice-config points at a TURN server run elsewhere (compose)
        that shares --turn-secret."""
        s = self._settings
        assert s.turn_host is not None
        self.client_address = (s.turn_host, s.turn_port)

    async def start(self) -> None:
        # Imported here: a process that never starts the relay does not pay for turn_stub.
        from turn_stub.server import TurnConfig, TurnServer

        s = self._settings
        config = TurnConfig(
            host=s.host,
            port=s.turn_port,
            realm=s.turn_realm,
            secret=s.turn_secret,
            allow_peers=list(s.turn_allow_peers),
            only_peers=rtc_peers(s.rtc_ports, s.advertised_ip),
        )
        server = TurnServer(config, clock=self._clock)
        server.fault_hook = self.fault_hook
        try:
            await server.start()
        except OSError as exc:
            flags = "--turn-port, ORGA_EMULATOR_TURN_PORT; --no-turn runs without it"
            raise ListenError(s.host, s.turn_port, "TURN", flags, exc) from None
        self.server = server
        self.client_address = (s.turn_host or reachable_host(s.host), server.udp_address[1])
        # DEBUG: the startup line says where TURN listens, and it is the one line printed.
        log.debug("turn_stub up on %s:%d (udp+tcp)", *server.udp_address)

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None


def rtc_peers(rtc_ports: str | None, advertised_ip: str | None) -> list[str]:
    """Peer rules for the emulator's own WebRTC peers: where aioice gathers host candidates."""
    from aioice.ice import get_host_addresses

    addresses = get_host_addresses(use_ipv4=True, use_ipv6=True)
    if advertised_ip:
        addresses.append(advertised_ip)
    if not rtc_ports:
        return addresses
    return [f"[{a}]:{rtc_ports}" if ":" in a else f"{a}:{rtc_ports}" for a in addresses]


RELAY = web.AppKey("relay", RelayService)
