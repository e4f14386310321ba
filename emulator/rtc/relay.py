"""The in-process turn_stub: started with the app, closed with it, shared secret with ice-config."""

from __future__ import annotations

import logging
from collections.abc import Callable

from emulator.config import Settings
from emulator.identity.clock import Clock
from emulator.net import reachable_host

log = logging.getLogger(__name__)


class TurnService:
    """Owns the embedded TURN server's lifetime and the address clients are told to use."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self.server = None  # turn_stub.server.TurnServer once started
        # Set by the control plane (TURN faults); handed to the server when it starts.
        self.fault_hook: Callable[[str, str], int | None] | None = None
        self.client_address: tuple[str, int] | None = None

    def use_external(self) -> None:
        """--no-turn with --turn-host: ice-config points at a TURN server run elsewhere (compose)
        that shares --turn-secret."""
        s = self._settings
        self.client_address = (s.turn_host, s.turn_port)

    async def start(self) -> None:
        from turn_stub.server import TurnConfig, TurnServer

        s = self._settings
        server = TurnServer(
            TurnConfig(host=s.host, port=s.turn_port, realm=s.turn_realm, secret=s.turn_secret),
            clock=self._clock,
        )
        server.fault_hook = self.fault_hook
        await server.start()
        self.server = server
        self.client_address = (s.turn_host or reachable_host(s.host), server.udp_address[1])
        log.info("turn_stub up on %s:%d (udp+tcp)", *server.udp_address)

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None
