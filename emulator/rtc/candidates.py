"""The remote ICE candidates of an offer (RFC 8839 section 5.1 syntax, RFC 8445 semantics):
which ones the emulator's peer may send connectivity checks to, which it leaves out, and which
make the offer refused.

The peer sends STUN binding requests to every candidate it is given, so an offer's candidates
choose where this machine sends datagrams. Only addresses a real client can be reached at are
accepted: loopback, private and public unicast. Unspecified, broadcast, multicast, reserved and
link-local addresses (169.254.169.254, the cloud metadata service, among them) and port 0 are
refused, as is anything that does not parse. mDNS names (`<uuid>.local`, what Chromium shows
instead of a host address) are accepted but never resolved: aioice would send a multicast query
for each, and the client's own checks reach the peer anyway, as peer-reflexive candidates
(RFC 8445 section 7.3.1.3). docs/peer.md says all of this for users.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Candidates per offer, counting the SDP's lines and the body's entries alike. The SDK's offer
# has three media sections and browsers repeat each candidate in every one: a laptop with
# Wi-Fi, Ethernet, a VPN and Docker bridges, UDP and TCP, IPv4 and IPv6, lists 30 to 50.
# Each candidate costs at most a few small datagrams (docs/peer.md), so 64 bounds what one
# offer can make the peer send.
MAX_CANDIDATES = 64
# A candidate line longer than this is refused before it is split; Chromium's longest, with
# every extension, is under 200 characters.
MAX_CANDIDATE_CHARS = 512
# How much of a refused candidate the error message shows.
SHOWN_CHARS = 100

ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")  # ice-char (RFC 8839 section 5.4)
TOKEN = re.compile(r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+")  # RFC 8866's token
MDNS_NAME = re.compile(r"[A-Za-z0-9-]{1,63}\.local")
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")
TRANSPORTS = ("udp", "tcp")
MAX_PRIORITY = 2**31 - 1  # RFC 8445 section 5.1.2


class CandidateError(ValueError):
    """A candidate the emulator refuses; the message names it."""


@dataclass(frozen=True)
class RemoteCandidate:
    """One `candidate-attribute`, checked."""

    foundation: str
    component: int
    transport: str  # lower case
    priority: int
    address: str
    port: int
    type: str

    @property
    def mdns(self) -> bool:
        """An mDNS name: never resolved, so never contacted (the module's docstring)."""
        return self.address.lower().endswith(".local")


def shown(line: str) -> str:
    """`line` for an error message: its start only, control characters escaped."""
    cut = line[:SHOWN_CHARS] + ("..." if len(line) > SHOWN_CHARS else "")
    return repr(cut)


def parse_candidate(value: str) -> RemoteCandidate:
    """The value of an `a=candidate:` line (or the `candidate:` string of a trickled one).

    CandidateError, naming the candidate, for one that does not parse or that the peer must not
    contact."""
    value = value.removeprefix("a=").removeprefix("candidate:")
    try:
        candidate = _parse(value)
        _refuse_address(candidate)
    except CandidateError as exc:
        raise CandidateError(f"The candidate {shown(value)} is refused: {exc}") from None
    return candidate


def _parse(value: str) -> RemoteCandidate:
    if len(value) > MAX_CANDIDATE_CHARS:
        raise CandidateError(f"it is longer than {MAX_CANDIDATE_CHARS} characters.")
    fields = value.split(" ")
    if len(fields) < 8 or fields[6] != "typ" or len(fields) % 2:
        raise CandidateError(
            "expected 'foundation component transport priority address port typ type', "
            "then name-value pairs, separated by single spaces."
        )
    foundation, component, transport, priority, address, port, _, kind = fields[:8]
    if not ICE_CHARS.fullmatch(foundation) or len(foundation) > 32:
        raise CandidateError("the foundation is not 1 to 32 ice-chars.")
    if not _in_range(component, 1, 256):
        raise CandidateError("the component ID is not a number from 1 to 256.")
    if transport.lower() not in TRANSPORTS:
        raise CandidateError("the transport is neither UDP nor TCP.")
    if not _in_range(priority, 1, MAX_PRIORITY):
        raise CandidateError(f"the priority is not a number from 1 to {MAX_PRIORITY}.")
    if not _in_range(port, 1, 65535):
        raise CandidateError("the port is not a number from 1 to 65535.")
    if kind not in CANDIDATE_TYPES:
        raise CandidateError(f"the type is not one of {', '.join(CANDIDATE_TYPES)}.")
    _check_extensions(fields[8:])
    return RemoteCandidate(
        foundation, int(component), transport.lower(), int(priority), address, int(port), kind
    )


def _in_range(digits: str, low: int, high: int) -> bool:
    return (
        digits.isascii() and digits.isdigit() and len(digits) <= 10 and low <= int(digits) <= high
    )


def _check_extensions(pairs: list[str]) -> None:
    """raddr/rport are only informative (never contacted): their syntax is checked, not their
    range; Chromium sends `raddr 0.0.0.0 rport 0` when it hides the host address."""
    for name, value in zip(pairs[::2], pairs[1::2], strict=True):
        if not TOKEN.fullmatch(name) or not value.isprintable() or not value.isascii():
            raise CandidateError(f"the extension {name!r} is not a token and a value.")
        if name == "raddr" and not (_ip(value) or MDNS_NAME.fullmatch(value)):
            raise CandidateError("raddr is not an IP address.")
        if name == "rport" and not _in_range(value, 0, 65535):
            raise CandidateError("rport is not a number from 0 to 65535.")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _refuse_address(candidate: RemoteCandidate) -> None:
    if MDNS_NAME.fullmatch(candidate.address):
        return
    ip = _ip(candidate.address)
    if ip is None:
        raise CandidateError("the address is neither an IP address nor an mDNS .local name.")
    reason = refused_address(ip)
    if reason:
        raise CandidateError(f"{candidate.address} is {reason}; the emulator does not send there.")


def refused_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why the peer must not send to `ip`, or None for loopback, private and public unicast."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
    if ip.is_unspecified or (ip.version == 4 and ip in THIS_NETWORK):
        return "an unspecified address"
    if ip.version == 4 and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        return "a link-local address (169.254.169.254 is the cloud metadata service)"
    if ip.version == 4 and ip.is_reserved:
        return "a reserved address"
    return None


THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # "this host on this network" (RFC 1122)


def check_count(count: int) -> None:
    if count > MAX_CANDIDATES:
        raise CandidateError(
            f"The offer lists {count} candidates; the emulator takes at most {MAX_CANDIDATES}."
        )


def for_peer(lines: Iterable[str]) -> tuple[list[str], bool]:
    """The offer's lines as the peer is given them: mDNS candidates dropped, so aioice sends no
    multicast query, and `a=end-of-candidates` dropped in any section that lost one, so ICE
    waits for the client's checks (peer-reflexive candidates) instead of failing at once.
    Returns the lines and whether anything was dropped."""
    out: list[str] = []
    section: list[str] = []
    changed = False

    def flush() -> None:
        nonlocal changed
        dropped = [line for line in section if _is_mdns_line(line)]
        for line in section:
            if line in dropped or (dropped and line.startswith("a=end-of-candidates")):
                continue
            out.append(line)
        changed = changed or bool(dropped)
        section.clear()

    for line in lines:
        if line.startswith("m="):
            flush()
        section.append(line)
    flush()
    return out, changed


def _is_mdns_line(line: str) -> bool:
    if not line.startswith("a=candidate:"):
        return False
    fields = line.split(" ")
    return len(fields) > 4 and MDNS_NAME.fullmatch(fields[4]) is not None


def is_mdns(value: str) -> bool:
    """A body candidate (`candidate:...`) at an mDNS name."""
    return _is_mdns_line("a=candidate:" + value.removeprefix("a=").removeprefix("candidate:"))
