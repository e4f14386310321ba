"""Running the app on a socket: start, report where, close everything it opened."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.app import create_app
from emulator.config import ConfigError, Settings
from emulator.identity.clock import Clock
from emulator.net import ListenError, reachable_host
from emulator.process.protocol import EmulatorRunner
from emulator.rtc.relay import RELAY

if TYPE_CHECKING:
    from emulator.process.tls import TlsMaterial

log = logging.getLogger("emulator")

SHUTDOWN_TIMEOUT = 2.0


class StartupError(Exception):
    """The emulator could not start (a busy port, say); the message says why."""


class EmulatorServer:
    """The emulator on its sockets: HTTP, and TURN when enabled."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, reuse_port: bool = False
    ) -> None:
        self.settings = settings
        self._reuse_port = reuse_port  # a worker shares the port with its siblings
        try:
            self.app = create_app(settings, clock=clock)
        except ConfigError as exc:
            raise StartupError(str(exc)) from None
        self._runner = EmulatorRunner.for_settings(
            self.app,
            settings,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        self.port: int | None = None
        self.tls: TlsMaterial | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{reachable_host(self.settings.host)}:{self.port}"

    @property
    def turn_address(self) -> tuple[str, int] | None:
        return self.app[RELAY].client_address

    async def start(self) -> None:
        if self.settings.tls or self.settings.tls_cert or self.settings.tls_key:
            # cryptography is imported only when TLS is asked for.
            from emulator.process.tls import TlsError, tls_for

            try:
                self.tls = tls_for(self.settings)
            except TlsError as exc:
                raise StartupError(f"TLS: {exc}") from None
        settings = self.settings
        try:
            await self._runner.setup()  # starts the TURN server: its own error names its port
        except OSError as exc:
            await self._runner.cleanup()
            raise StartupError(str(exc)) from None
        site = web.TCPSite(
            self._runner,
            settings.host,
            settings.port,
            ssl_context=self.tls.context if self.tls else None,
            reuse_port=self._reuse_port or None,
        )
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            flags = "--port, ORGA_EMULATOR_PORT"
            error = ListenError(settings.host, settings.port, "HTTP", flags, exc)
            raise StartupError(str(error)) from None
        self.port = self._runner.addresses[0][1]
        if settings.port_file:
            _write_atomically(Path(settings.port_file), f"{self.port}\n")
        if settings.ready_file:
            _write_atomically(Path(settings.ready_file), json.dumps(self.ready_facts()) + "\n")

    def ready_facts(self) -> dict[str, Any]:
        """Where everything listens, for --ready-file."""
        return ready_facts(self.base_url, self.port, self.turn_address)

    async def close(self) -> None:
        log.info("shutting down")
        await self._runner.cleanup()


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def ready_facts(base_url: str, port: int | None, turn: tuple[str, int] | None) -> dict[str, Any]:
    """The --ready-file document: where everything listens (a supervisor adds its workers)."""
    return {
        "base_url": base_url,
        "port": port,
        "turn_host": turn[0] if turn else None,
        "turn_port": turn[1] if turn else None,
        "pid": os.getpid(),
    }
