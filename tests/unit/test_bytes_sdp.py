"""check_offer_sdp on exact SDP text: the captured offers, minimal offers and their mutations."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from emulator.ai.params import ParamError
from emulator.rtc.sdp import MAX_SDP_BYTES, check_offer_sdp

OFFERS = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "offers").glob("*.sdp"))

FINGERPRINT = "a=fingerprint:sha-256 " + ":".join(["AB"] * 32)
SESSION = ["v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]
BUNDLE = ["a=group:BUNDLE 0 1 2", "a=msid-semantic: WMS"]
AUDIO = [
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:auFr",
    "a=ice-pwd:audioPasswordAudioPassword",
    "a=ice-options:trickle",
    FINGERPRINT,
    "a=setup:actpass",
    "a=mid:0",
    "a=sendrecv",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:0 PCMU/8000",
]
VIDEO = [
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
    "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:viFr",
    "a=ice-pwd:videoPasswordVideoPassword",
    FINGERPRINT,
    "a=setup:actpass",
    "a=mid:1",
    "a=sendonly",
    "a=rtcp-mux",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
]
PCMU_ONLY = ["m=audio 9 UDP/TLS/RTP/SAVPF 0"] + [
    line for line in AUDIO[1:] if not line.startswith(("a=rtpmap:111", "a=fmtp:111"))
]
APPLICATION = [
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:apFr",
    "a=ice-pwd:applicationPasswordApplication",
    FINGERPRINT,
    "a=setup:actpass",
    "a=mid:2",
    "a=sctp-port:5000",
]


def offer(*sections: list[str], head: list[str] | None = None, eol: str = "\r\n") -> str:
    lines = SESSION + (BUNDLE if head is None else head)
    for section in sections:
        lines = lines + section
    return eol.join(lines) + eol


def without(section: list[str], prefix: str) -> list[str]:
    out = [line for line in section if not line.startswith(prefix)]
    assert len(out) < len(section), prefix
    return out


def replaced(section: list[str], old: str, new: str) -> list[str]:
    out = [line.replace(old, new) for line in section]
    assert out != section, old
    return out


def refusal(sdp: str, param: str = "offer.sdp") -> tuple[str, str]:
    with pytest.raises(ParamError) as info:
        check_offer_sdp(sdp, param)
    return info.value.param, info.value.message


FULL = offer(AUDIO, VIDEO, APPLICATION)


# --- the captured offers --------------------------------------------------------------------


def test_captured_offers_are_there():
    assert len(OFFERS) >= 5


@pytest.mark.parametrize("path", OFFERS, ids=[p.stem for p in OFFERS])
def test_captured_offer_passes(path):
    sdp = path.read_bytes().decode()  # read_text would turn CRLF into LF
    parsed = check_offer_sdp(sdp)
    assert [m.kind for m in parsed.media] == ["audio", "video", "application"]
    # The same offer with the other line ends (CRLF is the standard; LF is common too).
    other = sdp.replace("\r\n", "\n") if "\r\n" in sdp else sdp.replace("\n", "\r\n")
    assert other != sdp
    assert [m.kind for m in check_offer_sdp(other).media] == ["audio", "video", "application"]


# --- minimal offers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sdp", "kinds"),
    [
        (FULL, ["audio", "video", "application"]),
        (offer(AUDIO), ["audio"]),
        (offer(AUDIO, APPLICATION), ["audio", "application"]),
        (offer(AUDIO, eol="\n"), ["audio"]),
        ("\r\n  \t" + offer(AUDIO), ["audio"]),  # leading whitespace
        (offer(AUDIO).rstrip("\r\n"), ["audio"]),  # no final line end
        (offer(replaced(AUDIO, "opus/", "OPUS/")), ["audio"]),  # case-insensitive codec name
        (offer(AUDIO + ["x=unknown line", "garbage", ""]), ["audio"]),  # aiortc skips them
        # ICE credentials and the fingerprint at session level (Firefox puts the fingerprint there)
        (
            offer(
                without(without(AUDIO, "a=ice-"), "a=fingerprint"),
                head=["a=ice-ufrag:sess", "a=ice-pwd:sessionPasswordSessionPass", FINGERPRINT],
            ),
            ["audio"],
        ),
        (offer(replaced(AUDIO, "m=audio 9", "m=audio 0")), ["audio"]),  # port 0 (rejected m-line)
    ],
    ids=[
        "full",
        "audio only",
        "audio and data",
        "LF line ends",
        "leading whitespace",
        "no final line end",
        "OPUS upper case",
        "unknown lines",
        "session-level ICE and fingerprint",
        "audio port 0",
    ],
)
def test_accepted(sdp, kinds):
    assert [m.kind for m in check_offer_sdp(sdp).media] == kinds


NO_ICE = "The {} section has no ICE credentials."
NO_DTLS = "The {} section has no DTLS fingerprint."
NOT_PARSED = "The SDP offer could not be parsed: "


@pytest.mark.parametrize(
    ("sdp", "message"),
    [
        ("", "The SDP offer must start with 'v=0'."),
        ("   \r\n", "The SDP offer must start with 'v=0'."),
        ("V=0\r\n", "The SDP offer must start with 'v=0'."),
        ("v=1\r\n" + FULL[5:], "The SDP offer must start with 'v=0'."),
        ("o=- 1 1 IN IP4 0.0.0.0\r\n" + FULL, "The SDP offer must start with 'v=0'."),
        ("\ufeff" + FULL, "The SDP offer must start with 'v=0'."),  # a BOM is not whitespace
        ("v=0", "The SDP offer has no audio section."),
        ("v=0\r\n", "The SDP offer has no audio section."),
        (offer(VIDEO, APPLICATION), "The SDP offer has no audio section."),
        (
            offer(PCMU_ONLY),
            "The SDP offer's audio section does not offer Opus.",
        ),
        (
            offer(replaced(AUDIO, "opus/48000/2", "opus-red/48000/2")),
            "The SDP offer's audio section does not offer Opus.",
        ),
        (offer(without(AUDIO, "a=ice-ufrag")), NO_ICE.format("audio")),
        (offer(without(AUDIO, "a=ice-pwd")), NO_ICE.format("audio")),
        (offer(AUDIO, without(VIDEO, "a=ice-ufrag"), APPLICATION), NO_ICE.format("video")),
        # aiortc wants ICE credentials in every section, the data channel's too.
        (offer(AUDIO, without(APPLICATION, "a=ice-")), NO_ICE.format("application")),
        # Without a=setup aiortc keeps no DTLS parameters, so the message says fingerprint.
        (offer(without(AUDIO, "a=setup")), NO_DTLS.format("audio")),
        (offer(without(without(AUDIO, "a=setup"), "a=fingerprint")), NO_DTLS.format("audio")),
        (offer(AUDIO, without(VIDEO, "a=setup"), APPLICATION), NO_DTLS.format("video")),
        (offer(replaced(AUDIO, "a=setup:actpass", "a=setup:bogus")), NOT_PARSED + "'bogus'"),
        (
            offer(replaced(AUDIO, FINGERPRINT, "a=fingerprint:sha-256")),
            "The a=fingerprint value '' is not 32 hex pairs separated by ':', as sha-256 makes.",
        ),
        (
            offer(replaced(AUDIO, "a=rtpmap:111 opus", "a=rtpmap:abc opus")),
            NOT_PARSED + "invalid literal for int() with base 10: 'abc'",
        ),
        (
            offer(replaced(AUDIO, "a=rtpmap:111 opus/48000/2", "a=rtpmap:111")),
            NOT_PARSED + "not enough values to unpack (expected 2, got 1)",
        ),
    ],
    ids=[
        "empty",
        "whitespace",
        "upper-case V",
        "v=1",
        "o= first",
        "BOM",
        "v=0 alone",
        "v=0 line alone",
        "no audio section",
        "audio without opus",
        "audio with opus-red only",
        "audio without ice-ufrag",
        "audio without ice-pwd",
        "video without ice-ufrag",
        "application without ICE",
        "audio without setup",
        "audio without setup or fingerprint",
        "video without setup",
        "bad setup",
        "fingerprint without value",
        "rtpmap with a bad payload type",
        "rtpmap without a codec",
    ],
)
def test_refused(sdp, message):
    assert refusal(sdp) == ("offer.sdp", message)


def test_param_is_the_callers():
    assert refusal("", "sdp") == ("sdp", "The SDP offer must start with 'v=0'.")


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_offer_without_fingerprint_is_refused(kind):
    sections = {"audio": AUDIO, "video": VIDEO}
    sections[kind] = without(sections[kind], "a=fingerprint")
    sdp = offer(sections["audio"], sections["video"], APPLICATION)
    assert refusal(sdp) == ("offer.sdp", NO_DTLS.format(kind))


@pytest.mark.parametrize("line", ["m=audio x", "a=candidate:1", "c=IN IP4"])
def test_a_malformed_line_is_named(line):
    param, message = refusal(offer(AUDIO + [line]) if line[0] == "a" else offer([line] + AUDIO))
    assert param == "offer.sdp"
    assert repr(line.split(":", 1)[-1].removeprefix("m=").removeprefix("c=")) in message


@pytest.mark.parametrize("line", ["a=rtpmap:x opus/48000", "a=sctp-port:x"])
def test_parse_failure_message_has_a_reason(line):
    param, message = refusal(offer(AUDIO + [line]))
    assert param == "offer.sdp"
    assert message.startswith(NOT_PARSED)
    assert message != NOT_PARSED


# --- size -----------------------------------------------------------------------------------


def padded(size: int) -> str:
    base = offer(AUDIO)
    pad = "a=x-pad:"
    filler = size - len(base) - len(pad) - 2
    sdp = base + pad + "p" * filler + "\r\n"
    assert len(sdp) == size
    return sdp


def test_size_limit_is_inclusive():
    assert MAX_SDP_BYTES == 262_144
    assert [m.kind for m in check_offer_sdp(padded(MAX_SDP_BYTES)).media] == ["audio"]
    assert refusal(padded(MAX_SDP_BYTES + 1)) == ("offer.sdp", "The SDP offer is too large.")


def test_size_is_checked_before_anything_else():
    assert refusal("x" * (MAX_SDP_BYTES + 1)) == ("offer.sdp", "The SDP offer is too large.")


def test_size_limit_counts_characters():
    # A JSON string's characters, not its UTF-8 bytes: 2-byte characters up to the limit pass.
    sdp = offer(AUDIO + ["s=" + "é" * (MAX_SDP_BYTES - len(offer(AUDIO)) - 4)])
    assert len(sdp) == MAX_SDP_BYTES and len(sdp.encode()) > MAX_SDP_BYTES
    assert [m.kind for m in check_offer_sdp(sdp).media] == ["audio"]


# --- truncated and corrupted offers: ParamError or a description, nothing else ---------------


def outcome(sdp: str) -> str:
    try:
        check_offer_sdp(sdp)
    except ParamError as exc:
        assert exc.param == "offer.sdp"
        return "refused"
    return "accepted"


def test_every_truncation_of_a_captured_offer():
    sdp = (OFFERS[0].parent / "chromium-sdk-layout.sdp").read_bytes().decode()
    line_ends = [i + 2 for i in range(len(sdp)) if sdp.startswith("\r\n", i)]
    results = {outcome(sdp[:end]) for end in line_ends}
    assert results == {"accepted", "refused"}
    for end in range(0, len(sdp), 13):
        outcome(sdp[:end])


def test_corrupted_bytes_of_a_captured_offer():
    sdp = (OFFERS[0].parent / "firefox-sdk-layout.sdp").read_bytes().decode()
    rng = random.Random(5)
    alphabet = [":", " ", "/", "=", "\r\n", "\x00", "é", "0", "a", "-", "\ud800"]
    for _ in range(300):
        chars = list(sdp)
        for _ in range(rng.randrange(1, 4)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        outcome("".join(chars))
