"""`orga-emulator`: run the emulator until SIGINT/SIGTERM, or around a command (`exec`)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import ssl
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from emulator import __version__
from emulator.config import DEV_API_KEY, Settings, build_parser, settings_from
from emulator.identity.clock import CLOCK
from emulator.net import reachable_host
from emulator.process.logs import redact, setup_logging
from emulator.process.server import EmulatorServer, StartupError
from emulator.process.server import _write_atomically as write_atomically
from emulator.rtc.registry import SESSIONS
from emulator.rtc.relay import RELAY

log = logging.getLogger("emulator")

EXEC_USAGE = "orga-emulator exec [OPTIONS] -- CMD [ARGS...]"
EXEC_CREDENTIAL_LIFETIME = 24 * 3600  # TURN credentials handed to an exec'd command


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["exec"]:
        return _exec_main(argv[1:])
    settings = settings_from(build_parser().parse_args(argv), os.environ)
    setup_logging(settings.log_level)
    if settings.workers > 1:
        return _run(serve_workers(settings))
    return _run(serve(settings))


def _run(coro: Coroutine[Any, Any, int | None]) -> int:
    return event_loop_runner()(coro) or 0


def event_loop_runner() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """uvloop's run where installed, else asyncio's. Chosen outside the `except ImportError`
    block, so that a traceback later is not chained to uvloop's absence."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


async def _start(settings: Settings) -> EmulatorServer | None:
    """A started emulator, or None once the reason it could not start is printed."""
    try:
        server = EmulatorServer(settings)
        await server.start()
    except StartupError as exc:
        print(f"orga-emulator: {exc}", file=sys.stderr)
        return None
    return server


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Serve until `stop` is set or a signal arrives, then close everything within 2 s."""
    server = await _start(settings)
    if server is None:
        return 2
    _load_in_background(server)
    stop = stop or asyncio.Event()
    # Handlers first, then the line: whoever waits for the line may signal at once. The TLS
    # hints come before it, so whoever waits for the line has them too.
    with _signals_set(stop):
        if server.tls:
            from emulator.process.tls import client_hints

            host = reachable_host(settings.host)
            assert server.port is not None  # set by start()
            print("\n".join(client_hints(server.tls, host, server.port)), flush=True)
        print(startup_line(server), flush=True)
        try:
            await stop.wait()
        finally:
            await server.close()
    return 0


def _load_in_background(server: EmulatorServer) -> None:
    """The WebRTC code loads while the HTTP side already answers; once it is in, what is loaded
    lives as long as the process: it leaves the collector's sight, so full collections stay
    short, and tail latency with them."""
    loader = server.app[SESSIONS].loader
    loader.on_loaded.append(_freeze_heap)
    loader.start_background()


def _freeze_heap() -> None:
    gc.collect()
    gc.freeze()


class _signals_set:
    """SIGINT/SIGTERM set an event for the duration of a block."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event
        self._loop = asyncio.get_running_loop()

    def __enter__(self) -> None:
        for signum in self.SIGNALS:
            self._loop.add_signal_handler(signum, self._event.set)

    def __exit__(self, *exc_info: object) -> None:
        for signum in self.SIGNALS:
            self._loop.remove_signal_handler(signum)


def startup_line(server: EmulatorServer) -> str:
    return format_startup_line(server.settings, server.base_url, server.turn_address)


def format_startup_line(
    settings: Settings,
    base_url: str,
    turn: tuple[str, int] | None,
    workers: Sequence[int] = (),
) -> str:
    key = DEV_API_KEY if not settings.api_keys_given else ", ".join(map(redact, settings.api_keys))
    turn_text = f"turn:{turn[0]}:{turn[1]} (udp+tcp)" if turn else "off"
    line = (
        f"orga-emulator {__version__} listening on {base_url}  api key: {key}  "
        f"TURN: {turn_text}  demo: {base_url}/ (open it in a browser)  docs: README.md"
    )
    if workers:
        line += f"  workers: {len(workers)} (pids {', '.join(map(str, workers))})"
    return line


# --- workers ------------------------------------------------------------------------------------


async def serve_workers(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """--workers N: a supervisor and its workers, until `stop` or a signal (every worker's
    sessions closed within 2 s), or until a worker keeps crashing (1)."""
    from emulator.process.supervisor import Supervisor, SupervisorError

    supervisor = Supervisor(settings)
    try:
        await supervisor.start()
    except SupervisorError as exc:
        print(f"orga-emulator: {exc}", file=sys.stderr)
        return 2
    stop = stop or asyncio.Event()
    with _signals_set(stop):
        if supervisor.tls:
            from emulator.process.tls import client_hints

            assert supervisor.port is not None
            host = reachable_host(settings.host)
            print("\n".join(client_hints(supervisor.tls, host, supervisor.port)), flush=True)
        if settings.port_file:
            write_atomically(Path(settings.port_file), f"{supervisor.port}\n")
        if settings.ready_file:
            facts = json.dumps(supervisor.ready_facts())
            write_atomically(Path(settings.ready_file), facts + "\n")
        line = format_startup_line(settings, supervisor.base_url, supervisor.turn, supervisor.pids)
        print(line, flush=True)
        return await supervisor.run(stop)


# --- exec ---------------------------------------------------------------------------------------


EXEC_DESCRIPTION = """Start the emulator (TURN included) on free ports, wait until it is ready,
run CMD with ORGA_BASE_URL, ORGA_API_KEY and ORGA_ICE_SERVERS (JSON, TURN credentials valid for
24 h) in its environment, stop the emulator, and exit with CMD's status.

  orga-emulator exec [OPTIONS] -- npm test"""


def _exec_main(argv: list[str]) -> int:
    parser = build_parser(prog="orga-emulator exec", description=EXEC_DESCRIPTION)
    if "--" not in argv:
        options = [a for a in argv if a.startswith("-")]
        if options and all(a in ("-h", "--help", "--version") for a in options):
            parser.parse_args(argv)  # prints the help or the version, and exits 0
        hint = (
            f"orga-emulator exec -- {' '.join(argv)}" if argv else "orga-emulator exec -- npm test"
        )
        print(
            f"orga-emulator exec: put `--` before the command to run, e.g. `{hint}`\n"
            f"usage: {EXEC_USAGE}",
            file=sys.stderr,
        )
        return 2
    split = argv.index("--")
    if split == len(argv) - 1:
        print(f"orga-emulator exec: no command after `--`\nusage: {EXEC_USAGE}", file=sys.stderr)
        return 2
    namespace = parser.parse_args(argv[:split])
    # Around a command, free ports unless told otherwise: the command reads them from ORGA_*.
    for name in ("port", "turn_port"):
        if getattr(namespace, name) is None and f"ORGA_EMULATOR_{name.upper()}" not in os.environ:
            setattr(namespace, name, 0)
    settings = settings_from(namespace, os.environ)
    if settings.workers > 1:
        print(
            "orga-emulator exec: --workers runs one process around a command; start "
            "`orga-emulator --workers N` on its own and point the command at it",
            file=sys.stderr,
        )
        return 2
    setup_logging(settings.log_level)
    return _run(exec_command(settings, argv[split + 1 :]))


async def exec_command(settings: Settings, command: list[str]) -> int:
    """Start the emulator, wait for /readyz, run `command` with ORGA_* set; return its status."""
    server = await _start(settings)
    if server is None:
        return 2
    _load_in_background(server)
    try:
        print(startup_line(server), file=sys.stderr, flush=True)
        await asyncio.to_thread(_wait_ready, f"{server.base_url}/readyz", _ca_of(server))
        env = {**os.environ, **exec_environment(server)}
        try:
            child = await asyncio.create_subprocess_exec(*command, env=env)
        except OSError as exc:
            print(f"orga-emulator exec: cannot run {command[0]!r}: {exc}", file=sys.stderr)
            return 127
        loop = asyncio.get_running_loop()
        for signum in _signals_set.SIGNALS:  # the command decides how to stop; we follow it
            loop.add_signal_handler(signum, child.send_signal, signum)
        try:
            status = await child.wait()
        finally:
            for signum in _signals_set.SIGNALS:
                loop.remove_signal_handler(signum)
    finally:
        await server.close()
    return 128 - status if status < 0 else status  # killed by signal N: 128+N, as shells say


def exec_environment(server: EmulatorServer) -> dict[str, str]:
    settings = server.settings
    env = {"ORGA_BASE_URL": server.base_url, "ORGA_API_KEY": settings.api_keys[0]}
    expires = int(server.app[CLOCK].time()) + EXEC_CREDENTIAL_LIFETIME
    servers = server.app[RELAY].ice_servers({"exp": expires, "sub": "orga-emulator-exec"})
    env["ORGA_ICE_SERVERS"] = json.dumps(servers)
    if server.tls:  # a Node command trusts the emulator's certificate without further setup
        env["NODE_EXTRA_CA_CERTS"] = str(_ca_of(server))
    return env


def _ca_of(server: EmulatorServer) -> Path | None:
    """What a client must trust to verify the emulator's HTTPS: its CA, or the user's cert."""
    return (server.tls.ca_path or server.tls.cert_path) if server.tls else None


def _wait_ready(url: str, cafile: Path | None = None, timeout: float = 20.0) -> None:
    import urllib.request  # only `exec` waits; serving never needs it (about 20 ms of startup)

    deadline = time.monotonic() + timeout
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise StartupError(f"{url} did not answer 200 within {timeout:.0f} s")
        time.sleep(0.05)
