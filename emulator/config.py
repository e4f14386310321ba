"""Configuration: one table of options drives the CLI, the environment and the README.

Each option is a command-line flag and an environment variable `ORGA_EMULATOR_<NAME>`; the flag
wins over the variable, which wins over the default.
"""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from emulator import __version__
from emulator.option_types import ipv4, port, port_range, workers
from turn_stub.options import Option, OptionTable
from turn_stub.policy import peer_rule

ENV_PREFIX = "ORGA_EMULATOR_"
DEV_API_KEY = "sk_orga_ai_emulator_dev_key"
ECHO_MODES = ("turn", "live")
DEV_ENDPOINT_MODES = ("auto", "on", "off")


class ConfigError(ValueError):
    """A setting that cannot be used (a scenario file that does not load, say)."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8787
    port_file: str | None = None
    ready_file: str | None = None
    workers: int = 1
    api_keys: tuple[str, ...] = (DEV_API_KEY,)
    users: tuple[str, ...] = ()
    token_ttl: int = 900
    token_leeway: float = 0.0
    signing_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    issuer: str = "orga-emulator"
    cors_origin: str = "*"
    max_body_bytes: int = 1 << 20
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_keepalive_timeout: float = 75.0
    log_level: str = "info"
    # Calls and the echo AI.
    echo_mode: str = "turn"
    vad_hangover_ms: int = 600
    max_utterance_ms: int = 3000
    reply_markup: bool = False
    max_sessions: int = 100
    ice_timeout: float = 30.0
    max_session_duration: float = 1800.0
    peer_timeout: float = 20.0
    vad_threshold_dbov: int = -50
    ice_servers: tuple[str, ...] = ()
    rtc_ports: str | None = None
    advertised_ip: str | None = None
    # The in-process TURN server (turn_stub).
    turn: bool = True
    turn_port: int = 3478
    turn_host: str | None = None
    turn_realm: str = "orga-emulator"
    turn_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    turn_allow_peers: tuple[str, ...] = ()
    # TLS mode (emulator/process/tls.py) and the demo page's helper (emulator/demo/).
    tls: bool = False
    tls_dir: str | None = None
    tls_names: tuple[str, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None
    dev_endpoints: str = "auto"
    # The control plane (emulator/control/).
    admin_token: str | None = None
    seed: int | None = None
    scenario: str | None = None
    scenario_dir: str | None = None
    # Shared state across workers and replicas (emulator/state/, docs/scale-out.md).
    state: str = "memory:"
    state_prefix: str = "orga-emulator:"

    @property
    def api_keys_given(self) -> bool:
        return self.api_keys != (DEV_API_KEY,)


OPTION_LIST = (
    Option("host", "Address the HTTP API binds to."),
    Option("port", "HTTP port; 0 picks a free one (see --port-file).", port),
    Option("port_file", "Write the chosen HTTP port to this file once listening.", metavar="PATH"),
    Option(
        "ready_file",
        "Write JSON {base_url, port, turn_port, pid} to this file once every port listens.",
        metavar="PATH",
    ),
    Option(
        "workers",
        "Processes serving the HTTP port together (SO_REUSEPORT), under a supervisor that "
        "restarts them; 'auto': one per core. 1: one process, no supervisor. See "
        "docs/workers.md.",
        workers,
        metavar="N|auto",
    ),
    Option(
        "api_keys",
        "Accepted API key. With none, a fixed dev key is accepted and printed.",
        flag="--api-key",
        repeatable=True,
        metavar="KEY",
    ),
    Option(
        "users",
        "Known user emails, or files of them (one per line). Unknown emails get 404. "
        "Default: any valid email is a user.",
        repeatable=True,
        metavar="EMAIL|FILE",
    ),
    Option("token_ttl", "Ephemeral token lifetime in seconds.", int, metavar="SECONDS"),
    Option("token_leeway", "Seconds of grace after a token's exp.", float, metavar="SECONDS"),
    Option("signing_secret", "HS256 secret for tokens. Default: random per process."),
    Option("issuer", "The tokens' iss claim."),
    Option("cors_origin", "Access-Control-Allow-Origin for browsers ('*' or an origin)."),
    Option("max_body_bytes", "Largest request body accepted (413 above).", int, metavar="BYTES"),
    Option(
        "http_header_timeout",
        "Seconds a request's head may take to arrive, from the connection's opening or the "
        "request's first byte; then the connection is closed (slow or silent clients).",
        float,
        metavar="SECONDS",
    ),
    Option(
        "http_body_timeout",
        "Seconds a request's body may take to arrive after its head; then 408 and the "
        "connection is closed.",
        float,
        metavar="SECONDS",
    ),
    Option(
        "http_keepalive_timeout",
        "Seconds an idle keep-alive connection stays open between requests.",
        float,
        metavar="SECONDS",
    ),
    Option("log_level", "Logging level.", choices=("debug", "info", "warning", "error")),
    Option(
        "echo_mode",
        "How the echo AI answers: 'turn' replays each utterance, 'live' loops audio straight back.",
        choices=ECHO_MODES,
    ),
    Option(
        "vad_hangover_ms",
        "Silence that ends a user turn, in ms (both echo modes: turns are detected in each).",
        int,
        metavar="MS",
    ),
    Option(
        "max_utterance_ms",
        "Longest user turn, in ms: past half of it the silence that ends a turn shrinks to "
        "200 ms, and at it the turn ends whatever the input (a tone, a fake mic's beeps). "
        "0: silence alone ends a turn.",
        int,
        metavar="MS",
    ),
    Option(
        "reply_markup",
        'Reply text carries the real service\'s inline markup (<emotion value="..."/> tags, '
        "[laughter]), which the SDKs strip since core 1.0.2.",
        boolean=True,
    ),
    Option("max_sessions", "Concurrent sessions; beyond it /calls answers 503.", int),
    Option(
        "ice_timeout",
        "Seconds a session may wait for ICE to connect after the answer.",
        float,
        metavar="SECONDS",
    ),
    Option(
        "max_session_duration", "Seconds after which a session is ended.", float, metavar="SECONDS"
    ),
    Option(
        "peer_timeout",
        "Seconds without a packet from a connected client before its session is ended.",
        float,
        metavar="SECONDS",
    ),
    Option(
        "vad_threshold_dbov",
        "Audio level (RFC 6464, dBov) above which a packet counts as voice.",
        int,
        metavar="DBOV",
    ),
    Option(
        "ice_servers",
        "STUN/TURN URL for the emulator's own peers (repeatable). Default: none, host "
        "candidates only; never a public server.",
        flag="--ice-server",
        repeatable=True,
        metavar="URL",
    ),
    Option(
        "rtc_ports",
        "UDP ports for the emulator's WebRTC peers, so a container can publish them "
        "(host candidates only).",
        port_range,
        metavar="LOW-HIGH",
    ),
    Option(
        "advertised_ip",
        "IPv4 address written into the answer's host candidates instead of the bound one "
        "(1:1 NAT, e.g. the Docker host's address).",
        ipv4,
        metavar="IP",
    ),
    Option("turn", "Run the built-in TURN/STUN server (turn_stub) in-process.", boolean=True),
    Option("turn_port", "UDP and TCP port of the built-in TURN/STUN server.", port),
    Option(
        "turn_host",
        "Host written into the ice-config URLs. Default: --host, or this "
        "machine's address when --host is 0.0.0.0. With --no-turn, the host of an external "
        "TURN server (e.g. orga-turn-stub in compose) sharing --turn-secret, on --turn-port.",
    ),
    Option("turn_realm", "TURN realm."),
    Option("turn_secret", "TURN REST shared secret. Default: random per process."),
    Option(
        "turn_allow_peers",
        "A peer the built-in TURN server may relay to besides the emulator's own WebRTC peers "
        "(its host addresses, on --rtc-ports if set): ADDR[/PREFIX][:PORT[-PORT]].",
        peer_rule,
        flag="--turn-allow-peer",
        repeatable=True,
        metavar="RULE",
    ),
    Option(
        "tls",
        "Serve HTTPS with a certificate from the emulator's local CA (for localhost, 127.0.0.1, "
        "api.orga-ai.com and --tls-name); prints how to make Chromium and Node trust it.",
        boolean=True,
    ),
    Option(
        "tls_dir",
        "Where TLS mode keeps its CA's certificate (ca.pem, reused while it covers the same names; "
        "its key is never written) and the server certificate and key. "
        "Default: $XDG_DATA_HOME/orga-emulator/tls, i.e. ~/.local/share/orga-emulator/tls.",
        metavar="DIR",
    ),
    Option(
        "tls_names",
        "Extra DNS name or IP address for the TLS certificate.",
        flag="--tls-name",
        repeatable=True,
        metavar="NAME",
    ),
    Option(
        "tls_cert",
        "Your own certificate (PEM chain) instead of the local CA's; implies --tls.",
        metavar="PATH",
    ),
    Option("tls_key", "The private key (PEM) of --tls-cert.", metavar="PATH"),
    Option(
        "dev_endpoints",
        "The demo page's POST /_emulator/dev/session-config (mints a token with the first API "
        "key). 'auto': on only when bound to a loopback address.",
        choices=DEV_ENDPOINT_MODES,
    ),
    Option(
        "admin_token",
        "Bearer token for the control plane under /_emulator/ (inspection, clock, faults, "
        "scenarios). Without it, the control plane is open on a loopback bind and refused "
        "(403) elsewhere.",
        metavar="TOKEN",
    ),
    Option(
        "seed",
        "Seed for conversation, token and event ids, the echo AI's text and random fault "
        "decisions: the same seed replays the same run. Default: random.",
        int,
    ),
    Option(
        "scenario",
        "A scenario file (JSON or YAML) scripting the AI's turns for every session; see "
        "README 'Control plane'.",
        metavar="PATH",
    ),
    Option(
        "scenario_dir",
        "Where relative audio paths of scenarios posted to /_emulator/scenarios are read from. "
        "Default: the working directory. (A --scenario file's are read from its own directory.)",
        metavar="DIR",
    ),
    Option(
        "state",
        "Where single-use claims, faults, scenarios, the clock, journals and the sessions list "
        "live: 'memory:' (this process) or redis://HOST:PORT/DB, shared by every worker and "
        "replica. See docs/scale-out.md.",
        metavar="URL",
    ),
    Option(
        "state_prefix",
        "Prefix of every key the emulator writes in --state, so several emulators can share "
        "one Redis database.",
        metavar="PREFIX",
    ),
)


OPTIONS = OptionTable(ENV_PREFIX, Settings, OPTION_LIST)


DESCRIPTION = """Offline emulator of Orga Cloud's realtime API: client-secrets, ice-config and calls
on one HTTP port, TURN/STUN on another, the echo AI and a control plane.

  orga-emulator [OPTIONS]                 serve until SIGINT/SIGTERM
  orga-emulator exec [OPTIONS] -- CMD...  serve on free ports around CMD, which gets
                                          ORGA_BASE_URL, ORGA_API_KEY and ORGA_ICE_SERVERS"""


def build_parser(
    prog: str = "orga-emulator", description: str = DESCRIPTION
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Every option is also read from the environment as {ENV_PREFIX}<NAME> (shown "
        "in brackets with its default); a flag wins over the variable. Docs: README.md, docs/.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    OPTIONS.add_to(parser)
    return parser


def settings_from(namespace: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Settings from parsed flags, falling back to the environment, then to the defaults."""
    try:
        values = OPTIONS.values(namespace, environ)
    except ValueError as exc:
        raise SystemExit(f"orga-emulator: {exc}") from None
    # A port chosen freely means the TURN port too, unless it was set: two emulators started
    # with --port 0 on one machine (parallel CI jobs) must not both want 3478.
    if values.get("port") == 0 and "turn_port" not in values:
        values["turn_port"] = 0
    if not values.get("api_keys"):
        values.pop("api_keys", None)
    settings = Settings(**values)
    if (settings.rtc_ports or settings.advertised_ip) and settings.ice_servers:
        raise SystemExit(
            "orga-emulator: --rtc-ports/--advertised-ip gather host candidates only; "
            "they cannot be combined with --ice-server"
        )
    return settings


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    namespace = build_parser().parse_args(argv)
    return settings_from(namespace, os.environ if environ is None else environ)


def options_table() -> str:
    """The README's configuration table (`python -m emulator.config` prints it)."""
    return OPTIONS.markdown()


if __name__ == "__main__":
    print(options_table())


SETTINGS = web.AppKey("settings", Settings)
