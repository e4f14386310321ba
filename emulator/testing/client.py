"""A Python WebRTC client that does what Orga's SDKs do, for tests against the emulator.

It follows @orga-ai/node for the backend half (client-secrets, then ice-config) and
@orga-ai/core for the browser half: an audio transceiver `sendrecv` and a video transceiver
`sendonly`, both without a track until one is attached with replaceTrack, the
`orga-realtime-client-events` data channel, and a non-trickle offer posted to /calls.
"""

from __future__ import annotations

import array
import asyncio
import json
import math
import wave
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from emulator.rtc.audio import (  # noqa: F401  (tone_pcm: re-exported for tests that say things)
    FRAME_BYTES,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    FrameClock,
    pcm_frame,
    read_pcm,
    tone_pcm,
)

DATA_CHANNEL_LABEL = "orga-realtime-client-events"
# What @orga-ai/core 1.1.1 sends when the app sets nothing.
DEFAULT_PARAMS = {
    "voice": "Sofía",
    "model": "orga-1-beta",
    "temperature": 0.5,
    "return_transcription": False,
    "instructions": None,
    "modalities": ["audio", "video"],
    "history": True,
}


class OrgaHTTPError(Exception):
    """A non-2xx answer from the emulator, with its status and JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class SessionConfig:
    ephemeral_token: str
    ice_servers: list[dict[str, Any]]


# --- audio sources ------------------------------------------------------------------------------


class PcmTrack(MediaStreamTrack):
    """Plays mono 16-bit PCM at 48 kHz in paced 20 ms frames, then silence, like a live mic."""

    kind = "audio"

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

    #: Loop time at which the first frame of the latest play() went out.
    said_at: float | None = None
    _announce = False

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


def wav_pcm(path: str | Path) -> bytes:
    """Any audio file PyAV reads, as mono 16-bit PCM at 48 kHz (what `say()` takes)."""
    return read_pcm(path)


def _rms(samples: array.array) -> float:
    """RMS level of 16-bit samples, 0..1."""
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples))) / 32768


# --- the client ---------------------------------------------------------------------------------


@dataclass
class ReceivedAudio:
    """The AI's audio as it arrived: mono 16-bit PCM, and when each 20 ms frame came."""

    max_seconds: float = 120.0
    pcm: bytearray = field(default_factory=bytearray)
    arrivals: list[float] = field(default_factory=list)
    frames: int = 0

    levels: list[float] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, frame: av.AudioFrame, arrived: float) -> None:
        self.frames += 1
        self._arrived.set()
        if len(self.pcm) >= self.max_seconds * SAMPLE_RATE * 2:
            return  # keep consuming the track, stop keeping its samples
        channels = len(frame.layout.channels)
        samples = array.array("h", bytes(frame.planes[0])[: frame.samples * 2 * channels])
        if channels == 2:
            samples = samples[::2]
        if frame.sample_rate != SAMPLE_RATE:
            raise ValueError(f"unexpected sample rate {frame.sample_rate}")
        self.pcm.extend(samples.tobytes())
        self.arrivals.append(arrived)
        self.levels.append(_rms(samples))

    async def wait_for_loud(
        self, after: float = 0.0, threshold: float = 0.05, timeout: float = 10.0
    ) -> float:
        """Arrival time of the first frame louder than `threshold` that arrived after `after`."""

        async def scan() -> float:
            start = 0
            while True:
                for index in range(start, len(self.levels)):
                    if self.arrivals[index] > after and self.levels[index] >= threshold:
                        return self.arrivals[index]
                start = len(self.levels)
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(scan(), timeout)

    def save_wav(self, path: str | Path) -> None:
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(bytes(self.pcm))


class OrgaClient:
    """One user of the emulator: the backend calls, then a WebRTC session like the SDK's."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        email: str = "tester@example.com",
        *,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.email = email
        self._http = http
        self._own_http = http is None
        self.config: SessionConfig | None = None
        self.pc: RTCPeerConnection | None = None
        self.channel = None
        self.conversation_id: str | None = None
        self.mic = PcmTrack()
        self.received_audio = ReceivedAudio()
        self.events: list[dict[str, Any]] = []
        self._event_cursor: dict[str, int] = {}
        self._event_added = asyncio.Event()
        self._channel_open = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()

    # Backend half (what @orga-ai/node does) ---------------------------------------------------

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, self.base_url + path, **kwargs) as resp:
            body = await resp.json(content_type=None)
            if resp.status >= 400:
                raise OrgaHTTPError(resp.status, body)
            return body

    async def get_session_config(self) -> SessionConfig:
        secret = await self._json(
            "POST",
            "/v1/realtime/client-secrets",
            params={"email": self.email},
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        token = secret["ephemeral_token"]
        ice = await self._json(
            "GET", "/v1/realtime/ice-config", headers={"Authorization": f"Bearer {token}"}
        )
        self.config = SessionConfig(token, ice["iceServers"])
        return self.config

    # Browser half (what @orga-ai/core does) ---------------------------------------------------

    async def connect(
        self,
        *,
        relay_only: bool = False,
        ice_servers: list[dict[str, Any]] | None = None,
        timeout: float = 10.0,
        **params: Any,
    ) -> str:
        """Offer, post it to /calls, apply the answer; return the conversation_id.

        The mic (`self.mic`, silent until you `say()` something) is attached with replaceTrack
        after the offer is made, as the SDK does. Waits for the data channel to open.
        """
        config = self.config or await self.get_session_config()
        servers = config.ice_servers if ice_servers is None else ice_servers
        self.pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=[_ice_server(s) for s in servers],  # an empty list: no public STUN
                iceTransportPolicy=(
                    RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
                ),
            )
        )
        audio = self.pc.addTransceiver("audio", direction="sendrecv")
        self.pc.addTransceiver("video", direction="sendonly")
        self.channel = self.pc.createDataChannel(DATA_CHANNEL_LABEL)
        self.channel.on("open", self._channel_open.set)
        self.channel.on("message", self._on_message)
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers: non-trickle
        audio.sender.replaceTrack(self.mic)
        sdp = self.pc.localDescription.sdp
        body = {
            "offer": {"sdp": sdp, "type": "offer", "candidates": list(_candidates(sdp))},
            "params": {**DEFAULT_PARAMS, **params},
        }
        answer = await self._json(
            "POST",
            "/v1/realtime/calls",
            json=body,
            headers={"Authorization": f"Bearer {config.ephemeral_token}"},
            timeout=aiohttp.ClientTimeout(total=10),  # the SDK gives up after 10 s
        )
        self.conversation_id = answer["conversation_id"]
        await self.pc.setRemoteDescription(RTCSessionDescription(**answer["answer"]))
        await asyncio.wait_for(self._channel_open.wait(), timeout)
        return self.conversation_id

    def say(self, pcm: bytes) -> None:
        """Speak into the mic: mono 16-bit PCM at 48 kHz (see tone_pcm, wav_pcm)."""
        self.mic.play(pcm)

    def send(self, message: dict[str, Any] | str) -> None:
        self.channel.send(message if isinstance(message, str) else json.dumps(message))

    def update_session(self, **data: Any) -> None:
        """What the React SDK sends when the mic or camera is toggled or updateParams is called."""
        self.send({"event": "session.update", "data": data})

    def send_text(self, text: str) -> None:
        """The emulator's text input (an addition to Orga's protocol)."""
        self.send({"event": "conversation.item.create", "data": {"text": text}})

    async def next_event(self, type_: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """The next event of this type not yet returned by next_event (any type if None)."""
        key = type_ or "*"

        async def find() -> dict[str, Any]:
            while True:
                start = self._event_cursor.get(key, 0)
                for index in range(start, len(self.events)):
                    event = self.events[index]
                    if type_ is None or event.get("type") == type_:
                        self._event_cursor[key] = index + 1
                        return event
                self._event_cursor[key] = len(self.events)
                self._event_added.clear()
                await self._event_added.wait()

        return await asyncio.wait_for(find(), timeout)

    def selected_candidate_pair(self) -> tuple[Any, Any] | None:
        """(local, remote) aioice candidates of the pair ICE nominated, if connected."""
        for transceiver in self.pc.getTransceivers():
            ice = transceiver.sender.transport.transport
            pair = ice._connection._nominated.get(1)  # aiortc exposes no getter for it
            if pair is not None:
                return pair.local_candidate, pair.remote_candidate
        return None

    async def hangup(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> OrgaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.hangup()

    # Internals --------------------------------------------------------------------------------

    def _on_message(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except ValueError:
            event = {"type": "client.unparsable", "raw": repr(message)}
        self.events.append(event)
        self._event_added.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        # Every received track is consumed, or aiortc would queue its frames forever.
        task = asyncio.ensure_future(self._consume(track))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume(self, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if track.kind == "audio":
                self.received_audio.add(frame, loop.time())


def _ice_server(server: dict[str, Any]) -> RTCIceServer:
    return RTCIceServer(
        urls=server["urls"], username=server.get("username"), credential=server.get("credential")
    )


def _candidates(sdp: str) -> Iterable[dict[str, Any]]:
    """The SDK repeats the gathered candidates beside the SDP."""
    mid, index = None, -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[6:]
        elif line.startswith("a=candidate:"):
            yield {"candidate": line[2:], "sdpMid": mid, "sdpMLineIndex": index}
