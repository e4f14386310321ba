"""Offers the emulator's peer must not answer (issue 13, findings 1, 5 and 6): each is a 400 in
the contract's envelope naming what is wrong, before or instead of a session, and changes
nothing: no token spent (the same token then opens a session with a good offer), no session
left, no descriptor left open."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from emulator.ai.params import ParamError
from emulator.rtc import negotiation
from emulator.rtc.candidates import MAX_CANDIDATES
from emulator.rtc.media import AssistantAudioTrack, MediaCounters

pytestmark = pytest.mark.timeout(60)

Offer = dict[str, Any]


@dataclass(frozen=True)
class Bad:
    mutate: Callable[[str], str]
    says: str  # in the message
    param: str = "offer.sdp"
    body: tuple[dict[str, Any], ...] = ()  # extra entries of the body's `candidates`


def sub(pattern: str, replacement: str, count: int = 0) -> Callable[[str], str]:
    def mutate(sdp: str) -> str:
        out, n = re.subn(pattern, replacement, sdp, count=count, flags=re.M)
        assert n, pattern
        return out

    return mutate


def drop(prefix: str) -> Callable[[str], str]:
    return lambda sdp: "\r\n".join(x for x in sdp.split("\r\n") if not x.startswith(prefix))


def both(*mutations: Callable[[str], str]) -> Callable[[str], str]:
    def mutate(sdp: str) -> str:
        for m in mutations:
            sdp = m(sdp)
        return sdp

    return mutate


def candidate(address: str, port: int = 5000, rest: str = "udp 2130706431") -> str:
    return f"candidate:1 1 {rest} {address} {port} typ host"


def with_candidate(line: str) -> Callable[[str], str]:
    """`line` added to the audio section's candidates (before its a=end-of-candidates)."""
    return sub(r"^(a=end-of-candidates\r)$", f"a={line}\r\n\\1", count=1)


def sections(sdp: str) -> tuple[str, list[str]]:
    head, *media = re.split(r"(?<=\r\n)(?=m=)", sdp)
    return head, media


def with_sections(pick: Callable[[list[str]], list[str]]) -> Callable[[str], str]:
    def mutate(sdp: str) -> str:
        head, media = sections(sdp)
        return head + "".join(pick(media))

    return mutate


def many_candidates(sdp: str) -> str:
    for i in range(MAX_CANDIDATES + 1):
        sdp = with_candidate(f"candidate:{i} 1 udp 2130706431 127.0.0.1 {20000 + i} typ host")(sdp)
    return sdp


HEX32 = ":".join(["AB"] * 32)

BAD: dict[str, Bad] = {
    # --- ICE credentials (RFC 8839 section 5.4) ---
    "ufrag of 3 chars": Bad(sub(r"^a=ice-ufrag:\S+", "a=ice-ufrag:abc"), "a=ice-ufrag"),
    "ufrag of 257 chars": Bad(sub(r"^a=ice-ufrag:\S+", "a=ice-ufrag:" + "u" * 257), "a=ice-ufrag"),
    "ufrag of 60000 chars": Bad(
        sub(r"^a=ice-ufrag:\S+", "a=ice-ufrag:" + "u" * 60_000), "a=ice-ufrag"
    ),
    "ufrag with a space": Bad(sub(r"^a=ice-ufrag:(\S+)", r"a=ice-ufrag:\1 x"), "a=ice-ufrag"),
    "ufrag with a colon": Bad(sub(r"^a=ice-ufrag:(\S+)", r"a=ice-ufrag:\1:x"), "a=ice-ufrag"),
    "pwd of 21 chars": Bad(sub(r"^a=ice-pwd:\S+", "a=ice-pwd:" + "p" * 21), "a=ice-pwd"),
    "pwd with a !": Bad(sub(r"^a=ice-pwd:(\S+)", r"a=ice-pwd:\1!"), "a=ice-pwd"),
    "session-level ufrag of 300 chars": Bad(
        sub(r"^(t=0 0\r)$", "\\1\na=ice-ufrag:" + "s" * 300 + "\r"), "a=ice-ufrag"
    ),
    # --- fingerprints (RFC 8122) ---
    "no fingerprint": Bad(drop("a=fingerprint:"), "fingerprint"),
    "no fingerprint nor setup": Bad(both(drop("a=fingerprint:"), drop("a=setup:")), "fingerprint"),
    "no fingerprint in the data section": Bad(
        with_sections(lambda m: m[:2] + [drop("a=fingerprint:")(m[2])]), "fingerprint"
    ),
    "ZZ fingerprint": Bad(
        sub(r"^a=fingerprint:sha-256 \S+", "a=fingerprint:sha-256 ZZ:" + HEX32[3:]),
        "a=fingerprint value",
    ),
    "md5 fingerprint": Bad(
        both(
            drop("a=fingerprint:sha-384"),
            drop("a=fingerprint:sha-512"),
            sub(r"^a=fingerprint:sha-256 \S+", "a=fingerprint:md5 " + HEX32[:47]),
        ),
        "'md5'",
    ),
    "sha-1 fingerprint": Bad(
        sub(r"^a=fingerprint:sha-256 \S+", "a=fingerprint:sha-1 " + HEX32[:59]), "'sha-1'"
    ),
    "sha-256 fingerprint of 31 bytes": Bad(
        sub(r"^a=fingerprint:sha-256 \S+", "a=fingerprint:sha-256 " + HEX32[3:]),
        "32 hex pairs",
    ),
    # --- connection lines ---
    "garbage c= line": Bad(sub(r"^c=IN IP4 \S+", "c=IN IP4 not-an-address", 1), "c= line"),
    "c= line of another network type": Bad(sub(r"^c=IN IP4 \S+", "c=XX IP4 10.0.0.1", 1), "c="),
    "c= line without address": Bad(sub(r"^c=IN IP4 \S+", "c=IN", 1), "c= line"),
    # --- candidates the peer must not contact (RFC 8445 section 5.1.1) ---
    "candidate at 0.0.0.0": Bad(with_candidate(candidate("0.0.0.0")), "0.0.0.0"),
    "candidate at ::": Bad(with_candidate(candidate("::")), "::"),
    "candidate at 0.1.2.3": Bad(with_candidate(candidate("0.1.2.3")), "0.1.2.3"),
    "candidate at 255.255.255.255": Bad(
        with_candidate(candidate("255.255.255.255")), "255.255.255.255"
    ),
    "candidate at 240.0.0.1": Bad(with_candidate(candidate("240.0.0.1")), "reserved"),
    "candidate at 224.0.0.251": Bad(with_candidate(candidate("224.0.0.251", 5353)), "multicast"),
    "candidate at 239.255.255.250": Bad(with_candidate(candidate("239.255.255.250")), "multicast"),
    "candidate at ff02::fb": Bad(with_candidate(candidate("ff02::fb", 5353)), "multicast"),
    "candidate at 169.254.169.254": Bad(
        with_candidate(candidate("169.254.169.254", 80)), "169.254.169.254"
    ),
    "candidate at ::ffff:169.254.169.254": Bad(
        with_candidate(candidate("::ffff:169.254.169.254", 80)), "link-local"
    ),
    "candidate at fe80::1": Bad(with_candidate(candidate("fe80::1")), "link-local"),
    "candidate at port 0": Bad(with_candidate(candidate("127.0.0.1", 0)), "port"),
    "candidate at port 70000": Bad(with_candidate(candidate("127.0.0.1", 70000)), "port"),
    "candidate at a host name": Bad(with_candidate(candidate("example.com")), "example.com"),
    "candidate with priority abc": Bad(
        with_candidate("candidate:1 1 udp abc 127.0.0.1 5000 typ host"), "priority"
    ),
    "candidate with priority 0": Bad(
        with_candidate("candidate:1 1 udp 0 127.0.0.1 5000 typ host"), "priority"
    ),
    "candidate over sctp": Bad(with_candidate(candidate("127.0.0.1", rest="sctp 1")), "transport"),
    "candidate of type bogus": Bad(
        with_candidate("candidate:1 1 udp 1 127.0.0.1 5000 typ bogus"), "type"
    ),
    "candidate of component 0": Bad(
        with_candidate("candidate:1 0 udp 1 127.0.0.1 5000 typ host"), "component"
    ),
    "candidate cut short": Bad(with_candidate("candidate:1 1 udp"), "'1 1 udp'"),
    "candidate with a control character": Bad(
        with_candidate("candidate:1 1 udp 1 127.0.0.1 5000 typ host x \x1b[31m"), "\\x1b"
    ),
    f"{MAX_CANDIDATES + 1} candidates": Bad(many_candidates, f"at most {MAX_CANDIDATES}"),
    "body candidate at 169.254.169.254": Bad(
        lambda sdp: sdp,
        "169.254.169.254",
        "offer.candidates",
        ({"candidate": candidate("169.254.169.254", 80), "sdpMid": "0", "sdpMLineIndex": 0},),
    ),
    # --- shapes aiortc cannot answer (finding 5: they were 500s) ---
    "duplicate mids": Bad(sub(r"^a=mid:1\r$", "a=mid:0\r"), "a=mid '0'"),
    "two identical audio sections": Bad(with_sections(lambda m: [m[0], *m]), "a=mid '0'"),
    "two m=application sections": Bad(
        with_sections(lambda m: [*m, m[2].replace("a=mid:2", "a=mid:3")]), "m=application"
    ),
    "missing a=mid": Bad(drop("a=mid:0"), "a=mid"),
    "BUNDLE naming no section": Bad(sub(r"^a=group:BUNDLE 0", "a=group:BUNDLE 7 0"), "'7'"),
}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_offer_is_400_and_changes_nothing(emulator, sdk_client, case):
    bad = BAD[case]
    good = await sdk_client.offer()
    offer = {
        **good,
        "sdp": bad.mutate(good["sdp"]),
        "candidates": good["candidates"] + list(bad.body),
    }
    assert offer != good
    token = await sdk_client.mint_token()
    before = open_fds()

    status, body = await sdk_client.post_call(token, offer)

    assert status == 400, body
    assert set(body) == {"error"}
    error = body["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        bad.param,
        "invalid_value",
    )
    assert bad.says in error["message"], error["message"]
    assert len(error["message"]) < 500  # names the candidate or attribute, never echoes it all
    registry = emulator.registry
    assert len(registry) == 0 and not registry.ended
    assert open_fds() == before
    # The token was not spent: the same one opens a session with the good offer.
    status, body = await sdk_client.post_call(token, good)
    assert status == 200, body


async def test_an_offer_of_loopback_private_and_public_candidates_is_answered(emulator, sdk_client):
    good = await sdk_client.offer()
    added = ["127.0.0.1", "10.1.2.3", "192.168.1.20", "100.64.0.1", "203.0.113.7", "::1", "fd00::7"]
    sdp = good["sdp"]
    for i, address in enumerate(added):
        sdp = with_candidate(candidate(address, 40000 + i))(sdp)
    # Chromium's TCP candidates (port 9, never contacted) and hidden related addresses pass.
    sdp = with_candidate("candidate:2 1 tcp 1518280447 10.1.2.3 9 typ host tcptype active")(sdp)
    sdp = with_candidate(
        "candidate:3 1 udp 1686052607 203.0.113.8 50000 typ srflx raddr 0.0.0.0 rport 0"
    )(sdp)
    status, body = await sdk_client.post_call(await sdk_client.mint_token(), {**good, "sdp": sdp})
    assert status == 200, body
    await sdk_client.apply_answer(body)
    await sdk_client.connected()


async def test_a_peer_aiortc_could_not_set_up_still_closes_every_transport(sdk_client):
    # Past the checks of sdp.py (straight to the negotiation): aiortc half-applies an offer
    # without a=mid, and its own close() then raises before it stops the transports (plain
    # pc.close() leaves the ICE transport "new": not stopped, whatever it had gathered).
    sdp = drop("a=mid:0")((await sdk_client.offer())["sdp"])
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    with pytest.raises(ParamError):
        await negotiation.receive_offer(pc, AssistantAudioTrack(MediaCounters()), sdp)
    await negotiation.close_peer(pc)
    transports = {t.receiver.transport for t in pc.getTransceivers()} | {pc.sctp.transport}
    transports.discard(None)  # the data channel's, which aiortc already dropped
    assert transports
    # The ICE transports would hold the sockets (a DTLS transport never started stays "new").
    assert {d.transport.state for d in transports} == {"closed"}
