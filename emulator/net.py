"""This machine's addresses as clients should see them, and what a bind address means."""

from __future__ import annotations

import ipaddress
import os

from turn_stub.policy import is_wildcard, primary_address

# The name TLS mode serves Orga's API under (@orga-ai/core hard-codes it); see process/tls.py.
ORGA_API_HOST = "api.orga-ai.com"
# This machine's own names: what a browser on it uses to reach a loopback bind.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class ListenError(OSError):
    """A port that cannot be bound, said with the flag that changes it."""

    def __init__(self, host: str, port: int, service: str, flags: str, cause: OSError) -> None:
        reason = os.strerror(cause.errno) if cause.errno else str(cause)
        super().__init__(
            cause.errno, f"cannot listen on {host}:{port} for {service} ({flags}): {reason}"
        )

    def __str__(self) -> str:
        return str(self.strerror)


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


def served_names(bind_host: str, *names: str | None) -> frozenset[str]:
    """The host names this emulator answers to, as host_name() spells them: this machine's
    loopback names, Orga's API host (TLS mode serves it), the bind address and the address it
    announces, and `names` (--advertised-ip, every --tls-name). A Host header naming anything
    else is a page that resolved its own name to us (DNS rebinding)."""
    candidates = (*LOOPBACK_NAMES, ORGA_API_HOST, bind_host, reachable_host(bind_host), *names)
    return frozenset(host_name(name) for name in candidates if name)


def host_name(host: str) -> str:
    """A Host header's (or an address's) name: lowercase, without the port, the IPv6 brackets
    or a trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:  # name:port (a bare IPv6 address has more than one colon)
        host = host.partition(":")[0]
    return host.rstrip(".")
