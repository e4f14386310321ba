"""emulator.rtc.candidates on exact candidate lines, as browsers and aiortc write them."""

from __future__ import annotations

import pytest

from emulator.rtc.candidates import CandidateError, for_peer, is_mdns, parse_candidate

ACCEPTED = [
    # Chromium: host, hidden host, TCP active, srflx with its hidden related address, relay.
    "candidate:1043653075 1 udp 2113937151 192.168.1.20 48912 typ host generation 0"
    " network-cost 999",
    "candidate:2637211398 1 udp 2113937151 3f0b7c1e-9a52-4f5e-8a55-1b2c3d4e5f60.local 54321"
    " typ host generation 0 network-cost 999",
    "candidate:2 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active generation 0",
    "candidate:842163049 1 udp 1677729535 203.0.113.8 50000 typ srflx raddr 0.0.0.0 rport 0"
    " generation 0 ufrag 8T9y network-cost 999",
    "candidate:3 1 udp 41885439 198.51.100.4 3478 typ relay raddr 203.0.113.8 rport 50000",
    # Firefox: upper-case UDP/TCP, IPv6.
    "candidate:0 1 UDP 2122252543 fd00::2 57333 typ host",
    "candidate:3 1 TCP 2105524479 10.0.0.4 9 typ host tcptype active",
    # aiortc: a 32-character foundation.
    "candidate:f957a2332b1715da3b0ef8ba684454eb 1 udp 2130706431 127.0.0.1 55446 typ host",
    # The body's form, with the a= prefix some clients keep.
    "a=candidate:1 1 udp 1 ::1 65535 typ host",
]


@pytest.mark.parametrize("line", ACCEPTED)
def test_accepted(line):
    candidate = parse_candidate(line)
    assert candidate.transport in ("udp", "tcp")
    assert 1 <= candidate.port <= 65535


REFUSED = {
    "unspecified": ("candidate:1 1 udp 1 0.0.0.0 5000 typ host", "unspecified"),
    "this network": ("candidate:1 1 udp 1 0.0.0.7 5000 typ host", "unspecified"),
    "unspecified v6": ("candidate:1 1 udp 1 :: 5000 typ host", "unspecified"),
    "broadcast": ("candidate:1 1 udp 1 255.255.255.255 5000 typ host", "broadcast"),
    "multicast": ("candidate:1 1 udp 1 224.0.0.251 5353 typ host", "multicast"),
    "multicast v6": ("candidate:1 1 udp 1 ff02::fb 5353 typ host", "multicast"),
    "metadata": ("candidate:1 1 udp 1 169.254.169.254 80 typ host", "link-local"),
    "mapped metadata": ("candidate:1 1 udp 1 ::ffff:169.254.169.254 80 typ host", "link-local"),
    "link-local v6": ("candidate:1 1 udp 1 fe80::1%eth0 5000 typ host", "link-local"),
    "reserved": ("candidate:1 1 udp 1 240.0.0.1 5000 typ host", "reserved"),
    "port 0": ("candidate:1 1 udp 1 10.0.0.1 0 typ host", "port"),
    "port 70000": ("candidate:1 1 udp 1 10.0.0.1 70000 typ host", "port"),
    "port +5": ("candidate:1 1 udp 1 10.0.0.1 +5 typ host", "port"),
    "port in other digits": ("candidate:1 1 udp 1 10.0.0.1 ٥٠٠٠ typ host", "port"),
    "priority 0": ("candidate:1 1 udp 0 10.0.0.1 5000 typ host", "priority"),
    "priority 2^31": ("candidate:1 1 udp 2147483648 10.0.0.1 5000 typ host", "priority"),
    "component 257": ("candidate:1 257 udp 1 10.0.0.1 5000 typ host", "component"),
    "sctp": ("candidate:1 1 sctp 1 10.0.0.1 5000 typ host", "transport"),
    "no typ": ("candidate:1 1 udp 1 10.0.0.1 5000 host x", "expected"),
    "bogus type": ("candidate:1 1 udp 1 10.0.0.1 5000 typ bogus", "type"),
    "odd extension": ("candidate:1 1 udp 1 10.0.0.1 5000 typ host generation", "expected"),
    "double space": ("candidate:1 1 udp 1  10.0.0.1 5000 typ host", "expected"),
    "long foundation": ("candidate:" + "f" * 33 + " 1 udp 1 10.0.0.1 5000 typ host", "foundation"),
    "host name": ("candidate:1 1 udp 1 example.com 5000 typ host", "neither"),
    "bad raddr": ("candidate:1 1 udp 1 10.0.0.1 5000 typ srflx raddr nope rport 0", "raddr"),
    "bad rport": ("candidate:1 1 udp 1 10.0.0.1 5000 typ srflx raddr 0.0.0.0 rport x", "rport"),
    "too long": ("candidate:1 1 udp 1 10.0.0.1 5000 typ host" + " x y" * 200, "longer"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_naming_the_candidate(case):
    line, reason = REFUSED[case]
    with pytest.raises(CandidateError) as info:
        parse_candidate(line)
    message = str(info.value)
    assert message.startswith("The candidate '")
    assert reason in message
    assert len(message) < 400


def test_the_message_escapes_and_cuts_the_candidate():
    with pytest.raises(CandidateError) as info:
        parse_candidate("candidate:1 1 udp 1 10.0.0.1 5000 typ host x \x1b[2J\r\n" + "z" * 5000)
    message = str(info.value)
    assert "\x1b" not in message and "\r" not in message and "\\x1b" in message
    assert "..." in message and len(message) < 400


CHROMIUM_MDNS = (
    "v=0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "a=candidate:1 1 udp 2113937151 3f0b7c1e-9a52-4f5e-8a55-1b2c3d4e5f60.local 54321 typ host\r\n"
    "a=end-of-candidates\r\n"
    "a=mid:0\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "a=candidate:1 1 udp 2113937151 192.168.1.20 54322 typ host\r\n"
    "a=end-of-candidates\r\n"
    "a=mid:1\r\n"
)


def test_the_peer_is_given_no_mdns_candidate_and_waits_where_one_was():
    lines, changed = for_peer(CHROMIUM_MDNS.splitlines())
    assert changed
    assert lines == [
        "v=0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=mid:0",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=candidate:1 1 udp 2113937151 192.168.1.20 54322 typ host",
        "a=end-of-candidates",
        "a=mid:1",
    ]


def test_an_offer_without_mdns_candidates_is_given_as_it_is():
    lines = CHROMIUM_MDNS.replace("3f0b7c1e-9a52-4f5e-8a55-1b2c3d4e5f60.local", "10.0.0.2")
    assert for_peer(lines.splitlines()) == (lines.splitlines(), False)


def test_body_candidates_at_mdns_names():
    assert is_mdns("candidate:1 1 udp 1 abc-1.local 5000 typ host")
    assert is_mdns("a=candidate:1 1 udp 1 abc-1.local 5000 typ host")
    assert not is_mdns("candidate:1 1 udp 1 10.0.0.1 5000 typ host")
    assert not is_mdns("")
