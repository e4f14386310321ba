"""``orga-turn-stub``: run the TURN/STUN server until SIGINT or SIGTERM.

Every option can also come from the environment as ``ORGA_TURN_STUB_<NAME>``
(e.g. ``ORGA_TURN_STUB_SECRET``); repeatable options take a comma-separated
list there. OPTIONS is the single table the parser (and the README) is built from.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .server import TurnConfig, TurnServer

ENV_PREFIX = "ORGA_TURN_STUB_"


@dataclass(frozen=True)
class Option:
    name: str  # the long flag without its dashes
    help: str
    type: Callable[[str], Any] = str
    default: Any = None
    repeat: bool = False

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


_DEFAULTS = TurnConfig(secret="")

OPTIONS: tuple[Option, ...] = (
    Option("host", "address to listen on (UDP and TCP)", default=_DEFAULTS.host),
    Option("port", "port for both UDP and TCP (0: any free one)", int, _DEFAULTS.port),
    Option("realm", "REALM of the long-term credentials", default=_DEFAULTS.realm),
    Option("secret", "TURN REST shared secret (default: random, printed at startup)"),
    Option("relay-address", "address relayed sockets bind to (default: the host address)"),
    Option("advertised-address", "address put in XOR-RELAYED-ADDRESS (1:1 NAT)"),
    Option("max-allocations", "allocations in total", int, _DEFAULTS.max_allocations),
    Option(
        "max-allocations-per-user",
        "allocations per user",
        int,
        _DEFAULTS.max_allocations_per_user,
    ),
    Option("allow-peer", "CIDR peers may be relayed to, over the default policy", repeat=True),
    Option("deny-peer", "CIDR peers may not be relayed to, over the default policy", repeat=True),
    Option("log-level", "DEBUG, INFO, WARNING or ERROR", str.upper, "WARNING"),
)


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The argument parser, with defaults taken from ORGA_TURN_STUB_* variables."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="orga-turn-stub", description="TURN (RFC 8656) and STUN server for orga-emulator."
    )
    for option in OPTIONS:
        raw = environ.get(option.env)
        if option.repeat:
            default = [v.strip() for v in raw.split(",") if v.strip()] if raw else []
            parser.add_argument(
                option.flag, action="append", default=None, help=f"{option.help} (repeatable)"
            )
            parser.set_defaults(**{f"_env_{option.dest}": default})
        else:
            default = option.type(raw) if raw is not None else option.default
            parser.add_argument(option.flag, type=option.type, default=default, help=option.help)
    return parser


def config_from_args(args: argparse.Namespace) -> tuple[TurnConfig, bool]:
    """The server configuration, and whether the secret had to be generated."""
    values = vars(args)
    generated = not values["secret"]
    config = TurnConfig(
        host=values["host"],
        port=values["port"],
        realm=values["realm"],
        secret=values["secret"] or secrets.token_urlsafe(24),
        relay_address=values["relay_address"],
        advertised_address=values["advertised_address"],
        max_allocations=values["max_allocations"],
        max_allocations_per_user=values["max_allocations_per_user"],
        # Flags given on the command line replace the environment's list.
        allow_peers=values["allow_peer"] or values["_env_allow_peer"],
        deny_peers=values["deny_peer"] or values["_env_deny_peer"],
    )
    return config, generated


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
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level, logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config, generated = config_from_args(args)

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
    try:
        import uvloop  # optional: a faster event loop
    except ImportError:
        asyncio.run(coroutine)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coroutine)


def options_table() -> str:
    """The README's table of orga-turn-stub's options, generated so that it cannot drift."""
    rows = ["| flag | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
    for option in OPTIONS:
        default = "—" if option.default is None else f"`{option.default}`"
        meaning = option.help + (
            " (repeatable; comma-separated in the variable)" if option.repeat else ""
        )
        rows.append(f"| `{option.flag}` | `{option.env}` | {default} | {meaning} |")
    return "\n".join(rows)
