"""`orga-emulator`: run the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from emulator import __version__
from emulator.app import create_app
from emulator.logs import redact, setup_logging
from emulator.netinfo import reachable_host
from emulator.settings import DEV_API_KEY, Settings, load_settings
from emulator.state import TURN

log = logging.getLogger("emulator")

SHUTDOWN_TIMEOUT = 2.0


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings(argv)
    setup_logging(settings.log_level)
    try:
        _run(serve(settings))
    except StartupError as exc:
        print(f"orga-emulator: {exc}", file=sys.stderr)
        return 2
    return 0


def _run(coro) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


class StartupError(Exception):
    pass


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or a signal arrives), then close everything within 2 s."""
    app = create_app(settings)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise StartupError(f"cannot listen: {exc}") from None
    port = runner.addresses[0][1]
    if settings.port_file:
        _write_atomically(Path(settings.port_file), f"{port}\n")
    print(startup_line(settings, port, app[TURN].client_address), flush=True)

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        log.info("shutting down")
        await runner.cleanup()


def startup_line(settings: Settings, port: int, turn: tuple[str, int] | None) -> str:
    url = f"http://{reachable_host(settings.host)}:{port}"
    key = DEV_API_KEY if not settings.api_keys_given else ", ".join(map(redact, settings.api_keys))
    turn_text = f"turn:{turn[0]}:{turn[1]} (udp+tcp)" if turn else "off"
    return (
        f"orga-emulator {__version__} listening on {url}  api key: {key}  TURN: {turn_text}  "
        f"docs: {url}/ (endpoints) and README.md"
    )


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
