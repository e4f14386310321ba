"""This machine's addresses as clients should see them, and what a bind address means."""

from __future__ import annotations

import ipaddress
import os
import socket

from turn_stub.policy import is_wildcard


class ListenError(OSError):
    """A port that cannot be bound, said with the flag that changes it."""

    def __init__(self, host: str, port: int, service: str, flags: str, cause: OSError) -> None:
        reason = os.strerror(cause.errno) if cause.errno else str(cause)
        super().__init__(
            cause.errno, f"cannot listen on {host}:{port} for {service} ({flags}): {reason}"
        )

    def __str__(self) -> str:
        return str(self.strerror)


def primary_address() -> str | None:
    """The address the default route leaves from; connect() on UDP sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
            address = sock.getsockname()[0]
        except OSError:
            return None
    return None if address == "0.0.0.0" else address


def reachable_host(bind_host: str) -> str:
    """The address clients should be told to use for a service bound to bind_host."""
    if is_wildcard(bind_host):
        return primary_address() or "127.0.0.1"
    return bind_host


def is_loopback_host(host: str) -> bool:
    """Whether a bind address is reachable from this machine only."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
