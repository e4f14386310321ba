"""The echo AI: it hears the user's audio packets and answers with them, as Orga's AI would.

`turn` mode behaves like an assistant: at the end of each user turn it replays the utterance as
its reply. `live` mode loops each packet straight back. In both, every user turn produces the
text events (transcript if asked for, then the reply). The session's current `modalities` decide
whether the user's audio is taken in at all (CONTRACT: they say what the user sends).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from emulator.ai import events
from emulator.ai.params import SessionParams
from emulator.ai.responder import Reply, Responder, UserTurn
from emulator.ai.vad import TurnDetector, TurnPolicy, Utterance, VoiceActivityDetector
from emulator.identity.ids import IdFactory

if TYPE_CHECKING:
    from aiortc.rtp import RtpPacket


class EchoMode(enum.Enum):
    TURN = "turn"  # turn-taking: each user turn is answered when it ends
    LIVE = "live"


SendEvent = Callable[[dict[str, Any]], None]


class Voice(Protocol):
    """The AI's audio track (emulator.rtc.media.AssistantAudioTrack): Opus packets out."""

    def play(self, packets: Iterable[bytes], on_done: Callable[[], None] | None = None) -> None:
        """Queue a reply; `on_done` runs once its last packet is sent."""

    def forward(self, payload: bytes) -> None:
        """Send one packet now (live echo)."""


class EchoAssistant:
    def __init__(
        self,
        *,
        mode: EchoMode,
        track: Voice,
        responder: Responder,
        params: Callable[[], SessionParams],
        send: SendEvent,
        ids: IdFactory,
        turns: TurnPolicy,
        vad: VoiceActivityDetector,
        hang_up: Callable[[], None] | None = None,
    ) -> None:
        self.mode = mode
        self.turns_taken = 0
        self._track = track
        self.responder = responder
        self._hang_up = hang_up
        self._timers: set[asyncio.TimerHandle] = set()
        self._loop = asyncio.get_running_loop()
        self._params = params
        self._send = send
        self._ids = ids
        self._turns = TurnDetector(turns, self._on_utterance, vad)
        self._closed = False

    def hear(self, packet: RtpPacket) -> bool:
        """A packet of the user's audio, straight off the wire; returns whether it was voice."""
        payload = packet.payload
        if not payload or self._closed or not self._hears_user():
            return False
        voiced = self._turns.feed(packet)
        if self.mode is EchoMode.LIVE:
            self._track.forward(payload)
        return voiced

    def on_text(self, text: str) -> None:
        """Text input: answered at once, without a transcript."""
        self._reply(self._next_turn(text=text), from_speech=False)

    @property
    def responder_name(self) -> str:
        return getattr(self.responder, "name", type(self.responder).__name__)

    def close(self) -> None:
        self._closed = True
        self._turns.close()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _hears_user(self) -> bool:
        # `modalities` says what the user sends (the SDKs add "audio" when the mic goes on and
        # drop it when it goes off): a list without "audio" means the user's audio is not taken
        # in, so no turns come from it. The AI's own voice is not affected. An empty list reads
        # as "unspecified": @orga-ai/react 1.0.5 sends `modalities: []` from a stale closure on
        # the first mic toggle of its default flow, and its app must still be heard.
        modalities = self._params().modalities
        return not modalities or "audio" in modalities

    def _next_turn(self, **what: Any) -> UserTurn:
        self.turns_taken += 1
        return UserTurn(index=self.turns_taken, **what)

    def _on_utterance(self, utterance: Utterance) -> None:
        if not self._closed:
            self._reply(self._next_turn(utterance=utterance), from_speech=True)

    def _reply(self, turn: UserTurn, *, from_speech: bool) -> None:
        reply = self.responder.respond(turn)
        if reply.delay > 0:
            # A scripted pause before answering; cancelled if the session ends first.
            timer: asyncio.TimerHandle | None = None

            def later() -> None:
                self._timers.discard(timer)
                if not self._closed:
                    self._deliver(reply, from_speech=from_speech)

            timer = self._loop.call_later(reply.delay, later)
            self._timers.add(timer)
        else:
            self._deliver(reply, from_speech=from_speech)

    def _deliver(self, reply: Reply, *, from_speech: bool) -> None:
        if reply.error is not None:
            failure = events.EventError(reply.error.code, reply.error.message)
            self._send(events.error(self._ids.event_id(), failure))
            self._after(reply)
            return
        if from_speech and self._params().return_transcription:
            self._send(
                events.input_audio_transcription_completed(
                    self._ids.event_id(), self._ids.item_id(), reply.transcript
                )
            )
        # In live mode the user's audio already went back as it arrived.
        replayed = reply.replay_user_audio and self.mode is EchoMode.LIVE
        audio = () if replayed else reply.audio
        done = self._done_callback(reply, bool(audio))
        if audio:
            self._track.play(audio, on_done=done)
        else:
            done()

    def _done_callback(self, reply: Reply, audio: bool) -> Callable[[], None]:
        def done() -> None:
            if not self._closed:
                self._send(
                    events.response_output_item_done(
                        self._ids.event_id(),
                        self._ids.response_id(),
                        self._ids.item_id(),
                        reply.text,
                        audio=audio,
                    )
                )
            self._after(reply)

        return done

    def _after(self, reply: Reply) -> None:
        if reply.hang_up and self._hang_up is not None and not self._closed:
            self._hang_up()
