"""Which peer addresses a client may relay to (RFC 8656 section 21.2.3 and 17).

An open relay is a way into the networks the server can reach, so the default
refuses addresses that are never a legitimate WebRTC peer: unspecified
(0.0.0.0, ::), link-local (169.254.0.0/16, which holds the cloud metadata
address 169.254.169.254, and fe80::/10), multicast and the IPv4 broadcast
address. Everything else is allowed: loopback, private ranges, the host's own
interface addresses (even link-local ones: they are this host) and, by choice,
other public addresses too, since an emulator's callers and candidates may sit
on any address. Operator rules (--allow-peer / --deny-peer CIDRs) are layered
over this default: the most specific matching rule wins, and deny wins a tie.
For a "private only" relay: ``--deny-peer 0.0.0.0/0 --deny-peer ::/0`` plus
``--allow-peer`` for each wanted range.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address

DEFAULT_DENY = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/32",
        "::/128",
        "169.254.0.0/16",
        "fe80::/10",
        "224.0.0.0/4",
        "ff00::/8",
        "255.255.255.255/32",
    )
)


def unwrap(address: str) -> IPAddress:
    """Parse an address, turning IPv4-mapped IPv6 (::ffff:a.b.c.d) into IPv4 first."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class PeerPolicy:
    def __init__(
        self,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
        local_addresses: Iterable[str] = (),
    ) -> None:
        # (network, allowed) pairs, most specific first; deny sorts before allow on a tie.
        rules = [(_network(c), True) for c in allow] + [(_network(c), False) for c in deny]
        self._rules = sorted(rules, key=lambda rule: (-rule[0].prefixlen, rule[1]))
        self._local = frozenset(unwrap(a) for a in local_addresses)

    def permits(self, address: str) -> bool:
        """True if data may be relayed to (and accepted from) this peer address."""
        try:
            ip = unwrap(address)
        except ValueError:
            return False
        for network, allowed in self._rules:
            if ip.version == network.version and ip in network:
                return allowed
        if ip in self._local:
            return True
        return not any(ip.version == n.version and ip in n for n in DEFAULT_DENY)


def _network(cidr: str) -> IPNetwork:
    network = ipaddress.ip_network(cidr.strip(), strict=False)
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        # A rule written as ::ffff:a.b.c.d/N means the IPv4 range, as peers are unwrapped.
        prefix = max(network.prefixlen - 96, 0)
        return ipaddress.ip_network(f"{network.network_address.ipv4_mapped}/{prefix}", strict=False)
    return network


WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def is_wildcard(host: str) -> bool:
    """A bind address meaning "every interface" (clients must be told another one)."""
    return host in WILDCARD_HOSTS


def local_host_for(bind_host: str) -> str:
    """Where a probe on this machine reaches a service bound to `bind_host`."""
    return "127.0.0.1" if is_wildcard(bind_host) else bind_host


def interface_addresses() -> list[str]:
    """This host's own addresses, read once at startup (Linux ioctl, else resolver)."""
    found: list[str] = []
    for _, name in _interface_names():
        address = _ipv4_of(name)
        if address:
            found.append(address)
    found.extend(_ipv6_from_proc())
    if not found:
        try:
            infos = socket.getaddrinfo(socket.gethostname(), None)
        except OSError:
            infos = []
        found.extend(str(info[4][0]) for info in infos)
    return sorted(set(found))


def _interface_names() -> list[tuple[int, str]]:
    try:
        return socket.if_nameindex()
    except OSError:
        return []


def _ipv4_of(name: str) -> str | None:
    try:
        import fcntl  # POSIX only; elsewhere the resolver fallback is used
    except ImportError:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            request = struct.pack("256s", name.encode()[:15])
            reply = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)
        except OSError:
            return None
    return socket.inet_ntoa(reply[20:24])


def _ipv6_from_proc() -> list[str]:
    try:
        with open("/proc/net/if_inet6") as lines:
            return [str(ipaddress.IPv6Address(bytes.fromhex(line.split()[0]))) for line in lines]
    except (OSError, ValueError, IndexError):
        return []
