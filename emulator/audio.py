"""Audio the emulator and its clients make: 48 kHz mono 16-bit PCM, and Opus in 20 ms packets.

One place for the sample format, so the client, the scenarios and the benchmarks agree on it.
None of this runs per packet on the emulator's event loop: scenarios encode once, at load.
"""

from __future__ import annotations

import fractions
import math
from array import array
from pathlib import Path

import av

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms, the SDKs' Opus packetisation
FRAME_BYTES = FRAME_SAMPLES * 2
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


def tone_pcm(frequency: float = 440.0, seconds: float = 1.0, amplitude: float = 0.5) -> bytes:
    """A sine tone."""
    step = 2 * math.pi * frequency / SAMPLE_RATE
    scale = amplitude * 32767
    count = int(seconds * SAMPLE_RATE)
    return array("h", (int(scale * math.sin(step * i)) for i in range(count))).tobytes()


def read_pcm(path: str | Path) -> bytes:
    """Any audio file PyAV reads, resampled. Raises OSError or av.FFmpegError."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks: list[bytes] = []
    with av.open(str(path)) as container:
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
