"""The AI's audio as the client received it: RTP payloads off the wire, decoded on demand.

Every packet is kept with its arrival time (loop time) as it arrives; nothing is decoded until a
test asks for levels or PCM, so a client that only counts packets (a load test) stays cheap. The
emulator sends one 20 ms Opus frame per packet, so packet i is frame i: `arrivals[i]`,
`levels[i]`, and 20 ms of `pcm` from sample 960 * i (within `max_seconds`).
"""

from __future__ import annotations

import array
import math
import wave
from collections.abc import Callable
from pathlib import Path

import av

from emulator.rtc.audio import SAMPLE_RATE
from emulator.rtc.media import OPUS_SILENCE
from emulator.testing.waits import Changes

# What an echoed packet looks like: longer than any silence frame (the emulator's or aiortc's).
MIN_SPEECH_PAYLOAD = 10


def _rms(samples: array.array) -> float:
    """RMS level of 16-bit samples, 0..1."""
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples))) / 32768


class ReceivedAudio:
    """What came back on the audio transceiver: `packets` as (arrival, payload), decoded lazily."""

    def __init__(self, max_seconds: float = 120.0, changes: Changes | None = None) -> None:
        self.max_seconds = max_seconds
        self.packets: list[tuple[float, bytes]] = []
        self.arrivals: list[float] = []
        self._changes = changes or Changes()
        self._pcm = bytearray()
        self._levels: list[float] = []
        self._decoder: av.AudioCodecContext | None = None

    def add(self, payload: bytes, arrived: float) -> None:
        """One packet off the wire (the client's RTP tap calls this)."""
        self.packets.append((arrived, payload))
        self.arrivals.append(arrived)
        self._changes.notify()

    @property
    def frames(self) -> int:
        return len(self.packets)

    # --- without decoding --------------------------------------------------------------------

    def speech(self) -> list[tuple[float, bytes]]:
        """The packets that carry sound (longer than any silence frame)."""
        return [(t, p) for t, p in self.packets if len(p) > MIN_SPEECH_PAYLOAD]

    def silence(self) -> int:
        """How many packets were the emulator's Opus silence frame."""
        return sum(1 for _, p in self.packets if p == OPUS_SILENCE)

    # --- decoded -----------------------------------------------------------------------------

    @property
    def levels(self) -> list[float]:
        """RMS level (0..1) of each packet, decoded."""
        self._decode()
        return self._levels

    @property
    def pcm(self) -> bytes:
        """Mono 16-bit PCM at 48 kHz, the first `max_seconds` of it."""
        self._decode()
        return bytes(self._pcm)

    def _decode(self) -> None:
        if self._decoder is None:
            self._decoder = av.CodecContext.create("libopus", "r")
            self._decoder.sample_rate = SAMPLE_RATE
            self._decoder.layout = "mono"
        keep = self.max_seconds * SAMPLE_RATE * 2
        for _, payload in self.packets[len(self._levels) :]:
            samples = array.array("h")
            for frame in self._decoder.decode(av.Packet(payload)):
                samples.frombytes(bytes(frame.planes[0])[: frame.samples * 2])
            self._levels.append(_rms(samples))
            if len(self._pcm) < keep:
                self._pcm.extend(samples.tobytes())

    async def until(
        self, condition: Callable[[], object], timeout: float, what: str = "audio"
    ) -> None:
        """Wait until `condition()` holds, re-checked as packets arrive (TimeoutError after)."""
        await self._changes.until(condition, timeout, what)

    async def wait_for_loud(
        self, after: float = 0.0, threshold: float = 0.05, timeout: float = 10.0
    ) -> float:
        """Arrival time of the first packet louder than `threshold` that arrived after `after`."""
        found: list[float] = []
        checked = 0

        def loud() -> bool:
            nonlocal checked
            levels = self.levels
            for index in range(checked, len(levels)):
                if self.arrivals[index] > after and levels[index] >= threshold:
                    found.append(self.arrivals[index])
                    return True
            checked = len(levels)
            return False

        await self._changes.until(loud, timeout, f"audio louder than {threshold}")
        return found[0]

    def save_wav(self, path: str | Path) -> None:
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(self.pcm)
