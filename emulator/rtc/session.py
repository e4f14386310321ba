"""One realtime session: the aiortc peer that answered a /calls, the echo AI behind it, and its
lifetime. Its parts each do one job:

- negotiation.py answers the offer;
- datachannel.py speaks on the `orga-realtime-client-events` channel;
- lifecycle.py has the states, the end reasons and the supervisor that ends it on time;
- faults.py holds what the control plane's WebRTC faults change in it;
- inspection.py is the view the control plane reads.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtp import RtpPacket

from emulator.ai import events
from emulator.ai.assistant import EchoAssistant, EchoMode
from emulator.ai.params import SessionParams
from emulator.ai.responder import EchoResponder, Responder, SentenceSource
from emulator.ai.vad import MIN_HANGOVER, TurnPolicy, VoiceActivityDetector
from emulator.config import Settings
from emulator.http.bodies import CallRequest
from emulator.identity.clock import Clock
from emulator.identity.ids import IdFactory
from emulator.rtc import negotiation
from emulator.rtc.aiortc_hooks import (
    HostCandidates,
    guard_data_channels,
    selected_candidate_pair,
    tap_receiver,
)
from emulator.rtc.datachannel import SessionChannel
from emulator.rtc.faults import SessionFaults
from emulator.rtc.inspection import RecordLog, SessionRecord, clip, json_size, summarize
from emulator.rtc.lifecycle import EndReason, Limits, SessionState, supervise
from emulator.rtc.media import AssistantAudioTrack, MediaCounters, VideoCounter

log = logging.getLogger(__name__)

# Parameter changes kept per session (the first is what /calls set): the newest 64, within
# 64 KiB of JSON (instructions are cut at LOG_TEXT characters in the history).
PARAMS_HISTORY_SIZE = 64
PARAMS_HISTORY_BYTES = 64 * 1024

# Told what sessions do: "session.started", "session.ended", "datachannel", "fault".
SessionObserver = Callable[[str, "RealtimeSession", dict[str, Any]], None]


def turn_policy(settings: Settings) -> TurnPolicy:
    hangover = settings.vad_hangover_ms / 1000
    return TurnPolicy(
        hangover=hangover,
        max_utterance=settings.max_utterance_ms / 1000,
        min_hangover=min(MIN_HANGOVER, hangover),
    )


class RealtimeSession:
    def __init__(
        self,
        conversation_id: str,
        call: CallRequest,
        claims: dict[str, Any],
        *,
        settings: Settings,
        ids: IdFactory,
        clock: Clock,
        sentences: SentenceSource,
        on_closed: Callable[[RealtimeSession], None],
        host_candidates: HostCandidates | None = None,
        observer: SessionObserver | None = None,
    ) -> None:
        self.conversation_id = conversation_id
        self.session_id = ids.session_id()
        self.params: SessionParams = call.params
        self.user_id: str | None = claims.get("sub")
        # Who opened it: the token's id, its user and the test it was minted under.
        self.token = {k: claims.get(k) for k in ("jti", "email", "test_id", "api_key_id")}
        self.offer_sdp = call.offer_sdp
        self.answer_sdp: str | None = None
        self.params_history = RecordLog(PARAMS_HISTORY_SIZE, PARAMS_HISTORY_BYTES)
        self.selected_pair: dict[str, Any] | None = None
        self.state = SessionState.NEW
        self.end_reason: EndReason | None = None
        self.started_at = clock.time()
        self.ended_at: float | None = None
        self.counters = MediaCounters()
        self.connected = asyncio.Event()
        self._settings = settings
        self._ids = ids
        self._clock = clock
        self._observer = observer
        self._host_candidates = host_candidates
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self._opened_at = self._loop.time()
        self._closed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._after_connected: list[tuple[float, Callable[[], None]]] = []
        self._timers: list[asyncio.TimerHandle] = []

        self.channel = SessionChannel(
            name=conversation_id,
            clock=clock,
            ids=ids,
            on_event=self._on_client_event,
            observe=self._observing("datachannel"),
        )
        self.faults = SessionFaults(clock, self._observing("fault"))
        # An explicit list, even empty: with none, aiortc would ask a public STUN server.
        self.ice_servers = [RTCIceServer(urls=url) for url in settings.ice_servers]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers))
        self.track = AssistantAudioTrack(self.counters)
        self.echo = EchoResponder(conversation_id, sentences, markup=settings.reply_markup)
        self.assistant = EchoAssistant(
            mode=EchoMode(settings.echo_mode),
            track=self.track,
            responder=self.echo,
            params=lambda: self.params,
            send=self.channel.send,
            ids=ids,
            turns=turn_policy(settings),
            vad=VoiceActivityDetector(settings.vad_threshold_dbov),
            hang_up=self.hang_up,
        )
        self.pc.on("connectionstatechange", self._on_connection_state)
        self.pc.on("datachannel", lambda channel: self.channel.attach(channel, self._greeting))
        self._record_params("calls")

    # --- negotiation ------------------------------------------------------------------------

    async def answer(self, offer_sdp: str, candidates: tuple[dict[str, Any], ...] = ()) -> str:
        """Answer the offer; ParamError("offer.sdp") if aiortc cannot."""
        offer, answer = await negotiation.receive_offer(self.pc, self.track, offer_sdp, candidates)
        if self.pc.sctp is not None:
            guard_data_channels(self.pc.sctp)
        video = VideoCounter(self.counters, negotiation.video_codecs(offer))
        taps = {
            "audio": self.faults.lossy(self._on_audio_rtp, "audio", self.counters),
            "video": self.faults.lossy(video.on_rtp, "video", self.counters),
        }
        for transceiver in self.pc.getTransceivers():
            # Before the answer starts the receivers: nothing may reach a decoder.
            if transceiver.kind in taps:
                tap_receiver(transceiver.receiver, taps[transceiver.kind])
        sdp = await negotiation.send_answer(self.pc, answer, self._host_candidates)
        self.answer_sdp = self.faults.rewrite_answer(sdp)
        self._set_state(SessionState.CONNECTING)
        limits = Limits(
            self._settings.ice_timeout,
            self._settings.max_session_duration,
            self._settings.peer_timeout,
        )
        self._supervisor = asyncio.ensure_future(supervise(self, limits, self._opened_at))
        log.info(
            "session started conversation_id=%s session_id=%s echo_mode=%s modalities=%s",
            self.conversation_id,
            self.session_id,
            self._settings.echo_mode,
            ",".join(self.params.modalities) or "-",
        )
        return self.answer_sdp

    def _on_audio_rtp(self, packet: RtpPacket) -> None:
        counters = self.counters
        counters.audio_in_packets += 1
        counters.audio_in_bytes += len(packet.payload)
        if self.assistant.hear(packet):
            counters.audio_in_voiced += 1

    # --- the conversation -------------------------------------------------------------------

    def _greeting(self) -> list[dict[str, Any]]:
        return [
            events.session_created(self._ids.event_id(), self.session_id, self.params),
            events.conversation_created(self._ids.event_id(), self.conversation_id),
        ]

    def _on_client_event(self, event: events.ClientEvent) -> None:
        if event.name == events.SESSION_UPDATE:
            self.params = self.params.updated(events.session_update_changes(event))
            self._record_params("session.update")
            self.channel.send(
                events.session_updated(self._ids.event_id(), self.session_id, self.params)
            )
        elif event.name == events.CONVERSATION_ITEM_CREATE:
            self.assistant.on_text(events.item_text(event))

    def _record_params(self, source: str) -> None:
        self.params_history.append(
            {"at": self._clock.time(), "source": source, "params": clip(self.params.to_json())}
        )

    def use_responder(self, script: Callable[[EchoResponder], Responder]) -> None:
        """Script the AI (scenarios) over the session's echo; call before answer()."""
        self.assistant.responder = script(self.echo)

    # --- what the control plane's faults and scenarios do -----------------------------------

    def after_connected(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` `delay` seconds after ICE and DTLS connect (unless closed first)."""
        if self.state is SessionState.CONNECTED:
            self._timers.append(self._loop.call_later(delay, action))
        else:
            self._after_connected.append((delay, action))

    def lose_packets(self, rate: float, rng: random.Random, direction: str = "both") -> None:
        """Drop this share of RTP packets: 'in' on arrival, 'out' before sending."""
        if direction in ("in", "both"):
            self.faults.lose_inbound(rate, rng)
        if direction in ("out", "both"):
            self.track.lose(rate, rng)

    def silence_media(self) -> None:
        """The AI's audio stops: no more RTP."""
        self.track.mute()

    def hang_up(self) -> None:
        self.end_soon(EndReason.SERVER_HANGUP)

    # --- lifecycle --------------------------------------------------------------------------

    def _set_state(self, state: SessionState) -> None:
        log.debug("session %s: %s -> %s", self.conversation_id, self.state.value, state.value)
        self.state = state

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and self.state is SessionState.CONNECTING:
            self._set_state(SessionState.CONNECTED)
            self.connected.set()
            self.selected_pair = selected_candidate_pair(self.pc)
            for delay, action in self._after_connected:
                self._timers.append(self._loop.call_later(delay, action))
            self._after_connected.clear()
        elif state == "failed":
            self.end_soon(EndReason.PEER_FAILED)
        elif state == "closed":
            self.end_soon(EndReason.PEER_CLOSED)

    def end_soon(self, reason: EndReason) -> None:
        """Close from a callback that cannot await."""
        if self.state is SessionState.CLOSED:
            return
        task = asyncio.ensure_future(self.close(reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def packets_received(self) -> int:
        """Everything received on the transport (RTP, RTCP, data), from public stats."""
        for transceiver in self.pc.getTransceivers():
            report = await transceiver.receiver.getStats()
            return sum(s.packetsReceived for s in report.values() if s.type == "transport")
        return 0

    async def close(self, reason: EndReason) -> None:
        """End the session (idempotent); returns once the peer connection is closed."""
        if self.state is SessionState.CLOSED:
            await self._closed.wait()
            return
        started = self.state is not SessionState.NEW
        self._set_state(SessionState.CLOSED)
        self.end_reason = reason
        self.ended_at = self._clock.time()
        self.channel.shut()
        self.assistant.close()
        for timer in self._timers:
            timer.cancel()
        if self._supervisor is not None and self._supervisor is not asyncio.current_task():
            self._supervisor.cancel()
        try:
            await negotiation.close_peer(self.pc)
        except Exception:
            log.exception("closing the peer of %s", self.conversation_id)
        finally:
            self.track.stop()
            self._closed.set()
            self._on_closed(self)
            if started:
                self._log_end()
                if self._observer is not None:
                    self._observer("session.ended", self, {"end_reason": reason.value})

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _log_end(self) -> None:
        log.info(
            "session ended conversation_id=%s reason=%s duration=%.1fs turns=%d %s "
            "dc_in=%d dc_out=%d",
            self.conversation_id,
            self.end_reason.value if self.end_reason else "-",
            self.duration,
            self.assistant.turns_taken,
            self.counters.summary(),
            self.channel.messages_in,
            self.channel.messages_out,
        )

    def _observing(self, kind: str) -> Callable[[dict[str, Any]], None] | None:
        observer = self._observer
        if observer is None:
            return None
        return lambda entry: observer(kind, self, entry)

    # --- inspection -------------------------------------------------------------------------

    @property
    def duration(self) -> float:
        return (self.ended_at or self._clock.time()) - self.started_at

    def record(self) -> SessionRecord:
        assert self.end_reason is not None
        description = self.describe()
        return SessionRecord(
            self.conversation_id,
            self.end_reason,
            self.duration,
            description,
            json_size(description),
        )

    def describe(self) -> dict[str, Any]:
        """The inspection view (GET /_emulator/sessions/{conversation_id})."""
        return {
            "conversation_id": self.conversation_id,
            "session_id": self.session_id,
            "state": self.state.value,
            "end_reason": self.end_reason.value if self.end_reason else None,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration": round(self.duration, 3),
            "echo_mode": self.assistant.mode.value,
            "responder": self.assistant.responder_name,
            "turns": self.assistant.turns_taken,
            "token": self.token,
            "params": self.params.to_json(),
            "params_history": self.params_history.entries(),
            "sdp": {"offer": self.offer_sdp, "answer": self.answer_sdp},
            "selected_candidate_pair": self.selected_pair,
            "counters": self.counters.to_json(),
            "tracks": self.counters.tracks(),
            "messages": {
                "in": self.channel.messages_in,
                "out": self.channel.messages_out,
                "refused": self.channel.refused,
                "dropped": self.channel.dropped,
                "backlog_peak": self.channel.backlog_peak,
            },
            "events": self.channel.log.entries(),
            # What the bounded logs let go, oldest first (control-plane.md, "Limits").
            "dropped": {
                "events": self.channel.log.dropped,
                "params_history": self.params_history.dropped,
            },
            "faults": list(self.faults.log),
        }

    def summary(self) -> dict[str, Any]:
        """summarize(describe()), from the few fields it reads: a replica's heartbeat lists
        every live session each second, and the whole description (SDPs, event log, counters)
        was most of its cost."""
        return summarize(
            {
                "conversation_id": self.conversation_id,
                "state": self.state.value,
                "end_reason": self.end_reason.value if self.end_reason else None,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
                "turns": self.assistant.turns_taken,
                "token": self.token,
                "faults": self.faults.log,
            }
        )
