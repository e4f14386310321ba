"""A client peer that connects the way @orga-ai/react does, for the calls tests and the bench.

It is a real aiortc peer: audio `sendrecv` and video `sendonly` transceivers that start with no
track (`replaceTrack(null)`, attached later without renegotiation), a data channel labelled
`orga-realtime-client-events`, a non-trickle offer, and the /calls body the SDK sends. What comes
back on the audio transceiver is read off the wire (no decoding), like the server does.
"""

from __future__ import annotations

import array
import asyncio
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtp import RtpPacket

from emulator.config import DEV_API_KEY
from emulator.rtc import audio
from emulator.rtc.aiortc_hooks import tap_receiver
from emulator.rtc.media import OPUS_SILENCE
from emulator.rtc.registry import SESSIONS
from emulator.testing.client import DEFAULT_PARAMS

CHANNEL = "orga-realtime-client-events"
EMAIL = "caller@example.com"
SAMPLE_RATE = audio.SAMPLE_RATE
FRAME_SAMPLES = audio.FRAME_SAMPLES
# What an echoed packet looks like: longer than any silence frame (ours or aiortc's).
MIN_SPEECH_PAYLOAD = 10


def registry(emulator: Any) -> Any:
    """The SessionRegistry of an emulator served by pytest-aiohttp's client."""
    return emulator.app[SESSIONS]


def tone_samples(freq: float = 440.0, amplitude: int = 8000) -> bytes:
    return array.array(
        "h",
        (
            int(amplitude * math.sin(2 * math.pi * freq * i / SAMPLE_RATE))
            for i in range(FRAME_SAMPLES)
        ),
    ).tobytes()


SILENCE_SAMPLES = bytes(2 * FRAME_SAMPLES)


class ToneBurstTrack(MediaStreamTrack):
    """A microphone: 20 ms s16 frames, silent except during bursts of a tone.

    Being AudioFrames, they are encoded by aiortc, which adds the RFC 6464 audio level to each
    packet, as Chrome does. `burst()` schedules a burst; `burst_started` records when its first
    frame went out.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._tone = tone_samples()
        self._clock = audio.FrameClock()
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
        return audio.pcm_frame(samples, index * FRAME_SAMPLES)


class PacketTrack(MediaStreamTrack):
    """A microphone of pre-encoded Opus packets, paced at 20 ms: nothing is encoded."""

    kind = "audio"

    def __init__(self, payloads: list[bytes], on_sent: Callable[[bytes, float], None] | None):
        super().__init__()
        self._payloads = payloads
        self._on_sent = on_sent
        self._clock = audio.FrameClock()

    async def recv(self) -> av.Packet:
        index = await self._clock.tick()
        payload = self._payloads[index % len(self._payloads)]
        if self._on_sent:
            self._on_sent(payload, asyncio.get_running_loop().time())
        return audio.opus_packet(payload, index)


def encode_opus(frames: list[bytes]) -> list[bytes]:
    """Encode 20 ms s16 mono frames with libopus once, for PacketTrack."""
    return list(audio.encode_opus(b"".join(frames), bit_rate=32_000))[: len(frames)]


@dataclass
class ReceivedAudio:
    """The AI's audio as it arrived: (arrival time, payload)."""

    packets: list[tuple[float, bytes]] = field(default_factory=list)

    def speech(self) -> list[tuple[float, bytes]]:
        return [(t, p) for t, p in self.packets if len(p) > MIN_SPEECH_PAYLOAD]

    def silence(self) -> int:
        return sum(1 for _, p in self.packets if p == OPUS_SILENCE)


class OrgaClient:
    """One SDK-like client session against an emulator reached through `http` (aiohttp)."""

    def __init__(self, http: Any, *, base_url: str = "") -> None:
        self.http = http
        self.base_url = base_url
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.audio = self.pc.addTransceiver("audio", direction="sendrecv")
        self.video = self.pc.addTransceiver("video", direction="sendonly")
        self.channel = self.pc.createDataChannel(CHANNEL)
        self.received = ReceivedAudio()
        self.tracks: list[MediaStreamTrack] = []
        self.events: list[dict[str, Any]] = []
        self.conversation_id: str | None = None
        self.offer_sent_at = 0.0
        self._changed = asyncio.Condition()
        self._loop = asyncio.get_running_loop()
        self.channel.on("message", self._on_message)
        self.pc.on("track", self.tracks.append)
        self.pc.on("connectionstatechange", self._notify)
        tap_receiver(self.audio.receiver, self._on_audio)

    # --- signalling -------------------------------------------------------------------------

    async def mint_token(self, email: str = EMAIL) -> str:
        resp = await self.http.post(
            self.base_url + "/v1/realtime/client-secrets",
            params={"email": email},
            headers={"Authorization": f"Bearer {DEV_API_KEY}"},
        )
        assert resp.status == 200, await resp.text()
        return (await resp.json())["ephemeral_token"]

    async def offer(self) -> dict[str, Any]:
        """The non-trickle offer (aiortc's setLocalDescription waits for gathering)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = self.pc.localDescription.sdp
        candidates = [
            {"candidate": line[2:], "sdpMid": "0", "sdpMLineIndex": 0}
            for line in sdp.splitlines()
            if line.startswith("a=candidate:")
        ]
        return {"sdp": sdp, "type": "offer", "candidates": candidates}

    async def post_call(
        self, token: str, offer: dict[str, Any], params: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        body = {
            "offer": offer,
            "params": {**DEFAULT_PARAMS, **(params or {})},
        }
        self.offer_sent_at = time.perf_counter()
        resp = await self.http.post(
            self.base_url + "/v1/realtime/calls",
            data=json.dumps(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        return resp.status, await resp.json()

    async def connect(
        self, params: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """Mint a token, post the offer, apply the answer; returns the /calls body."""
        token = token or await self.mint_token()
        status, body = await self.post_call(token, await self.offer(), params)
        assert status == 200, body
        self.conversation_id = body["conversation_id"]
        await self.pc.setRemoteDescription(RTCSessionDescription(**body["answer"]))
        return body

    # --- media ------------------------------------------------------------------------------

    def attach_microphone(self, track: MediaStreamTrack) -> None:
        """What the SDK does on enableMic: replaceTrack, no renegotiation."""
        self.audio.sender.replaceTrack(track)

    def attach_camera(self, track: MediaStreamTrack) -> None:
        self.video.sender.replaceTrack(track)

    def _on_audio(self, packet: RtpPacket) -> None:
        self.received.packets.append((self._loop.time(), packet.payload))
        if len(packet.payload) > MIN_SPEECH_PAYLOAD:
            self._notify()

    # --- data channel -----------------------------------------------------------------------

    def send(self, message: dict[str, Any] | str | bytes) -> None:
        self.channel.send(message if isinstance(message, str | bytes) else json.dumps(message))

    def _on_message(self, message: str) -> None:
        event = json.loads(message)
        event["_received_at"] = time.perf_counter()
        self.events.append(event)
        self._notify()

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == type_]

    async def event(self, type_: str, index: int = 0, timeout: float = 10) -> dict[str, Any]:
        """The index-th event of this type, waiting for it."""
        await self.until(lambda: len(self.of_type(type_)) > index, timeout, f"event {type_}")
        return self.of_type(type_)[index]

    # --- waiting ----------------------------------------------------------------------------

    def _notify(self, *_: Any) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        self._loop.create_task(notify())

    async def until(self, condition: Callable[[], bool], timeout: float, what: str = "") -> None:
        """Wait for `condition`, re-checked whenever something arrives; fail after `timeout`."""
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    while not condition():
                        try:
                            async with asyncio.timeout(0.5):
                                await self._changed.wait()
                        except TimeoutError:
                            pass  # re-check conditions that nothing notifies (e.g. counters)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None

    async def connected(self, timeout: float = 10) -> None:
        await self.until(lambda: self.pc.connectionState == "connected", timeout, "connected")

    async def close(self) -> None:
        await self.pc.close()
