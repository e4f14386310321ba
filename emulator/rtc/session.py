"""Realtime sessions: one aiortc peer per /calls, its echo AI, its data channel, its lifetime.

A session goes new -> connecting (answer sent) -> connected (ICE and DTLS up) -> closed, and
records why it closed. The registry holds the live ones, keyed by conversation_id, and a
bounded list of recently ended ones for inspection.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.rtp import RtpPacket
from aiortc.sdp import SessionDescription, candidate_from_sdp

from emulator.ai import events
from emulator.ai.assistant import EchoAssistant, EchoMode
from emulator.ai.params import ParamError, SessionParams
from emulator.ai.responder import EchoResponder, Responder, SentenceSource
from emulator.ai.vad import MIN_HANGOVER, TurnPolicy, VoiceActivityDetector
from emulator.config import Settings
from emulator.http.bodies import CallRequest
from emulator.identity.ids import IdFactory
from emulator.rtc.aiortc_hooks import HostCandidates, selected_candidate_pair, tap_receiver
from emulator.rtc.media import AssistantAudioTrack, MediaCounters, VideoCounter

log = logging.getLogger(__name__)

# Data-channel messages kept per session, both ways, for inspection.
EVENT_LOG_SIZE = 256
# A logged message longer than this is cut: the log is for reading, not for replay.
EVENT_LOG_TEXT = 2048
# Server events waiting for the data channel to open.
PENDING_EVENTS = 64
# Parameter changes kept per session (the first is what /calls set).
PARAMS_HISTORY_SIZE = 64
# Faults recorded per session.
FAULT_LOG_SIZE = 64

SessionObserver = Callable[[str, "RealtimeSession", dict[str, Any]], None]
SdpRewrite = Callable[[str], str]


def turn_policy(settings: Settings) -> TurnPolicy:
    hangover = settings.vad_hangover_ms / 1000
    return TurnPolicy(
        hangover=hangover,
        max_utterance=settings.max_utterance_ms / 1000,
        min_hangover=min(MIN_HANGOVER, hangover),
    )


class SessionState(enum.Enum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


class EndReason(enum.Enum):
    PEER_CLOSED = "peer_closed"  # the client closed its peer connection
    PEER_FAILED = "peer_failed"  # ICE or DTLS failed, e.g. consent lost
    PEER_GONE = "peer_gone"  # nothing received for peer_timeout seconds
    ICE_TIMEOUT = "ice_timeout"  # never connected within ice_timeout of the answer
    MAX_DURATION = "max_duration"
    SHUTDOWN = "shutdown"
    RESET = "reset"  # POST /_emulator/reset
    SERVER_HANGUP = "server_hangup"  # a fault or a scenario hung up
    ANSWER_FAILED = "answer_failed"  # the offer could not be answered


def _opus_only() -> list[RTCRtpCodecCapability]:
    # The AI speaks pre-encoded Opus, so Opus must be what the audio section negotiates, even
    # when an offer lists another codec first.
    codecs = RTCRtpSender.getCapabilities("audio").codecs
    return [c for c in codecs if c.mimeType.lower() == "audio/opus"]


def _video_codecs(offer: SessionDescription) -> dict[int, str]:
    return {
        codec.payloadType: codec.mimeType
        for media in offer.media
        if media.kind == "video"
        for codec in media.rtp.codecs
    }


@dataclass(frozen=True)
class SessionRecord:
    """What the registry keeps of an ended session: its description, none of its media objects."""

    conversation_id: str
    end_reason: EndReason
    duration: float
    description: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        return self.description

    def summary(self) -> dict[str, Any]:
        d = self.description
        keys = ("conversation_id", "state", "end_reason", "started_at", "ended_at", "turns")
        return {
            **{k: d.get(k) for k in keys},
            "email": d["token"].get("email"),
            "test_id": d["token"].get("test_id"),
            "faults": len(d["faults"]),
        }


class RealtimeSession:
    """One conversation: the peer connection, the echo AI and the data-channel protocol."""

    def __init__(
        self,
        conversation_id: str,
        call: CallRequest,
        claims: dict[str, Any],
        *,
        settings: Settings,
        ids: IdFactory,
        sentences: SentenceSource,
        on_closed: Callable[[RealtimeSession], None],
        host_candidates: HostCandidates | None = None,
        observer: SessionObserver | None = None,
    ) -> None:
        self.conversation_id = conversation_id
        self._observer = observer
        self._host_candidates = host_candidates
        self.session_id = ids.session_id()
        self.params: SessionParams = call.params
        self.user_id: str | None = claims.get("sub")
        # Who opened it: the token's id, its user and the test it was minted under.
        self.token = {k: claims.get(k) for k in ("jti", "email", "test_id", "api_key_id")}
        self.offer_sdp = call.offer_sdp
        self.params_history: deque[dict[str, Any]] = deque(maxlen=PARAMS_HISTORY_SIZE)
        self.selected_pair: dict[str, Any] | None = None
        self.faults: deque[dict[str, Any]] = deque(maxlen=FAULT_LOG_SIZE)
        # Applied to the answer before it is sent (the control plane's WebRTC faults).
        self.sdp_rewrites: list[SdpRewrite] = []
        self._after_connected: list[tuple[float, Callable[[], None]]] = []
        self._timers: list[asyncio.TimerHandle] = []
        self._inbound_loss: tuple[float, random.Random] | None = None
        self._close_channel_on_open = False
        self.state = SessionState.NEW
        self.end_reason: EndReason | None = None
        self.started_at = time.time()
        self.ended_at: float | None = None
        self.counters = MediaCounters()
        self.event_log: deque[dict[str, Any]] = deque(maxlen=EVENT_LOG_SIZE)
        self.messages_in = 0
        self.messages_out = 0
        self.answer_sdp: str | None = None
        self._call = call
        self._settings = settings
        self._ids = ids
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self._opened_at = self._loop.time()
        self._channel: RTCDataChannel | None = None
        self._pending: deque[dict[str, Any]] = deque(maxlen=PENDING_EVENTS)
        self._connected = asyncio.Event()
        self._closed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None

        self.ice_servers = [RTCIceServer(urls=url) for url in settings.ice_servers]
        # An explicit list, even empty: with none, aiortc would ask a public STUN server.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers))
        self.track = AssistantAudioTrack(self.counters)
        self.assistant = EchoAssistant(
            mode=EchoMode(settings.echo_mode),
            track=self.track,
            responder=EchoResponder(conversation_id, sentences, markup=settings.reply_markup),
            counters=self.counters,
            params=lambda: self.params,
            send=self.send_event,
            ids=ids,
            turns=turn_policy(settings),
            vad=VoiceActivityDetector(settings.vad_threshold_dbov),
            hang_up=self.hang_up,
        )
        self.pc.on("connectionstatechange", self._on_connection_state)
        self.pc.on("datachannel", self._on_datachannel)
        self._record_params("calls")

    # --- negotiation ------------------------------------------------------------------------

    async def answer(self, offer_sdp: str, candidates: tuple[dict[str, Any], ...] = ()) -> str:
        """Answer the offer; ParamError("offer.sdp") if aiortc cannot."""
        # The AI's track is there before the offer is applied, so the answer sends audio from
        # the start and the SDK's ontrack fires.
        audio: RTCRtpTransceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
        audio.setCodecPreferences(_opus_only())
        try:
            offer = SessionDescription.parse(offer_sdp)
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            await self._add_candidates(offer, candidates)
            answer = await self.pc.createAnswer()
        except Exception as exc:  # aiortc raises assorted types for offers it cannot answer
            raise ParamError("offer.sdp", f"The offer cannot be answered: {exc}") from None
        video = VideoCounter(self.counters, _video_codecs(offer))
        for transceiver in self.pc.getTransceivers():
            # Before setLocalDescription starts the receivers: nothing may reach a decoder.
            if transceiver.kind == "audio":
                tap_receiver(
                    transceiver.receiver, self._lossy(self.assistant.on_audio_rtp, "audio")
                )
            elif transceiver.kind == "video":
                tap_receiver(transceiver.receiver, self._lossy(video.on_rtp, "video"))
        if self._host_candidates is not None:  # --rtc-ports / --advertised-ip
            self._host_candidates.apply(self.pc)
        await self.pc.setLocalDescription(answer)
        sdp = self.pc.localDescription.sdp
        for rewrite in self.sdp_rewrites:
            sdp = rewrite(sdp)
        self.answer_sdp = sdp
        self._set_state(SessionState.CONNECTING)
        self._supervisor = asyncio.ensure_future(self._supervise())
        log.info(
            "session started conversation_id=%s session_id=%s echo_mode=%s modalities=%s",
            self.conversation_id,
            self.session_id,
            self._settings.echo_mode,
            ",".join(self.params.modalities) or "-",
        )
        return self.answer_sdp

    async def _add_candidates(
        self, offer: SessionDescription, candidates: tuple[dict[str, Any], ...]
    ) -> None:
        """The body's `candidates`, for sections whose SDP came without any.

        The SDK's offer carries its candidates in the SDP too; this covers a client whose
        gathering timed out before any candidate reached its SDP (no end-of-candidates there).
        """
        bare = [
            (str(i), m.rtp.muxId)
            for i, m in enumerate(offer.media)
            if not m.ice_candidates and not m.ice_candidates_complete
        ]
        wanted = {key for pair in bare for key in pair if key}
        added = 0
        for entry in candidates:
            line = entry.get("candidate")
            mid, index = entry.get("sdpMid"), entry.get("sdpMLineIndex")
            if not isinstance(line, str) or not line or {str(mid), str(index)}.isdisjoint(wanted):
                continue
            candidate = candidate_from_sdp(line.removeprefix("a=").removeprefix("candidate:"))
            candidate.sdpMid = mid
            candidate.sdpMLineIndex = index
            await self.pc.addIceCandidate(candidate)
            added += 1
        if added:
            await self.pc.addIceCandidate(None)  # the offer is non-trickle: that was all

    # --- data channel -----------------------------------------------------------------------

    def send_event(self, event: dict[str, Any]) -> None:
        """Send a server event (built by emulator.ai.events), or hold it until the channel opens."""
        channel = self._channel
        if channel is None or channel.readyState != "open":
            if self.state is not SessionState.CLOSED:
                self._pending.append(event)
            return
        self._log_event("out", event)
        channel.send(events.encode(event))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != events.CHANNEL_LABEL or self._channel is not None:
            return  # not ours to speak on; its messages are ignored
        self._channel = channel
        channel.on("message", self._on_message)
        self.send_event(events.session_created(self._ids.event_id(), self.session_id, self.params))
        self.send_event(events.conversation_created(self._ids.event_id(), self.conversation_id))
        while self._pending:
            self.send_event(self._pending.popleft())
        if self._close_channel_on_open:
            channel.close()

    def _on_message(self, message: str | bytes) -> None:
        try:
            event = events.parse_client_event(message)
            if len(message) <= EVENT_LOG_TEXT:
                self._log_event("in", {"event": event.name, "data": event.data})
            else:
                self._log_event("in", {"event": event.name, "raw": _preview(message)})
            if event.name == events.SESSION_UPDATE:
                self.params = self.params.updated(events.session_update_changes(event))
                self._record_params("session.update")
                self.send_event(
                    events.session_updated(self._ids.event_id(), self.session_id, self.params)
                )
            elif event.name == events.CONVERSATION_ITEM_CREATE:
                self.assistant.on_text(events.item_text(event))
        except events.EventError as exc:
            if exc.code in (events.INVALID_JSON, events.MESSAGE_TOO_LARGE, events.INVALID_EVENT):
                self._log_event("in", {"raw": _preview(message)})
            self.send_event(events.error(self._ids.event_id(), exc))
        except Exception:
            # A bug of ours must not tear down aiortc's SCTP loop, which called us.
            log.exception("handling a data-channel message of %s", self.conversation_id)
            self.send_event(events.error(self._ids.event_id(), events.internal_error()))

    def _log_event(self, direction: str, event: dict[str, Any]) -> None:
        if direction == "in":
            self.messages_in += 1
        else:
            self.messages_out += 1
        entry = {"at": time.time(), "direction": direction, "event": event}
        self.event_log.append(entry)
        if self._observer is not None:
            self._observer("datachannel", self, entry)

    def _record_params(self, source: str) -> None:
        self.params_history.append(
            {"at": time.time(), "source": source, "params": self.params.to_json()}
        )

    # --- control (scenarios and faults) -----------------------------------------------------

    def use_responder(self, responder: Responder) -> None:
        """Script the AI (scenarios); call before answer()."""
        self.assistant.responder = responder

    def after_connected(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` `delay` seconds after ICE and DTLS connect (unless closed first)."""
        if self.state is SessionState.CONNECTED:
            self._timers.append(self._loop.call_later(delay, action))
        else:
            self._after_connected.append((delay, action))

    def record_fault(self, fault: dict[str, Any]) -> None:
        entry = {"at": time.time(), **fault}
        self.faults.append(entry)
        if self._observer is not None:
            self._observer("fault", self, entry)

    def lose_packets(self, rate: float, rng: random.Random, direction: str = "both") -> None:
        """Drop this share of RTP packets (a fault): 'in' on arrival, 'out' before sending."""
        if direction in ("in", "both"):
            self._inbound_loss = (rate, rng)
        if direction in ("out", "both"):
            self.track.lose(rate, rng)

    def _lossy(self, on_rtp: Callable[[RtpPacket], None], kind: str) -> Callable[[RtpPacket], None]:
        # Only a session with a packet-loss fault pays for the extra call per packet.
        if self._inbound_loss is None:
            return on_rtp
        rate, rng = self._inbound_loss
        counters = self.counters
        lost = f"{kind}_in_lost"

        def maybe(packet: RtpPacket) -> None:
            if rng.random() < rate:
                setattr(counters, lost, getattr(counters, lost) + 1)
            else:
                on_rtp(packet)

        return maybe

    def close_channel(self) -> None:
        """Close the data channel from the server's side, leaving the media up."""
        if self._channel is not None:
            self._channel.close()
        else:
            self._close_channel_on_open = True  # the fault came before the channel did

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
            self._connected.set()
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

    async def _supervise(self) -> None:
        """Ends the session on ICE timeout, on max duration, and when the peer goes quiet."""
        settings = self._settings
        deadline = self._opened_at + settings.max_session_duration
        try:
            connect_within = min(settings.ice_timeout, settings.max_session_duration)
            try:
                async with asyncio.timeout(connect_within):
                    await self._connected.wait()
            except TimeoutError:
                reason = (
                    EndReason.ICE_TIMEOUT
                    if settings.ice_timeout <= settings.max_session_duration
                    else EndReason.MAX_DURATION
                )
                await self.close(reason)
                return
            interval = max(0.1, min(1.0, settings.peer_timeout / 4))
            heard, heard_at = -1, self._loop.time()
            while True:
                now = self._loop.time()
                await asyncio.sleep(max(0.0, min(interval, deadline - now)))
                now = self._loop.time()
                if now >= deadline:
                    await self.close(EndReason.MAX_DURATION)
                    return
                received = await self._packets_received()
                if received != heard:
                    heard, heard_at = received, now
                elif now - heard_at >= settings.peer_timeout:
                    await self.close(EndReason.PEER_GONE)
                    return
        except asyncio.CancelledError:
            pass

    async def _packets_received(self) -> int:
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
        self.ended_at = time.time()
        self.assistant.close()
        for timer in self._timers:
            timer.cancel()
        if self._supervisor is not None and self._supervisor is not asyncio.current_task():
            self._supervisor.cancel()
        try:
            await self.pc.close()
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

    def _log_end(self) -> None:
        log.info(
            "session ended conversation_id=%s reason=%s duration=%.1fs turns=%d %s "
            "dc_in=%d dc_out=%d",
            self.conversation_id,
            self.end_reason.value if self.end_reason else "-",
            self.duration,
            self.assistant.turns_taken,
            self.counters.summary(),
            self.messages_in,
            self.messages_out,
        )

    async def wait_closed(self) -> None:
        await self._closed.wait()

    @property
    def duration(self) -> float:
        return (self.ended_at or time.time()) - self.started_at

    def record(self) -> SessionRecord:
        assert self.end_reason is not None
        return SessionRecord(self.conversation_id, self.end_reason, self.duration, self.describe())

    def describe(self) -> dict[str, Any]:
        """What an inspection API would show."""
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
            "params_history": list(self.params_history),
            "sdp": {"offer": self.offer_sdp, "answer": self.answer_sdp},
            "selected_candidate_pair": self.selected_pair,
            "counters": self.counters.to_json(),
            "tracks": self.counters.tracks(),
            "messages": {"in": self.messages_in, "out": self.messages_out},
            "events": list(self.event_log),
            "faults": list(self.faults),
        }

    def summary(self) -> dict[str, Any]:
        """One line of a session list: no SDP, no event log."""
        return {
            "conversation_id": self.conversation_id,
            "state": self.state.value,
            "end_reason": self.end_reason.value if self.end_reason else None,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "email": self.token.get("email"),
            "test_id": self.token.get("test_id"),
            "turns": self.assistant.turns_taken,
            "faults": len(self.faults),
        }


def _preview(message: str | bytes) -> str:
    if isinstance(message, bytes):
        return f"<{len(message)} bytes of binary>"
    return message if len(message) <= EVENT_LOG_TEXT else message[:EVENT_LOG_TEXT] + "…"
