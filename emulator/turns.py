"""Voice activity and user turns, from RTP packets alone.

Chrome, Firefox, Safari and aiortc put an RFC 6464 audio level on every audio packet
(urn:ietf:params:rtp-hdrext:ssrc-audio-level, negotiated by the answer), which says "voice" or
"not" without decoding anything. A sender without it falls back to the packet size: Opus
encodes silence in a few bytes and speech in tens to hundreds.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc.rtp import RtpPacket

# Packets kept from before speech starts, so a reply does not clip the first syllable.
PRE_ROLL_PACKETS = 5
# Silence kept after the last voiced packet, so a reply does not clip the last one.
TAIL_PACKETS = 5
# The longest utterance kept (60 s of 20 ms packets); beyond it the turn ends by itself.
MAX_UTTERANCE_PACKETS = 3000
# Without an audio-level extension: an Opus packet longer than this is taken for voice.
MIN_VOICED_PAYLOAD = 10


class VoiceActivityDetector:
    """Voice or not, per packet."""

    def __init__(self, threshold_dbov: int = -50) -> None:
        # The extension carries the level as 0..127, meaning -dBov (0 loudest, 127 silence).
        self.max_level = -threshold_dbov

    def is_voiced(self, packet: RtpPacket) -> bool:
        level = packet.extensions.audio_level
        if level is not None:
            return level[1] <= self.max_level
        return len(packet.payload) > MIN_VOICED_PAYLOAD


@dataclass
class Utterance:
    """One user turn: its Opus payloads as received (silences between words included)."""

    packets: list[bytes] = field(default_factory=list)
    voiced: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at


class TurnState(enum.Enum):
    LISTENING = "listening"
    SPEAKING = "speaking"


class TurnDetector:
    """Cuts the user's audio into turns: a turn ends after `hangover` seconds without voice.

    The end is noticed by a timer, not by the next packet, so it also ends when the client stops
    sending (a muted mic sends nothing at all).
    """

    def __init__(
        self,
        hangover: float,
        on_turn: Callable[[Utterance], None],
        vad: VoiceActivityDetector | None = None,
    ) -> None:
        self.hangover = hangover
        self.state = TurnState.LISTENING
        self._on_turn = on_turn
        self._vad = vad or VoiceActivityDetector()
        self._loop = asyncio.get_running_loop()
        self._pre_roll: deque[bytes] = deque(maxlen=PRE_ROLL_PACKETS)
        self._utterance = Utterance()
        self._last_voiced_at = 0.0
        self._last_voiced_index = 0
        self._timer: asyncio.TimerHandle | None = None

    def feed(self, packet: RtpPacket) -> bool:
        """Take one received audio packet; returns whether it was voiced."""
        voiced = self._vad.is_voiced(packet)
        payload = packet.payload
        if self.state is TurnState.LISTENING:
            if not voiced:
                self._pre_roll.append(payload)
                return False
            self._start_turn()
        utterance = self._utterance
        utterance.packets.append(payload)
        if voiced:
            utterance.voiced += 1
            self._last_voiced_at = self._loop.time()
            self._last_voiced_index = len(utterance.packets)
        if len(utterance.packets) >= MAX_UTTERANCE_PACKETS:
            self._end_turn()
        return voiced

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _start_turn(self) -> None:
        now = self._loop.time()
        self.state = TurnState.SPEAKING
        self._utterance = Utterance(packets=list(self._pre_roll), started_at=now)
        self._pre_roll.clear()
        self._last_voiced_at = now
        self._arm(now + self.hangover)

    def _arm(self, when: float) -> None:
        self._timer = self._loop.call_at(when, self._check)

    def _check(self) -> None:
        # One timer per hangover period rather than one per packet: re-armed for what is left.
        self._timer = None
        if self.state is not TurnState.SPEAKING:
            return
        due = self._last_voiced_at + self.hangover
        if self._loop.time() >= due:
            self._end_turn()
        else:
            self._arm(due)

    def _end_turn(self) -> None:
        self.close()
        utterance = self._utterance
        del utterance.packets[self._last_voiced_index + TAIL_PACKETS :]
        utterance.ended_at = self._loop.time()
        self.state = TurnState.LISTENING
        self._utterance = Utterance()
        self._last_voiced_index = 0
        self._on_turn(utterance)
