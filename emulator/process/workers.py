"""What a supervisor and its workers agree on (`--workers N`): the worker's spec, handed over in
the environment, and how the shared resources are divided: one HTTP port for all (SO_REUSEPORT),
the TURN server in worker 0, the --rtc-ports range cut into one slice per worker.

Light on purpose: the supervisor imports it, and the supervisor never loads the app.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from dataclasses import dataclass
from typing import Any

from emulator.config import Settings
from emulator.net import ListenError

SPEC_ENV = "ORGA_EMULATOR_WORKER_SPEC"
# The supervisor's directory for the workers' state socket (emulator/state/host.py).
STATE_DIR_PREFIX = "orga-emulator-state-"
# The worker that runs the embedded TURN server, when there is one.
TURN_WORKER = 0


class PortError(Exception):
    """The HTTP port cannot be shared among the workers (busy, say); the message says why."""


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker is told: which one it is, its settings (secrets included: that is
    why the spec travels in the environment, which `ps` does not show, and not in argv), and
    the descriptor of its channel to the supervisor."""

    index: int
    count: int
    settings: Settings
    channel_fd: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "index": self.index,
                "count": self.count,
                "channel_fd": self.channel_fd,
                "settings": dataclasses.asdict(self.settings),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        data = json.loads(text)
        fields: dict[str, Any] = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in data["settings"].items()
        }
        return cls(data["index"], data["count"], Settings(**fields), data["channel_fd"])


def split_port_range(spec: str, count: int) -> list[str]:
    """`LOW-HIGH` cut into `count` contiguous slices, as even as they go (the first ones one
    port larger), so that the workers' WebRTC peers never contend for a port."""
    low_text, _, high_text = spec.partition("-")
    low, high = int(low_text), int(high_text)
    size = high - low + 1
    if size < count:
        raise ValueError(
            f"--rtc-ports {spec} has {size} port{'s' * (size != 1)} for {count} workers: "
            "give at least one port per worker (each worker gets a slice of the range)"
        )
    share, extra = divmod(size, count)
    slices, start = [], low
    for index in range(count):
        end = start + share + (index < extra) - 1
        slices.append(f"{start}-{end}")
        start = end + 1
    return slices


def worker_settings(
    base: Settings,
    index: int,
    count: int,
    *,
    port: int,
    turn: tuple[str, int] | None,
    tls_files: tuple[str, str] | None,
) -> Settings:
    """The settings of worker `index`: the port the supervisor holds, the files only the
    supervisor writes taken away, its slice of --rtc-ports, the TURN server in worker 0 only
    (the others point ice-config at it: credentials are HMACs of the one --turn-secret), and
    TLS from the certificate the supervisor prepared."""
    changes: dict[str, Any] = {"port": port, "workers": 1, "port_file": None, "ready_file": None}
    if base.rtc_ports:
        changes["rtc_ports"] = split_port_range(base.rtc_ports, count)[index]
    if base.turn and turn is not None:
        if index == TURN_WORKER:
            changes["turn_port"] = turn[1]
        else:
            changes.update(turn=False, turn_host=turn[0], turn_port=turn[1])
    if tls_files is not None:
        changes.update(tls=True, tls_cert=tls_files[0], tls_key=tls_files[1], tls_dir=None)
    return dataclasses.replace(base, **changes)


def reserve_port(host: str, port: int) -> list[socket.socket]:
    """Hold `host:port` for the workers: sockets bound with SO_REUSEPORT but not listening, so
    the kernel hands them no connection, yet nobody else takes the port while a worker restarts.

    First a bind without SO_REUSEPORT: it fails if anyone holds the port, another supervisor's
    reuse-port group included, which a reuse-port bind would join without a word."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    held: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            probe = socket.socket(family, kind, proto)
            try:
                if family == socket.AF_INET6:
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind((address[0], port, *address[2:]))
                port = probe.getsockname()[1]  # port 0: the first address picks it for all
            finally:
                probe.close()
            sock = socket.socket(family, kind, proto)
            held.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], port, *address[2:]))
    except OSError as exc:
        for sock in held:
            sock.close()
        flags = "--port, ORGA_EMULATOR_PORT"
        raise PortError(str(ListenError(host, port, "HTTP", flags, exc))) from None
    return held
