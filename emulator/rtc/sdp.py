"""Checks on the client's SDP offer made before a token is spent on it.

Two passes: the lines themselves first (RFC 8839's ICE attributes, RFC 8122's fingerprints,
connection lines, candidates, media identification), so an error names the attribute at fault;
then aiortc's parser and what the echo AI needs (an audio section offering Opus). Whatever
passes both, aiortc can answer; negotiation.py still turns anything it raises into a 400.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from emulator.ai.params import ParamError
from emulator.rtc import candidates as ice
from emulator.rtc.candidates import CandidateError

if TYPE_CHECKING:
    from aiortc.sdp import SessionDescription

MAX_SDP_BYTES = 256 * 1024

# RFC 8839 section 5.4: ice-ufrag is 4 to 256 ice-chars, ice-pwd 22 to 256.
ICE_LENGTHS = {"ice-ufrag": (4, 256), "ice-pwd": (22, 256)}
# The hash functions aiortc verifies a DTLS certificate with, and their digest sizes. An offer
# fingerprinted with anything else (md5, sha-1) would fail its handshake after a 200.
FINGERPRINT_BYTES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}
HEX_PAIRS = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*")
MID = re.compile(r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]{1,32}")  # RFC 5888's token, JSEP's length
MEDIA_LINE = re.compile(r"m=[a-z]+ [0-9]{1,5}(?:/[0-9]+)? [A-Za-z/]+ .+")  # aiortc's, stricter
CANDIDATES_PARAM = "offer.candidates"


def check_offer_sdp(
    sdp: str, param: str = "offer.sdp", *, candidates: Iterable[dict[str, Any]] = ()
) -> SessionDescription:
    """Parse the offer; raise ParamError unless it is SDP with an audio section we can answer
    and every candidate, in the SDP or in the body's `candidates`, is one the peer may contact."""
    # aiortc's parser: imported here, on the first /calls, not when the app starts.
    from aiortc.sdp import SessionDescription

    if len(sdp) > MAX_SDP_BYTES:
        raise ParamError(param, "The SDP offer is too large.")
    if not sdp.lstrip().startswith("v=0"):
        raise ParamError(param, "The SDP offer must start with 'v=0'.")
    session, media = sections(sdp)
    try:
        check_lines(session, media)
    except ValueError as exc:
        raise ParamError(param, str(exc)) from None
    check_body_candidates(candidates)
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc raises whatever its parser trips on
        # Some of its checks are bare asserts, whose message is empty: name the exception then.
        reason = str(exc) or f"{type(exc).__name__} in aiortc's SDP parser"
        raise ParamError(param, f"The SDP offer could not be parsed: {reason}") from None
    audio = [m for m in parsed.media if m.kind == "audio"]
    if not audio:
        raise ParamError(param, "The SDP offer has no audio section.")
    # The echo AI speaks and forwards Opus without transcoding; every browser offers it.
    if not any(c.mimeType.lower() == "audio/opus" for m in audio for c in m.rtp.codecs):
        raise ParamError(param, "The SDP offer's audio section does not offer Opus.")
    for section in parsed.media:
        # aiortc makes DTLS parameters from a=setup alone, with no fingerprint in them.
        if section.dtls is None or not section.dtls.fingerprints:
            raise ParamError(param, f"The {section.kind} section has no DTLS fingerprint.")
    # aiortc carries a BUNDLE group on the transport of its first mid, which must exist.
    for group in parsed.group:
        mids = [m.rtp.muxId for m in parsed.media]
        if group.semantic == "BUNDLE" and group.items and group.items[0] not in mids:
            first = ice.shown(str(group.items[0]))
            raise ParamError(param, f"a=group:BUNDLE starts with {first}, no section's mid.")
    return parsed


def sections(sdp: str) -> tuple[list[str], list[list[str]]]:
    """The session-level lines and each media section's, split as aiortc splits them."""
    session: list[str] = []
    media: list[list[str]] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            media.append([line])
        elif media:
            media[-1].append(line)
        else:
            session.append(line)
    return session, media


def check_lines(session: Sequence[str], media: Sequence[Sequence[str]]) -> None:
    """ValueError, naming the line, for the first attribute the emulator refuses."""
    for line in session:
        check_line(line)
    inherited = {a for a in (*ICE_LENGTHS, "fingerprint") if has(session, a)}
    mids = [check_section(lines, inherited) for lines in media]
    repeated = next((mid for i, mid in enumerate(mids) if mid in mids[:i]), None)
    if repeated is not None:
        raise ValueError(f"The a=mid {ice.shown(repeated)} is used twice.")
    if sum(lines[0].startswith("m=application ") for lines in media) > 1:
        raise ValueError("The offer has more than one m=application section; one carries them all.")
    ice.check_count(sum(line.startswith("a=candidate:") for lines in media for line in lines))


def check_section(lines: Sequence[str], inherited: set[str]) -> str:
    """One media section's lines, with the attributes the session level gives every section;
    returns its mid."""
    if not MEDIA_LINE.fullmatch(lines[0]):
        raise ValueError(f"The m= line {ice.shown(lines[0][2:])} is not 'media port proto fmt'.")
    kind = lines[0][2:].split(" ", 1)[0]
    for line in lines:
        check_line(line)
    present = inherited | {a for a in (*ICE_LENGTHS, "fingerprint") if has(lines, a)}
    if not present.issuperset(ICE_LENGTHS):
        raise ValueError(f"The {kind} section has no ICE credentials.")
    if "fingerprint" not in present:
        raise ValueError(f"The {kind} section has no DTLS fingerprint.")
    mids = [line[6:] for line in lines if line.startswith("a=mid:")]
    if len(mids) != 1:
        raise ValueError(f"The {kind} section needs exactly one a=mid (RFC 8843).")
    return mids[0]


def has(lines: Sequence[str], attribute: str) -> bool:
    return any(line.startswith(f"a={attribute}:") for line in lines)


def check_line(line: str) -> None:
    if line.startswith("a="):
        name, _, value = line[2:].partition(":")
        if name in ICE_LENGTHS:
            check_ice_credential(name, value)
        elif name == "fingerprint":
            check_fingerprint(value)
        elif name == "candidate":
            ice.parse_candidate(value)
        elif name == "mid" and not MID.fullmatch(value):
            raise ValueError(f"The a=mid {ice.shown(value)} is not a token of 1 to 32 characters.")
    elif line.startswith("c="):
        check_connection(line[2:])


def check_ice_credential(name: str, value: str) -> None:
    low, high = ICE_LENGTHS[name]
    if not (low <= len(value) <= high and ice.ICE_CHARS.fullmatch(value)):
        raise ValueError(
            f"The a={name} {ice.shown(value)} is not {low} to {high} ice-chars "
            "(letters, digits, '+' and '/'; RFC 8839)."
        )


def check_fingerprint(value: str) -> None:
    algorithm, _, digest = value.partition(" ")
    size = FINGERPRINT_BYTES.get(algorithm.lower())
    if size is None:
        raise ValueError(
            f"The a=fingerprint hash function {ice.shown(algorithm)} is not one the emulator "
            f"can verify ({', '.join(FINGERPRINT_BYTES)})."
        )
    if not HEX_PAIRS.fullmatch(digest) or len(digest) != 3 * size - 1:
        raise ValueError(
            f"The a=fingerprint value {ice.shown(digest)} is not {size} hex pairs separated "
            f"by ':', as {algorithm} makes."
        )


def check_connection(value: str) -> None:
    """`IN IP4 <address>[/ttl]` or `IN IP6 <address>`: no other line gives aiortc an address."""
    fields = value.split(" ")
    families = {"IP4": ipaddress.IPv4Address, "IP6": ipaddress.IPv6Address}
    try:
        if len(fields) != 3 or fields[0] != "IN" or fields[1] not in families:
            raise ValueError
        address, _, ttl = fields[2].partition("/")
        families[fields[1]](address)
        if ttl and not (ttl.isascii() and ttl.isdigit() and len(ttl) <= 3):
            raise ValueError
    except ValueError:
        raise ValueError(
            f"The c= line {ice.shown(value)} is not 'IN IP4 <address>' or 'IN IP6 <address>'."
        ) from None


def check_body_candidates(entries: Iterable[dict[str, Any]]) -> None:
    """The body's `candidates` the same way; an empty string is a browser's end of candidates."""
    lines = [e["candidate"] for e in entries if isinstance(e.get("candidate"), str)]
    lines = [line for line in lines if line]
    try:
        ice.check_count(len(lines))
        for line in lines:
            ice.parse_candidate(line)
    except CandidateError as exc:
        raise ParamError(CANDIDATES_PARAM, str(exc)) from None
