"""Media without decoding: Opus packets in and out, and video counted on the wire.

The AI's voice is a MediaStreamTrack whose recv() returns `av.Packet`s of already-encoded Opus:
aiortc's RTCRtpSender only packetizes those, so there is no encoder, no resampler and no
per-sample audio-level loop on the event loop. Received packets never reach a decoder either
(see emulator.rtc.aiortc_hooks).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket
from av.packet import Packet

from emulator.rtc.audio import FRAME_SAMPLES, SAMPLE_RATE, TIME_BASE

# A 20 ms CELT fullband mono frame that decodes to silence: the frame browsers send in DTX.
OPUS_SILENCE = b"\xf8\xff\xfe"

# After a live packet, how long to wait for the next one before filling with silence: one
# frame of jitter allowance, so silence does not interleave with a live stream.
LIVE_GAP = 0.02
# Live packets waiting to be sent; beyond it the oldest go, since late audio is useless.
LIVE_BACKLOG = 10
# Reply audio queued for playback, in packets (60 s of 20 ms frames).
MAX_QUEUED_REPLY_PACKETS = 3000
# A loop stall longer than this restarts pacing instead of bursting to catch up.
MAX_PACING_LAG = 0.1


def opus_packet_samples(payload: bytes) -> int:
    """The duration of an Opus packet in 48 kHz samples, from its TOC byte (RFC 6716 §3.1)."""
    if not payload:
        return FRAME_SAMPLES
    toc = payload[0]
    config = toc >> 3
    if config < 12:  # SILK: 10, 20, 40, 60 ms
        frame = (480, 960, 1920, 2880)[config % 4]
    elif config < 16:  # Hybrid: 10, 20 ms
        frame = (480, 960)[config % 2]
    else:  # CELT: 2.5, 5, 10, 20 ms
        frame = (120, 240, 480, 960)[config % 4]
    code = toc & 0x03
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    else:
        count = payload[1] & 0x3F if len(payload) > 1 else 1
    return max(frame * count, 120)


@dataclass
class MediaCounters:
    """What a session's media did, each way. Packets and bytes count RTP payloads."""

    audio_in_packets: int = 0
    audio_in_bytes: int = 0
    audio_in_voiced: int = 0
    audio_out_packets: int = 0
    audio_out_bytes: int = 0
    audio_out_speech: int = 0  # packets that carried the user's audio back (not silence)
    audio_out_dropped: int = 0
    audio_out_lost: int = 0  # withheld by a packet-loss fault
    audio_in_lost: int = 0  # discarded on arrival by a packet-loss fault
    video_in_lost: int = 0
    video_in_packets: int = 0
    video_in_bytes: int = 0
    video_in_frames: int = 0
    video_in_keyframes: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    def tracks(self) -> dict[str, dict[str, dict[str, int]]]:
        """Per track and direction. An Opus packet is one audio frame (20 ms)."""
        return {
            "audio": {
                "in": {
                    "packets": self.audio_in_packets,
                    "bytes": self.audio_in_bytes,
                    "frames": self.audio_in_packets,
                    "lost": self.audio_in_lost,
                },
                "out": {
                    "packets": self.audio_out_packets,
                    "bytes": self.audio_out_bytes,
                    "frames": self.audio_out_packets,
                    "lost": self.audio_out_lost,
                },
            },
            "video": {
                "in": {
                    "packets": self.video_in_packets,
                    "bytes": self.video_in_bytes,
                    "frames": self.video_in_frames,
                    "lost": self.video_in_lost,
                },
                "out": {"packets": 0, "bytes": 0, "frames": 0, "lost": 0},  # the AI sends none
            },
        }

    def summary(self) -> str:
        return (
            f"audio_in={self.audio_in_packets}p/{self.audio_in_bytes}B"
            f"({self.audio_in_voiced} voiced) "
            f"audio_out={self.audio_out_packets}p/{self.audio_out_bytes}B"
            f"({self.audio_out_speech} speech, {self.audio_out_dropped} dropped) "
            f"video_in={self.video_in_packets}p/{self.video_in_bytes}B/"
            f"{self.video_in_frames}f/{self.video_in_keyframes}k"
        )


class _Reply:
    __slots__ = ("packets", "on_done")

    def __init__(self, packets: deque[bytes], on_done: Callable[[], None] | None) -> None:
        self.packets = packets
        self.on_done = on_done


class AssistantAudioTrack(MediaStreamTrack):
    """The AI's voice: pre-encoded Opus packets, paced in real time, silence in between.

    Two sources: `play()` queues a reply to be paced out frame by frame (turn mode), `forward()`
    sends a packet at the next recv() with no pacing delay (live mode). With neither, a silence
    frame goes out every 20 ms, so the track flows from the start.
    """

    kind = "audio"

    def __init__(self, counters: MediaCounters) -> None:
        super().__init__()
        self._counters = counters
        self._event_loop: asyncio.AbstractEventLoop = asyncio.get_running_loop()
        self._live: deque[bytes] = deque()
        self._replies: deque[_Reply] = deque()
        self._queued = 0
        self._waiter: asyncio.Future[None] | None = None
        self._started_at: float | None = None
        self._next_at = 0.0
        self._next_pts = 0
        self._muted = False
        self._loss: tuple[float, random.Random] | None = None

    def play(self, packets: Iterable[bytes], on_done: Callable[[], None] | None = None) -> None:
        """Queue a reply; `on_done` runs (soon, from the loop) once its last packet is sent."""
        room = MAX_QUEUED_REPLY_PACKETS - self._queued
        queued: deque[bytes] = deque()
        for payload in packets:
            if room <= 0:
                self._counters.audio_out_dropped += 1
                continue
            queued.append(payload)
            room -= 1
        self._queued += len(queued)
        self._replies.append(_Reply(queued, on_done))

    def forward(self, payload: bytes) -> None:
        """Send this packet as soon as the sender asks for the next one."""
        if len(self._live) >= LIVE_BACKLOG:
            self._live.popleft()
            self._counters.audio_out_dropped += 1
        self._live.append(payload)
        self._wake()

    def stop(self) -> None:
        super().stop()
        self._wake()

    def mute(self) -> None:
        """Stop sending anything at all (a fault: the AI's media goes silent)."""
        self._muted = True
        self._wake()

    def lose(self, rate: float, rng: random.Random) -> None:
        """Withhold this share of packets (a fault); RTP timestamps show the gaps."""
        self._loss = (rate, rng)

    async def recv(self) -> Packet:
        while True:
            payload, now = await self._next_payload()
            loss = self._loss
            if loss is not None and loss[1].random() < loss[0]:
                self._counters.audio_out_lost += 1
                continue
            return self._packet(payload, now)

    async def _next_payload(self) -> tuple[bytes, float]:
        loop = self._event_loop
        now = loop.time()
        if self._started_at is None:
            self._started_at = self._next_at = now
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._muted:
                await self._sleep_until(None)  # until stop()
                continue
            if self._live:
                payload = self._live.popleft()
                self._counters.audio_out_speech += 1
                now = loop.time()
                self._next_at = now + opus_packet_samples(payload) / SAMPLE_RATE + LIVE_GAP
                break
            now = loop.time()
            if now >= self._next_at:
                payload = self._next_paced_payload()
                if now - self._next_at > MAX_PACING_LAG:
                    self._next_at = now
                self._next_at += opus_packet_samples(payload) / SAMPLE_RATE
                break
            await self._sleep_until(self._next_at)
        return payload, now

    def _next_paced_payload(self) -> bytes:
        while self._replies:
            reply = self._replies[0]
            if reply.packets:
                self._queued -= 1
                self._counters.audio_out_speech += 1
                payload = reply.packets.popleft()
                if not reply.packets:
                    self._finish(self._replies.popleft())
                return payload
            self._finish(self._replies.popleft())
        return OPUS_SILENCE

    def _finish(self, reply: _Reply) -> None:
        if reply.on_done is not None:
            self._event_loop.call_soon(reply.on_done)

    def _packet(self, payload: bytes, now: float) -> Packet:
        # RTP time follows the wall clock (a gap shows as a timestamp jump) and never goes back.
        assert self._started_at is not None
        wall_pts = int((now - self._started_at) * SAMPLE_RATE)
        pts = max(self._next_pts, wall_pts)
        self._next_pts = pts + opus_packet_samples(payload)
        packet = Packet(payload)
        packet.pts = pts
        packet.time_base = TIME_BASE
        self._counters.audio_out_packets += 1
        self._counters.audio_out_bytes += len(payload)
        return packet

    async def _sleep_until(self, deadline: float | None) -> None:
        # A bare future and a timer handle: cheaper than wait_for, which makes a task per call.
        waiter = self._waiter = self._event_loop.create_future()
        timer = self._event_loop.call_at(deadline, self._wake) if deadline is not None else None
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class VideoCounter:
    """Counts received video frames and keyframes from RTP headers and payload descriptors."""

    def __init__(self, counters: MediaCounters, codec_by_payload_type: dict[int, str]) -> None:
        self._counters = counters
        self._codecs = {pt: name.lower() for pt, name in codec_by_payload_type.items()}
        self._keyframe = False

    def on_rtp(self, packet: RtpPacket) -> None:
        counters = self._counters
        counters.video_in_packets += 1
        counters.video_in_bytes += len(packet.payload)
        codec = self._codecs.get(packet.payload_type)
        if codec == "video/vp8":
            self._keyframe |= vp8_starts_keyframe(packet.payload)
        elif codec == "video/h264":
            self._keyframe |= h264_has_keyframe(packet.payload)
        elif codec is None or codec == "video/rtx":
            return  # a retransmission or an unknown stream: no frame boundary to count
        if packet.marker:  # the last packet of a frame
            counters.video_in_frames += 1
            counters.video_in_keyframes += self._keyframe
            self._keyframe = False


def vp8_starts_keyframe(payload: bytes) -> bool:
    """True for the first packet of a VP8 key frame (RFC 7741 §4.2-4.3)."""
    if not payload:
        return False
    first = payload[0]
    start, partition = first & 0x10, first & 0x07
    if not start or partition != 0:
        return False
    offset = 1
    if first & 0x80:  # X: extension byte follows
        if len(payload) < 2:
            return False
        ext = payload[1]
        offset = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= offset:
                return False
            offset += 2 if payload[offset] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            offset += 1
        if ext & 0x30:  # T or K: TID/KEYIDX byte
            offset += 1
    return len(payload) > offset and not payload[offset] & 0x01  # P bit 0: key frame


H264_IDR, H264_SPS, H264_STAP_A, H264_FU_A = 5, 7, 24, 28


def h264_has_keyframe(payload: bytes) -> bool:
    """True if the packet carries (the start of) an IDR slice or an SPS (RFC 6184 §5)."""
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (H264_IDR, H264_SPS):
        return True
    if nal_type == H264_FU_A:
        return len(payload) > 1 and bool(payload[1] & 0x80) and payload[1] & 0x1F == H264_IDR
    if nal_type == H264_STAP_A:
        offset = 1
        while offset + 2 < len(payload):
            size = int.from_bytes(payload[offset : offset + 2], "big")
            if payload[offset + 2] & 0x1F in (H264_IDR, H264_SPS):
                return True
            offset += 2 + size
    return False
