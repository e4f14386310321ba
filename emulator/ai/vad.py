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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiortc.rtp import RtpPacket

# Packets kept from before speech starts, so a reply does not clip the first syllable.
PRE_ROLL_PACKETS = 5
# Silence kept after the last voiced packet, so a reply does not clip the last one.
TAIL_PACKETS = 5
# The longest utterance kept (60 s of 20 ms packets); beyond it the turn ends by itself.
MAX_UTTERANCE_PACKETS = 3000
# The shortest silence that ends a turn, reached as an utterance nears its longest.
MIN_HANGOVER = 0.2
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


@dataclass(frozen=True)
class TurnPolicy:
    """When a user turn ends: after enough silence, and never later than `max_utterance`.

    The silence needed (the hangover) is `hangover` for the first half of `max_utterance`, then
    shrinks linearly to `min_hangover` as the utterance reaches `max_utterance`, where the turn
    ends whatever the input. Speech pauses long enough early on; synthetic input may never pause
    for `hangover`: Chromium's default fake microphone beeps every half second, Firefox's plays an
    endless tone, a looped recording has short gaps. A shrinking hangover ends such a turn at its
    next gap, the cap ends a tone's. `max_utterance` 0 turns both off (silence alone ends a turn).
    """

    hangover: float = 0.6
    max_utterance: float = 3.0
    min_hangover: float = MIN_HANGOVER

    def __post_init__(self) -> None:
        if not 0 < self.min_hangover <= self.hangover:
            raise ValueError("min_hangover must be > 0 and <= hangover")
        if self.max_utterance < 0:
            raise ValueError("max_utterance must be >= 0")

    def silence_needed(self, age: float) -> float:
        """The silence that ends a turn `age` seconds after it started."""
        if not self.max_utterance:
            return self.hangover
        shrink_from = self.max_utterance / 2
        if age <= shrink_from:
            return self.hangover
        progress = min(1.0, (age - shrink_from) / (self.max_utterance - shrink_from))
        return self.hangover - (self.hangover - self.min_hangover) * progress

    def too_long(self, age: float) -> bool:
        return bool(self.max_utterance) and age >= self.max_utterance


class TurnDetector:
    """Cuts the user's audio into turns by its TurnPolicy.

    The end is noticed by a timer, not by the next packet, so it also ends when the client stops
    sending (a muted mic sends nothing at all).
    """

    def __init__(
        self,
        policy: TurnPolicy,
        on_turn: Callable[[Utterance], None],
        vad: VoiceActivityDetector | None = None,
    ) -> None:
        self.policy = policy
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
        if len(utterance.packets) >= MAX_UTTERANCE_PACKETS or self.policy.too_long(
            self._loop.time() - utterance.started_at
        ):
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
        self._arm(now + self.policy.hangover)

    def _arm(self, when: float) -> None:
        self._timer = self._loop.call_at(when, self._check)

    def _check(self) -> None:
        # One timer per hangover period rather than one per packet: re-armed for what is left.
        # The silence needed only shrinks with age, so waiting for today's need is never late
        # by more than the shrink over that wait.
        self._timer = None
        if self.state is not TurnState.SPEAKING:
            return
        now = self._loop.time()
        age = now - self._utterance.started_at
        due = self._last_voiced_at + self.policy.silence_needed(age)
        if now >= due or self.policy.too_long(age):
            self._end_turn()
        elif self.policy.max_utterance:
            self._arm(min(due, self._utterance.started_at + self.policy.max_utterance))
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
