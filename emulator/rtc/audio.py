"""Audio the emulator and its clients make: 48 kHz mono 16-bit PCM, and Opus in 20 ms packets.

One place for the sample format, so the client, the scenarios and the benchmarks agree on it.
None of this runs per packet on the emulator's event loop: scenarios encode once, at load.
"""

from __future__ import annotations

import asyncio
import fractions
import math
from array import array
from pathlib import Path
from typing import BinaryIO

import av

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms, the SDKs' Opus packetisation
FRAME_BYTES = FRAME_SAMPLES * 2
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class FrameClock:
    """Real-time pacing of 20 ms frames, as a microphone delivers them, for a track's recv()."""

    def __init__(self) -> None:
        self._start: float | None = None
        self._next = 0

    async def tick(self) -> int:
        """Wait until the next frame is due; return its index (0, 1, 2, ...)."""
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        delay = self._start + self._next * FRAME_SECONDS - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        index, self._next = self._next, self._next + 1
        return index


def tone_pcm(frequency: float = 440.0, seconds: float = 1.0, amplitude: float = 0.5) -> bytes:
    """A sine tone."""
    step = 2 * math.pi * frequency / SAMPLE_RATE
    scale = amplitude * 32767
    count = int(seconds * SAMPLE_RATE)
    return array("h", (int(scale * math.sin(step * i)) for i in range(count))).tobytes()


def read_pcm(source: str | Path | BinaryIO) -> bytes:
    """Any audio PyAV reads (a path, or a file object), resampled. Raises OSError or
    av.FFmpegError."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks: list[bytes] = []
    with av.open(
        source if not isinstance(source, str | Path) else str(source), mode="r"
    ) as container:
        for frame in container.decode(audio=0):
            chunks.extend(_samples(out) for out in resampler.resample(frame))
        chunks.extend(_samples(out) for out in resampler.resample(None))
    return b"".join(chunks)


def _samples(frame: av.AudioFrame) -> bytes:
    return bytes(frame.planes[0])[: frame.samples * 2]  # planes may carry padding


def pcm_frame(chunk: bytes, pts: int) -> av.AudioFrame:
    """One 20 ms frame of `chunk` (padded with silence), stamped at sample `pts`."""
    frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
    frame.planes[0].update(chunk + bytes(FRAME_BYTES - len(chunk)))
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = TIME_BASE
    return frame


def opus_packet(payload: bytes, index: int) -> av.Packet:
    """An encoded 20 ms packet for aiortc's sender (which only packetizes it), frame `index`."""
    packet = av.Packet(payload)
    packet.pts = index * FRAME_SAMPLES
    packet.time_base = TIME_BASE
    return packet


def encode_opus(pcm: bytes, bit_rate: int = 48_000) -> tuple[bytes, ...]:
    """PCM to Opus packets of 20 ms each, with PyAV's libopus."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = SAMPLE_RATE
    codec.layout = "mono"
    codec.format = "s16"
    codec.bit_rate = bit_rate
    codec.time_base = TIME_BASE
    packets: list[bytes] = []
    for offset in range(0, len(pcm), FRAME_BYTES):
        frame = pcm_frame(pcm[offset : offset + FRAME_BYTES], offset // 2)
        packets.extend(bytes(p) for p in codec.encode(frame))
    packets.extend(bytes(p) for p in codec.encode(None))
    return tuple(packets)
