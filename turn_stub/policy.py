"""Which peers a client may relay to (RFC 8656 sections 21.2.3 and 17), by address and port.

An open relay is a way into the networks the server can reach, so, as coturn does, the policy
refuses by default:

- what is never a unicast peer: unspecified (0.0.0.0/8, whose addresses reach this host on
  Linux, and ::), multicast and the IPv4 broadcast address. No rule admits these;
- loopback (127.0.0.0/8, ::1): the services of the server's own host;
- link-local (169.254.0.0/16, holding the cloud metadata address 169.254.169.254, fe80::/10);
- the server's own listening ports, on its own addresses: no TURN inside TURN.

Everything else is allowed (an open policy, the standalone server's), unless the server was
given the only peers it may reach (a closed policy: the emulator's embedded relay lists its own
WebRTC peers' addresses and ports). Operator rules, ``ADDR[/PREFIX][:PORT[-PORT]]`` with
--allow-peer / --deny-peer, widen or narrow either: the most specific matching rule wins (longer
prefix, then a port range before none, then the narrower range), and deny wins a tie. The server's
own ports are admitted only by an allow rule that names them.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = tuple[str, int]

_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address
_CACHE_SIZE = 4096

NEVER = tuple(
    (ipaddress.ip_network(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/8", "unspecified"),
        ("::/128", "unspecified"),
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
        ("255.255.255.255/32", "broadcast"),
    )
)
DEFAULT_DENY = tuple(
    (ipaddress.ip_network(cidr), reason)
    for cidr, reason in (
        ("127.0.0.0/8", "loopback"),
        ("::1/128", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("fe80::/10", "link-local"),
    )
)


def unwrap(address: str) -> IPAddress:
    """Parse an address, turning IPv4-mapped IPv6 (::ffff:a.b.c.d) into IPv4 first."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True)
class PeerRule:
    """``ADDR[/PREFIX][:PORT[-PORT]]``; an IPv6 address with ports is written ``[ADDR]:PORT``."""

    network: IPNetwork
    ports: tuple[int, int] | None = None

    @classmethod
    def parse(cls, text: str) -> PeerRule:
        text = text.strip()
        address, sep, ports = text, "", ""
        if text.startswith("["):
            address, bracket, rest = text[1:].partition("]")
            sep, ports = rest[:1], rest[1:]
            if not bracket or (rest and sep != ":"):
                raise ValueError(f"not ADDR[/PREFIX][:PORT[-PORT]]: {text!r}")
        elif text.count(":") == 1:
            address, sep, ports = text.partition(":")
        return cls(_network(address), _port_range(ports, text) if sep else None)

    def matches(self, ip: IPAddress, port: int) -> bool:
        if ip.version != self.network.version or ip not in self.network:
            return False
        return self.ports is None or self.ports[0] <= port <= self.ports[1]

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key, most specific first: longer prefix, then a narrower port range."""
        span = 65536 if self.ports is None else self.ports[1] - self.ports[0]
        return (-self.network.prefixlen, span)

    def __str__(self) -> str:
        if self.ports is None:
            return str(self.network)
        low, high = self.ports
        port = str(low) if low == high else f"{low}-{high}"
        host = str(self.network) if self.network.version == 4 else f"[{self.network}]"
        return f"{host}:{port}"


class PeerPolicy:
    def __init__(
        self,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
        *,
        only: Iterable[str] | None = None,
        own_ports: Iterable[Address] = (),
        local_addresses: Iterable[str] = (),
    ) -> None:
        """`only`: the peers of a closed policy (None: open). `own_ports`: the server's listening
        (host, port) pairs, a wildcard host meaning each of `local_addresses` and loopback."""
        rules = [(PeerRule.parse(c), True) for c in allow] + [
            (PeerRule.parse(c), False) for c in deny
        ]
        self._rules = sorted(rules, key=lambda rule: (rule[0].specificity, rule[1]))
        self._only = None if only is None else tuple(PeerRule.parse(c) for c in only)
        self._own: set[tuple[IPAddress | None, int]] = set()
        for host, port in own_ports:
            self._own.add((None if is_wildcard(host) else unwrap(host), port))
        self._local = frozenset(unwrap(a) for a in local_addresses)
        self._cache: dict[Address, str | None] = {}

    def permits(self, peer: Address) -> bool:
        """True if data may be relayed to (and accepted from) this peer."""
        return self.refusal(peer) is None

    def refusal(self, peer: Address) -> str | None:
        """Why this peer is refused, or None if it may be relayed to."""
        found = self._cache.get(peer, False)
        if found is not False:
            return found  # type: ignore[return-value]
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        reason = self._cache[peer] = self._decide(*peer)
        return reason

    def _decide(self, address: str, port: int) -> str | None:
        try:
            ip = unwrap(address)
        except ValueError:
            return "not an IP address"
        for network, reason in NEVER:
            if ip.version == network.version and ip in network:
                return reason
        if self._is_own_port(ip, port):
            named = any(
                allowed and rule.ports is not None and rule.matches(ip, port)
                for rule, allowed in self._rules
            )
            return None if named else "the TURN server's own port"
        for rule, allowed in self._rules:
            if rule.matches(ip, port):
                return None if allowed else f"denied by --deny-peer {rule}"
        if self._only is not None:
            if any(rule.matches(ip, port) for rule in self._only):
                return None
            return "not one of the emulator's WebRTC peers"
        for network, reason in DEFAULT_DENY:
            if ip.version == network.version and ip in network:
                return reason
        return None

    def _is_own_port(self, ip: IPAddress, port: int) -> bool:
        if (ip, port) in self._own:
            return True
        if (None, port) not in self._own:
            return False
        return ip.is_loopback or ip in self._local


def _network(cidr: str) -> IPNetwork:
    network = ipaddress.ip_network(cidr.strip(), strict=False)
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        # A rule written as ::ffff:a.b.c.d/N means the IPv4 range, as peers are unwrapped.
        prefix = max(network.prefixlen - 96, 0)
        return ipaddress.ip_network(f"{network.network_address.ipv4_mapped}/{prefix}", strict=False)
    return network


def _port_range(ports: str, rule: str) -> tuple[int, int]:
    low, sep, high = ports.partition("-")
    if not low.isdigit() or (sep and not high.isdigit()):
        raise ValueError(f"not ADDR[/PREFIX][:PORT[-PORT]]: {rule!r}")
    first, last = int(low), int(high) if sep else int(low)
    if not 0 < first <= last <= 65535:
        raise ValueError(f"not a port range: {rule!r}")
    return first, last


def peer_rule(text: str) -> str:
    """An option's value checked as a rule (argparse type); kept as text."""
    PeerRule.parse(text)
    return text.strip()


WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def is_wildcard(host: str) -> bool:
    """A bind address meaning "every interface" (clients must be told another one)."""
    return host in WILDCARD_HOSTS


def local_host_for(bind_host: str) -> str:
    """Where a probe on this machine reaches a service bound to `bind_host`."""
    return "127.0.0.1" if is_wildcard(bind_host) else bind_host


def primary_address() -> str | None:
    """The IPv4 address the default route leaves from; connect() on UDP sends nothing.

    Where a machine has a bridge (docker0) or a VPN, the first interface in order need not be
    the one its clients reach it by, nor one whose traffic the kernel leaves alone: docker
    masquerades what its bridge's address sends to this host's other addresses."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
            address = str(sock.getsockname()[0])
        except OSError:
            return None
    return None if address == "0.0.0.0" else address


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
