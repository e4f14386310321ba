"""This machine's own interface addresses, read at startup."""

from __future__ import annotations

import ipaddress
import socket


def interface_addresses() -> list[str]:
    """The IPv4 addresses of this host's interfaces, loopback excluded."""
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(info[4][0])
    except OSError:
        pass
    primary = primary_address()
    if primary:
        found.add(primary)
    return sorted(a for a in found if not ipaddress.ip_address(a).is_loopback)


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
    if bind_host in ("0.0.0.0", "::", ""):
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
