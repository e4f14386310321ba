"""``orga-turn-stub``: run the TURN/STUN server until SIGINT or SIGTERM.

Every option can also come from the environment as ``ORGA_TURN_STUB_<NAME>``
(e.g. ``ORGA_TURN_STUB_SECRET``); repeatable options take a comma-separated
list there. OPTIONS (a turn_stub.options table, like the emulator's) is the single table the
parser (and the README) is built from.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .options import Option, OptionTable
from .policy import peer_rule
from .server import TurnConfig, TurnServer

ENV_PREFIX = "ORGA_TURN_STUB_"


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"not one of {', '.join(LOG_LEVELS)}: {text}")
    return level


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

OPTIONS = OptionTable(
    ENV_PREFIX,
    TurnConfig,
    (
        Option("host", "Address to listen on (UDP and TCP)."),
        Option("port", "Port for both UDP and TCP (0: any free one).", int),
        Option("realm", "REALM of the long-term credentials."),
        Option("secret", "TURN REST shared secret; a generated one is printed at startup."),
        Option(
            "relay_address",
            "Address relayed sockets bind to. Default: the host address; for 0.0.0.0, the "
            "address the default route leaves from.",
        ),
        Option("advertised_address", "Address put in XOR-RELAYED-ADDRESS (1:1 NAT)."),
        Option("max_allocations", "Allocations in total.", int),
        Option("max_allocations_per_user", "Allocations per user.", int),
        Option(
            "max_allocations_per_key",
            "Allocations per API key, for usernames that name one (`<expiry>:<user>:key=<id>`).",
            int,
        ),
        Option(
            "allow_peers",
            "Peers that may be relayed to, over the default policy (which refuses loopback, "
            "link-local, multicast and this server's own ports): ADDR[/PREFIX][:PORT[-PORT]]. "
            "A rule naming a port admits this server's own port too.",
            peer_rule,
            flag="--allow-peer",
            repeatable=True,
            metavar="RULE",
        ),
        Option(
            "deny_peers",
            "Peers that may not be relayed to: ADDR[/PREFIX][:PORT[-PORT]]; the most specific "
            "rule wins, deny on a tie.",
            peer_rule,
            flag="--deny-peer",
            repeatable=True,
            metavar="RULE",
        ),
        Option(
            "tcp_idle_timeout",
            "Seconds a TCP connection may stay open without an allocation.",
            float,
            metavar="SECONDS",
        ),
        Option("max_tcp_connections", "TCP connections in total.", int),
        Option("max_tcp_connections_per_address", "TCP connections per client address.", int),
        Option("log_level", "Logging level.", _log_level, default="WARNING", metavar="LEVEL"),
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orga-turn-stub",
        description="TURN (RFC 8656) and STUN server for orga-emulator.",
        epilog=f"Every option is also read from the environment as {ENV_PREFIX}<NAME>.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    OPTIONS.add_to(parser)
    return parser


def _version() -> str:
    """The orga-emulator distribution's version (turn_stub ships in it)."""
    try:
        return importlib.metadata.version("orga-emulator")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def config_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> tuple[TurnConfig, str, bool]:
    """The server configuration, the log level, and whether the secret had to be generated."""
    values = OPTIONS.values(args, os.environ if environ is None else environ)
    log_level = values.pop("log_level", "WARNING")
    for name in ("allow_peers", "deny_peers"):
        if name in values:
            values[name] = list(values[name])
    generated = not values.get("secret")
    if generated:
        values["secret"] = secrets.token_urlsafe(24)
    return TurnConfig(**values), log_level, generated


async def serve(config: TurnConfig, announce: Callable[[TurnServer], None]) -> None:
    """Run a server until SIGINT/SIGTERM, then close it."""
    server = TurnServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        announce(server)
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.close()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, log_level, generated = config_from_args(build_parser().parse_args(argv))
    except ValueError as exc:
        print(f"orga-turn-stub: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def announce(server: TurnServer) -> None:
        udp, tcp = server.udp_address, server.tcp_address
        line = f"orga-turn-stub listening on udp {udp[0]}:{udp[1]} tcp {tcp[0]}:{tcp[1]}"
        line += f" realm {config.realm}"
        if generated:
            line += f" secret {config.secret}"
        print(line, flush=True)

    try:
        _run(serve(config, announce))
    except OSError as exc:
        print(f"orga-turn-stub: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(coroutine: Any) -> None:
    # uvloop is optional (a faster event loop). The loop runs outside the `except ImportError`
    # block, so that a traceback from it is not chained to uvloop's absence.
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(coroutine)


def options_table() -> str:
    """The README's table of orga-turn-stub's options."""
    return OPTIONS.markdown()
