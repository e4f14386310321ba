"""Keyframe detection and video counting on real RTP packets (fixtures/packets, made by aiortc's
own H.264 and VP8 encoders), plus hand-made malformed payloads, and the Opus TOC parser."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import av
import pytest
from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import vp8_depayload
from aiortc.rtp import RtpPacket

from emulator.rtc.media import (
    MediaCounters,
    VideoCounter,
    h264_has_keyframe,
    opus_packet_samples,
    vp8_starts_keyframe,
)

PACKETS = Path(__file__).resolve().parents[2] / "fixtures" / "packets"
H264_PT, VP8_PT, RTX_PT = 102, 96, 97
CODECS = {H264_PT: "video/H264", VP8_PT: "video/VP8", RTX_PT: "video/rtx"}


def load(name: str) -> RtpPacket:
    return RtpPacket.parse((PACKETS / name).read_bytes())


def load_stream(name: str) -> list[RtpPacket]:
    data = (PACKETS / name).read_bytes()
    packets, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack_from("!H", data, offset)
        packets.append(RtpPacket.parse(data[offset + 2 : offset + 2 + size]))
        offset += 2 + size
    assert offset == len(data)
    return packets


def frames_of(packets: list[RtpPacket]) -> list[list[RtpPacket]]:
    frames: list[list[RtpPacket]] = [[]]
    for packet in packets:
        frames[-1].append(packet)
        if packet.marker:
            frames.append([])
    assert frames[-1] == []
    return frames[:-1]


def h264_structure(payload: bytes) -> tuple:
    """What a payload carries, read independently of the code under test (RFC 6184 §5)."""
    nal_type = payload[0] & 0x1F
    if nal_type == 24:
        units, offset = [], 1
        while offset < len(payload):
            (size,) = struct.unpack_from("!H", payload, offset)
            units.append(payload[offset + 2] & 0x1F)
            offset += 2 + size
        assert offset == len(payload)
        return ("STAP-A", tuple(units))
    if nal_type == 28:
        header = payload[1]
        position = {0x80: "start", 0x40: "end", 0x00: "middle"}[header & 0xC0]
        return ("FU-A", position, header & 0x1F)
    return ("single", nal_type)


def count(packets: list[RtpPacket], codecs: dict[int, str] = CODECS) -> MediaCounters:
    counters = MediaCounters()
    counter = VideoCounter(counters, codecs)
    for packet in packets:
        counter.on_rtp(packet)
    return counters


# --- H.264: the captured packets ------------------------------------------------------------

H264_FILES = [
    # file, what it carries, RTP marker, h264_has_keyframe
    ("h264_key_stap_a_sps_pps_sei.bin", ("STAP-A", (7, 8, 6)), 0, True),
    ("h264_key_fu_a_idr_start.bin", ("FU-A", "start", 5), 0, True),
    ("h264_key_fu_a_idr_middle.bin", ("FU-A", "middle", 5), 0, False),
    ("h264_key_fu_a_idr_end.bin", ("FU-A", "end", 5), 1, False),
    ("h264_delta_single_p.bin", ("single", 1), 1, False),
    ("h264_delta_fu_a_p_start.bin", ("FU-A", "start", 1), 0, False),
    ("h264_delta_fu_a_p_end.bin", ("FU-A", "end", 1), 1, False),
    ("h264_key_stap_a_sps_pps_idr.bin", ("STAP-A", (7, 8, 5)), 1, True),
    ("h264_key_single_sps.bin", ("single", 7), 0, True),
    # A PPS alone starts nothing: the SPS or the IDR of the same frame is what counts.
    ("h264_key_single_pps.bin", ("single", 8), 0, False),
    ("h264_key_single_idr.bin", ("single", 5), 1, True),
]


@pytest.mark.parametrize(
    ("name", "structure", "marker", "keyframe"), H264_FILES, ids=[f[0] for f in H264_FILES]
)
def test_h264_captured_packet(name, structure, marker, keyframe):
    packet = load(name)
    assert (packet.version, packet.payload_type, packet.ssrc) == (2, H264_PT, 0x0A0B0C0D)
    assert packet.marker == marker
    assert h264_structure(packet.payload) == structure
    assert h264_has_keyframe(packet.payload) is keyframe


def test_h264_every_packetization_mode_is_covered():
    kinds = {h264_structure(load(name).payload)[0] for name, *_ in H264_FILES}
    assert kinds == {"single", "STAP-A", "FU-A"}


def test_h264_stream_decodes_with_the_keyframes_we_expect():
    """The fixtures are real H.264: a decoder agrees on which frames are keyframes."""
    decoder = av.CodecContext.create("h264", "r")
    decoded = []
    for frame in frames_of(load_stream("h264_stream.bin")):
        data = b"".join(h264_depayload(p.payload) for p in frame)
        decoded += decoder.decode(av.Packet(data))
    decoded += decoder.decode(None)
    assert [(f.width, f.height) for f in decoded] == [(64, 48)] * 5
    assert [f.key_frame for f in decoded] == [True, False, False, True, False]


def test_h264_stream_keyframe_per_frame():
    frames = frames_of(load_stream("h264_stream.bin"))
    assert [len(f) for f in frames] == [5, 1, 4, 1, 1]
    assert [any(h264_has_keyframe(p.payload) for p in f) for f in frames] == [
        True,
        False,
        False,
        True,
        False,
    ]


def test_video_counter_on_the_h264_stream():
    packets = load_stream("h264_stream.bin")
    counters = count(packets)
    assert counters.video_in_packets == len(packets) == 12
    assert counters.video_in_bytes == sum(len(p.payload) for p in packets)
    assert (counters.video_in_frames, counters.video_in_keyframes) == (5, 2)
    assert counters.tracks()["video"]["in"] == {
        "packets": 12,
        "bytes": counters.video_in_bytes,
        "frames": 5,
        "lost": 0,
    }


@pytest.mark.parametrize(
    ("dropped", "keyframes"),
    [
        ((0,), 2),  # without the STAP-A (SPS/PPS): the FU-A start of the IDR still says so
        ((1,), 2),  # without the FU-A start: the SPS in the STAP-A says so
        ((0, 1), 1),  # without both, nothing in the frame shows it is a keyframe
        ((2, 3), 2),  # middle fragments carry no frame type
    ],
)
def test_video_counter_with_the_first_keyframe_partly_lost(dropped, keyframes):
    packets = [p for i, p in enumerate(load_stream("h264_stream.bin")) if i not in dropped]
    counters = count(packets)
    assert (counters.video_in_frames, counters.video_in_keyframes) == (5, keyframes)


def test_video_counter_a_lost_marker_merges_two_frames():
    packets = load_stream("h264_stream.bin")
    del packets[4]  # the FU-A end (marker) of the first keyframe
    counters = count(packets)
    assert (counters.video_in_frames, counters.video_in_keyframes) == (4, 2)


def test_video_counter_ignores_rtx_and_unknown_payload_types_for_frames():
    key = load("h264_key_stap_a_sps_pps_idr.bin")
    rtx = RtpPacket(payload_type=RTX_PT, marker=1, payload=b"\x03\xf2" + key.payload)
    unknown = RtpPacket(payload_type=100, marker=1, payload=key.payload)
    counters = count([rtx, unknown])
    assert counters.video_in_packets == 2
    assert counters.video_in_bytes == 2 + 2 * len(key.payload)
    assert (counters.video_in_frames, counters.video_in_keyframes) == (0, 0)


def test_video_counter_codec_names_are_case_insensitive():
    counters = count([load("h264_key_stap_a_sps_pps_idr.bin")], {H264_PT: "VIDEO/h264"})
    assert (counters.video_in_frames, counters.video_in_keyframes) == (1, 1)


def test_video_counter_counts_frames_of_a_codec_it_cannot_inspect():
    # A negotiated codec without a keyframe parser (VP9, AV1): frames by marker, no keyframes.
    packets = load_stream("vp8_stream.bin")
    counters = count(packets, {VP8_PT: "video/VP9"})
    assert (counters.video_in_packets, counters.video_in_frames) == (8, 4)
    assert counters.video_in_keyframes == 0


def test_h264_truncated_captured_payloads():
    """Every prefix of every captured payload: no exception, and the exact answer."""
    stap_a = load("h264_key_stap_a_sps_pps_idr.bin").payload
    # The SPS's header byte is the 4th (STAP-A header, 2-byte length, NAL header).
    assert [h264_has_keyframe(stap_a[:n]) for n in range(6)] == [False] * 4 + [True] * 2
    fu_a = load("h264_key_fu_a_idr_start.bin").payload
    assert [h264_has_keyframe(fu_a[:n]) for n in range(4)] == [False, False, True, True]
    for name, *_ in H264_FILES:
        payload = load(name).payload
        for n in range(len(payload) + 1):
            assert h264_has_keyframe(payload[:n]) in (True, False)


# --- H.264: hand-made edge cases ------------------------------------------------------------

H264_EDGE_CASES = [
    ("empty", b"", False),
    ("IDR NAL header only", b"\x65", True),
    ("IDR with F and NRI bits", b"\xe5\x00", True),
    ("SPS NAL header only", b"\x67", True),
    ("PPS", b"\x68\xce\x3c\x80", False),
    ("SEI", b"\x06\x05\x00", False),
    ("non-IDR slice", b"\x41\x9a", False),
    ("reserved type 0", b"\x00\x00", False),
    ("reserved type 30", b"\x1e\x65", False),
    ("reserved type 31", b"\x1f\x65", False),
    ("STAP-B (not in mode 1)", b"\x19\x00\x00\x00\x01\x65", False),
    ("MTAP16", b"\x1a\x00\x00\x00\x01\x65", False),
    ("FU-B", b"\x1d\x85\x00\x00", False),
    ("FU-A indicator only", b"\x7c", False),
    ("FU-A start of IDR, no data", b"\x7c\x85", True),
    ("FU-A IDR fragment, neither start nor end", b"\x7c\x05\x00", False),
    ("FU-A end of IDR", b"\x7c\x45\x00", False),
    ("FU-A start and end bits both set", b"\x7c\xc5\x00", True),
    ("FU-A start of a non-IDR slice", b"\x5c\x81\x00", False),
    ("STAP-A header only", b"\x18", False),
    ("STAP-A half a length", b"\x18\x00", False),
    ("STAP-A length without its unit", b"\x18\x00\x01", False),
    ("STAP-A one IDR byte", b"\x18\x00\x01\x65", True),
    ("STAP-A length past the end, SPS header present", b"\x18\x00\x40\x67", True),
    ("STAP-A length past the end, P slice", b"\x18\xff\xff\x41\x00\x01\x65", False),
    ("STAP-A P slice then IDR", b"\x18\x00\x02\x41\x00\x00\x02\x65\x00", True),
    ("STAP-A P slice then truncated length", b"\x18\x00\x02\x41\x00\x00", False),
    ("STAP-A P then PPS", b"\x18\x00\x01\x41\x00\x01\x68", False),
]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [c[1:] for c in H264_EDGE_CASES],
    ids=[c[0] for c in H264_EDGE_CASES],
)
def test_h264_hand_made_payloads(payload, expected):
    assert h264_has_keyframe(payload) is expected


def test_h264_random_bytes_never_raise():
    rng = random.Random(11)
    # Bias the first byte towards the aggregation and fragmentation types.
    firsts = [0x18, 0x78, 0x1C, 0x7C, 0x05, 0x07, 0x01] + list(range(256))
    for _ in range(3000):
        payload = bytes([rng.choice(firsts)]) + rng.randbytes(rng.randrange(0, 24))
        assert h264_has_keyframe(payload) in (True, False)


# --- VP8 ------------------------------------------------------------------------------------

VP8_FILES = [
    ("vp8_key_first.bin", 0, True),
    ("vp8_key_continuation.bin", 0, False),
    ("vp8_delta_first.bin", 1, False),
]


@pytest.mark.parametrize(("name", "marker", "keyframe"), VP8_FILES, ids=[f[0] for f in VP8_FILES])
def test_vp8_captured_packet(name, marker, keyframe):
    packet = load(name)
    assert (packet.payload_type, packet.ssrc, packet.marker) == (VP8_PT, 0x01020304, marker)
    # aiortc's descriptor: X and I set, 15-bit picture id (M bit), S on a frame's first packet.
    first = packet.payload[0]
    assert first & 0x80 and packet.payload[1] == 0x80 and packet.payload[2] & 0x80
    assert bool(first & 0x10) == name.endswith("_first.bin")
    assert vp8_starts_keyframe(packet.payload) is keyframe


def test_vp8_stream_decodes_with_the_keyframes_we_expect():
    decoder = av.CodecContext.create("vp8", "r")
    decoded = []
    frames = frames_of(load_stream("vp8_stream.bin"))
    for frame in frames:
        decoded += decoder.decode(av.Packet(b"".join(vp8_depayload(p.payload) for p in frame)))
    decoded += decoder.decode(None)
    assert [f.key_frame for f in decoded] == [True, False, False, True]
    assert [vp8_starts_keyframe(f[0].payload) for f in frames] == [True, False, False, True]


def test_video_counter_on_the_vp8_stream():
    packets = load_stream("vp8_stream.bin")
    counters = count(packets)
    assert counters.video_in_packets == len(packets) == 8
    assert counters.video_in_bytes == sum(len(p.payload) for p in packets)
    assert (counters.video_in_frames, counters.video_in_keyframes) == (4, 2)


def test_vp8_truncated_captured_payload():
    payload = load("vp8_key_first.bin").payload
    # X, I (2-byte picture id): the VP8 header's first byte is the 5th.
    assert [vp8_starts_keyframe(payload[:n]) for n in range(7)] == [False] * 5 + [True] * 2


VP8_EDGE_CASES = [
    ("empty", b"", False),
    ("descriptor only", b"\x10", False),
    ("no X, keyframe", b"\x10\x00", True),
    ("no X, interframe", b"\x10\x01", False),
    ("not a partition start", b"\x00\x00", False),
    ("partition 1", b"\x11\x00", False),
    ("X without its byte", b"\x90", False),
    ("X, no optional fields, keyframe", b"\x90\x00\x00", True),
    ("I without a picture id", b"\x90\x80", False),
    ("7-bit picture id, keyframe", b"\x90\x80\x05\x00", True),
    ("7-bit picture id, interframe", b"\x90\x80\x05\x01", False),
    ("15-bit picture id, truncated", b"\x90\x80\x84", False),
    ("15-bit picture id, no payload", b"\x90\x80\x84\xd2", False),
    ("15-bit picture id, keyframe", b"\x90\x80\x84\xd2\x70", True),
    ("I L T, keyframe", b"\x90\xe0\x05\x07\x40\x00", True),
    ("I L T, interframe", b"\x90\xe0\x05\x07\x40\x01", False),
    ("I L T, no payload", b"\x90\xe0\x05\x07\x40", False),
    ("K only", b"\x90\x10\x03\x00", True),
    ("L and K, 15-bit id, keyframe", b"\x90\xd0\x80\x01\x07\x20\x00", True),
]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [c[1:] for c in VP8_EDGE_CASES],
    ids=[c[0] for c in VP8_EDGE_CASES],
)
def test_vp8_hand_made_payloads(payload, expected):
    assert vp8_starts_keyframe(payload) is expected


def test_vp8_random_bytes_never_raise():
    rng = random.Random(8)
    for _ in range(3000):
        payload = bytes([rng.choice([0x10, 0x90, 0xB0, 0xF0, rng.randrange(256)])])
        payload += rng.randbytes(rng.randrange(0, 8))
        assert vp8_starts_keyframe(payload) in (True, False)


# --- Opus TOC (RFC 6716 §3.1) ---------------------------------------------------------------

OPUS_CASES = [
    ("empty: one 20 ms frame", b"", 960),
    ("the DTX silence frame: CELT FB 20 ms", b"\xf8\xff\xfe", 960),
    ("SILK NB 10 ms", b"\x00", 480),
    ("SILK NB 20 ms", b"\x08", 960),
    ("SILK NB 40 ms", b"\x10", 1920),
    ("SILK WB 60 ms", b"\x58", 2880),
    ("Hybrid SWB 10 ms", b"\x60", 480),
    ("Hybrid FB 20 ms", b"\x78", 960),
    ("CELT NB 2.5 ms", b"\x80", 120),
    ("CELT NB 5 ms", b"\x88", 240),
    ("CELT FB 10 ms", b"\xf0", 480),
    ("code 1: two equal frames", b"\xf9", 1920),
    ("code 2: two frames", b"\xfa\x01", 1920),
    ("code 3: three frames", b"\xfb\x03", 2880),
    ("code 3: VBR and padding bits ignored", b"\xfb\xc3", 2880),
    ("code 3 without its count byte", b"\xfb", 960),
    ("code 3 with zero frames: at least 2.5 ms", b"\xfb\x00", 120),
    ("code 3: 48 x 2.5 ms", b"\x83\x30", 5760),
]


@pytest.mark.parametrize(
    ("payload", "samples"),
    [c[1:] for c in OPUS_CASES],
    ids=[c[0] for c in OPUS_CASES],
)
def test_opus_packet_samples(payload, samples):
    assert opus_packet_samples(payload) == samples
