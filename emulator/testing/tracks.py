"""Microphones for the client: paced 20 ms audio, as a live device delivers it.

- `PcmTrack`: says PCM handed to it (`OrgaClient.say()`), silence otherwise;
- `ToneBurstTrack`: silence with bursts of a tone on demand;
- `PacketTrack`: pre-encoded Opus packets, looped, nothing encoded (cheap: for load).

PcmTrack and ToneBurstTrack produce AudioFrames, which aiortc encodes, adding the RFC 6464 audio
level to each packet as browsers do.
"""

from __future__ import annotations

import array
import asyncio
import math
from collections.abc import Callable
from pathlib import Path

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from emulator.rtc.audio import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    FrameClock,
    opus_packet,
    pcm_frame,
    read_pcm,
)
from emulator.rtc.audio import encode_opus as _encode_opus


def wav_pcm(path: str | Path) -> bytes:
    """Any audio file PyAV reads, as mono 16-bit PCM at 48 kHz (what `say()` takes)."""
    return read_pcm(path)


def tone_samples(freq: float = 440.0, amplitude: int = 8000) -> bytes:
    """One 20 ms frame of a sine tone, 16-bit mono PCM."""
    return array.array(
        "h",
        (
            int(amplitude * math.sin(2 * math.pi * freq * i / SAMPLE_RATE))
            for i in range(FRAME_SAMPLES)
        ),
    ).tobytes()


SILENCE_SAMPLES = bytes(FRAME_BYTES)


def encode_opus(frames: list[bytes]) -> list[bytes]:
    """Encode 20 ms frames of 16-bit mono PCM with libopus once, one packet each (PacketTrack)."""
    return list(_encode_opus(b"".join(frames), bit_rate=32_000))[: len(frames)]


class PcmTrack(MediaStreamTrack):
    """Plays mono 16-bit PCM at 48 kHz in paced 20 ms frames, then silence, like a live mic."""

    kind = "audio"

    #: Loop time at which the first frame of the latest play() went out.
    said_at: float | None = None
    _announce = False

    def __init__(self, pcm: bytes = b"") -> None:
        super().__init__()
        self._pcm = pcm
        self._offset = 0
        self._clock = FrameClock()

    def play(self, pcm: bytes) -> None:
        """Queue more audio to say (after what is still playing)."""
        self._pcm = self._pcm[self._offset :] + pcm
        self._offset = 0
        self._announce = True

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._clock.tick()
        chunk = self._pcm[self._offset : self._offset + FRAME_BYTES]
        self._offset += len(chunk)
        if self._announce and chunk:
            self._announce = False
            self.said_at = asyncio.get_running_loop().time()
        return pcm_frame(chunk, index * FRAME_SAMPLES)


class ToneBurstTrack(MediaStreamTrack):
    """Silence, except during bursts of a tone: `burst(frames)` schedules one, and
    `burst_started` records when the first frame of each went out (loop time)."""

    kind = "audio"

    def __init__(self, freq: float = 440.0) -> None:
        super().__init__()
        self._tone = tone_samples(freq)
        self._clock = FrameClock()
        self._tone_left = 0
        self._burst_pending = False
        self.burst_started: list[float] = []

    def burst(self, frames: int) -> None:
        self._tone_left = frames
        self._burst_pending = True

    async def recv(self) -> av.AudioFrame:
        index = await self._clock.tick()
        samples = SILENCE_SAMPLES
        if self._tone_left:
            if self._burst_pending:
                self._burst_pending = False
                self.burst_started.append(asyncio.get_running_loop().time())
            samples = self._tone
            self._tone_left -= 1
        return pcm_frame(samples, index * FRAME_SAMPLES)


class PacketTrack(MediaStreamTrack):
    """Pre-encoded Opus packets at 20 ms pacing, looped from `offset`: nothing is encoded.

    `on_sent(payload, at)` is called as each packet goes out (loop time)."""

    kind = "audio"

    def __init__(
        self,
        payloads: list[bytes],
        on_sent: Callable[[bytes, float], None] | None = None,
        *,
        offset: int = 0,
    ) -> None:
        super().__init__()
        self._payloads = payloads
        self._on_sent = on_sent
        self._offset = offset
        self._clock = FrameClock()

    async def recv(self) -> av.Packet:
        index = await self._clock.tick()
        payload = self._payloads[(self._offset + index) % len(self._payloads)]
        if self._on_sent:
            self._on_sent(payload, asyncio.get_running_loop().time())
        return opus_packet(payload, index)
