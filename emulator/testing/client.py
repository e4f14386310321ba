"""A Python WebRTC client that does what Orga's SDKs do, for tests against the emulator.

It follows @orga-ai/node for the backend half (client-secrets, then ice-config: see
`emulator.testing.backend`) and @orga-ai/core for the browser half: an audio transceiver
`sendrecv` and a video transceiver `sendonly`, both without a track until one is attached with
replaceTrack (no renegotiation), the `orga-realtime-client-events` data channel, and a
non-trickle offer posted to /calls.

    async with OrgaClient(base_url, api_key) as client:
        conversation_id = await client.connect(voice="Victoria")
        await client.next_event("session.created")
        client.say(tone_pcm(440, seconds=1.0))

The steps of `connect()` are there one by one for tests of the edges (`mint_token`, `offer`,
`post_call`, `apply_answer`). What comes back on the audio transceiver is read off the wire,
packet by packet (`received_audio`), and decoded only when a test asks for levels or PCM.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Iterable
from typing import Any

import aiohttp
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtp import RtpPacket

from emulator.config import DEV_API_KEY
from emulator.rtc.aiortc_hooks import tap_receiver
from emulator.rtc.audio import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE, tone_pcm
from emulator.testing.backend import OrgaBackend, OrgaHTTPError, SessionConfig
from emulator.testing.received import ReceivedAudio
from emulator.testing.tracks import PacketTrack, PcmTrack, ToneBurstTrack, wav_pcm
from emulator.testing.waits import Changes

__all__ = [
    "DATA_CHANNEL_LABEL",
    "DEFAULT_PARAMS",
    "FRAME_BYTES",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "OrgaClient",
    "OrgaHTTPError",
    "PacketTrack",
    "PcmTrack",
    "ReceivedAudio",
    "SessionConfig",
    "ToneBurstTrack",
    "ice_server",
    "tone_pcm",
    "wav_pcm",
]

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
CALLS_TIMEOUT = 10.0  # the SDK gives up on /calls after 10 s


class OrgaClient:
    """One user of the emulator: the backend calls, then a WebRTC session like the SDK's.

    Hooks: `on_channel_open(client)` runs when the data channel opens, before the client's own
    handling (React Native sends its session.update there); `on_audio_packet(payload, arrived)`
    sees each packet of the AI's audio as it arrives (loop time).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str = DEV_API_KEY,
        email: str = "tester@example.com",
        *,
        http: aiohttp.ClientSession | None = None,
        on_channel_open: Callable[[OrgaClient], None] | None = None,
        on_audio_packet: Callable[[bytes, float], None] | None = None,
    ) -> None:
        self.backend = OrgaBackend(base_url, api_key, http=http)
        self.email = email
        self.on_channel_open = on_channel_open
        self.on_audio_packet = on_audio_packet
        self.config: SessionConfig | None = None
        self.pc: RTCPeerConnection | None = None
        self.audio: RTCRtpTransceiver | None = None
        self.video: RTCRtpTransceiver | None = None
        self.channel: RTCDataChannel | None = None
        self.conversation_id: str | None = None
        #: The client's own microphone: silent until `say()`; attached unless another is.
        self.mic = PcmTrack()
        self.microphone: MediaStreamTrack | None = self.mic
        self.camera: MediaStreamTrack | None = None
        self.tracks: list[MediaStreamTrack] = []  # what ontrack delivered
        self.events: list[dict[str, Any]] = []
        self._changes = Changes()
        self.received_audio = ReceivedAudio(changes=self._changes)
        self._offer: dict[str, Any] | None = None
        self._event_cursor: dict[str, int] = {}
        self._channel_open = asyncio.Event()

    # Backend half (what @orga-ai/node does) ---------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.backend.base_url

    @property
    def api_key(self) -> str:
        return self.backend.api_key

    @property
    def http(self) -> aiohttp.ClientSession:
        return self.backend.http

    async def mint_token(self, email: str | None = None) -> str:
        """An ephemeral token for `email` (this client's by default), not yet spent."""
        return await self.backend.mint_token(email or self.email)

    async def get_session_config(self) -> SessionConfig:
        self.config = await self.backend.session_config(self.email)
        return self.config

    # Browser half (what @orga-ai/core does) ---------------------------------------------------

    def prepare(
        self, ice_servers: list[dict[str, Any]] | None = None, *, relay_only: bool = False
    ) -> RTCPeerConnection:
        """The peer connection, made once: transceivers without tracks and the data channel.

        `ice_servers` defaults to those of `config`, or none (never a public STUN server)."""
        if self.pc is not None:
            return self.pc
        if ice_servers is None:
            ice_servers = self.config.ice_servers if self.config else []
        self.pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=[ice_server(s) for s in ice_servers],
                iceTransportPolicy=(
                    RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
                ),
            )
        )
        self.audio = self.pc.addTransceiver("audio", direction="sendrecv")
        self.video = self.pc.addTransceiver("video", direction="sendonly")
        self.channel = self.pc.createDataChannel(DATA_CHANNEL_LABEL)
        self.channel.on("open", self._on_open)
        self.channel.on("close", self._changes.notify)
        self.channel.on("message", self._on_message)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._changes.notify)
        # Packets are taken off the wire: nothing is decoded or queued behind a remote track.
        tap_receiver(self.audio.receiver, self._on_audio)
        return self.pc

    async def offer(self) -> dict[str, Any]:
        """The non-trickle offer as the SDK posts it (made once; aiortc's setLocalDescription
        waits for gathering), then the microphone and camera attached with replaceTrack."""
        if self._offer is None:
            pc = self.prepare()
            await pc.setLocalDescription(await pc.createOffer())
            sdp = pc.localDescription.sdp
            self._offer = {"sdp": sdp, "type": "offer", "candidates": list(_candidates(sdp))}
            self._attach()
        return {**self._offer, "candidates": list(self._offer["candidates"])}

    async def post_call(
        self, token: str, offer: dict[str, Any], params: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """POST /calls with `offer` and the SDK's default params updated by `params`:
        (status, body), whatever the status."""
        body = {"offer": offer, "params": {**DEFAULT_PARAMS, **(params or {})}}
        async with self.http.post(
            self.base_url + "/v1/realtime/calls",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=CALLS_TIMEOUT),
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    async def apply_answer(self, body: dict[str, Any]) -> str:
        """Apply a /calls answer; returns its conversation_id."""
        self.conversation_id = body["conversation_id"]
        await self.prepare().setRemoteDescription(RTCSessionDescription(**body["answer"]))
        return body["conversation_id"]

    async def connect(
        self,
        *,
        relay_only: bool = False,
        ice_servers: list[dict[str, Any]] | None = None,
        timeout: float = 10.0,
        **params: Any,
    ) -> str:
        """Session config (unless `config` is set), offer, /calls with `params`, answer; waits
        for the data channel to open and returns the conversation_id. OrgaHTTPError if /calls
        refuses (the offer is kept: connect again to retry)."""
        config = self.config or await self.get_session_config()
        self.prepare(
            config.ice_servers if ice_servers is None else ice_servers, relay_only=relay_only
        )
        status, body = await self.post_call(config.ephemeral_token, await self.offer(), params)
        if status >= 400:
            raise OrgaHTTPError(status, body)
        await self.apply_answer(body)
        await asyncio.wait_for(self._channel_open.wait(), timeout)
        return body["conversation_id"]

    # Media ------------------------------------------------------------------------------------

    def attach_microphone(self, track: MediaStreamTrack | None) -> None:
        """What the SDK does on enableMic (None: disableMic): replaceTrack, no renegotiation.
        Before the offer, the track waits and is attached right after it."""
        self.microphone = track
        self._attach()

    def attach_camera(self, track: MediaStreamTrack | None) -> None:
        self.camera = track
        self._attach()

    def say(self, pcm: bytes) -> None:
        """Speak into the client's mic: mono 16-bit PCM at 48 kHz (see tone_pcm, wav_pcm)."""
        if self.microphone is not self.mic:
            self.attach_microphone(self.mic)
        self.mic.play(pcm)

    def _attach(self) -> None:
        if self._offer is not None and self.audio is not None and self.video is not None:
            self.audio.sender.replaceTrack(self.microphone)
            self.video.sender.replaceTrack(self.camera)

    # Data channel -----------------------------------------------------------------------------

    def send(self, message: dict[str, Any] | str | bytes) -> None:
        if self.channel is None:
            raise RuntimeError("not connected: no data channel yet")
        self.channel.send(message if isinstance(message, str | bytes) else json.dumps(message))

    def update_session(self, **data: Any) -> None:
        """What the React SDK sends when the mic or camera is toggled or updateParams is called."""
        self.send({"event": "session.update", "data": data})

    def send_text(self, text: str) -> None:
        """The emulator's text input (an addition to Orga's protocol)."""
        self.send({"event": "conversation.item.create", "data": {"text": text}})

    def events_of(self, type_: str) -> list[dict[str, Any]]:
        """Every event of this type received so far, in order."""
        return [e for e in self.events if e.get("type") == type_]

    async def event(self, type_: str, index: int = 0, timeout: float = 10.0) -> dict[str, Any]:
        """The index-th event of this type (0: the first), waiting for it."""
        await self.until(lambda: len(self.events_of(type_)) > index, timeout, f"event {type_}")
        return self.events_of(type_)[index]

    async def next_event(self, type_: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """The next event of this type not yet returned by next_event (any type if None)."""
        key = type_ or "*"
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            start = self._event_cursor.get(key, 0)
            for index in range(start, len(self.events)):
                if type_ is None or self.events[index].get("type") == type_:
                    self._event_cursor[key] = index + 1
                    found.append(self.events[index])
                    return True
            self._event_cursor[key] = len(self.events)
            return False

        await self.until(arrived, timeout, f"the next event {key}")
        return found[0]

    # Waiting ----------------------------------------------------------------------------------

    async def until(
        self, condition: Callable[[], object], timeout: float = 10.0, what: str = "a condition"
    ) -> None:
        """Wait for `condition()`, re-checked whenever an event, a packet or a state change
        arrives; TimeoutError naming `what` after `timeout` seconds."""
        await self._changes.until(condition, timeout, what)

    async def wait_for_state(self, states: Collection[str], timeout: float = 10.0) -> str:
        """Wait for the peer connection to reach one of `states`; returns the state."""
        pc = self.prepare()
        await self.until(lambda: pc.connectionState in states, timeout, f"a state in {states}")
        return pc.connectionState

    async def connected(self, timeout: float = 10.0) -> None:
        await self.wait_for_state({"connected"}, timeout)

    def selected_candidate_pair(self) -> tuple[Any, Any] | None:
        """(local, remote) aioice candidates of the pair ICE nominated, if connected."""
        for transceiver in self.prepare().getTransceivers():
            ice = transceiver.sender.transport.transport
            pair = ice._connection._nominated.get(1)  # aiortc exposes no getter for it
            if pair is not None:
                return pair.local_candidate, pair.remote_candidate
        return None

    async def hangup(self) -> None:
        """Close the peer connection (and the HTTP session, if the client opened it)."""
        if self.pc is not None:
            await self.pc.close()
        await self.backend.close()

    async def __aenter__(self) -> OrgaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.hangup()

    # Internals --------------------------------------------------------------------------------

    def _on_open(self) -> None:
        if self.on_channel_open is not None:
            self.on_channel_open(self)
        self._channel_open.set()
        self._changes.notify()

    def _on_message(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except ValueError:
            event = {"type": "client.unparsable", "raw": repr(message)}
        self.events.append(event)
        self._changes.notify()

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.tracks.append(track)
        self._changes.notify()

    def _on_audio(self, packet: RtpPacket) -> None:
        arrived = asyncio.get_running_loop().time()
        self.received_audio.add(packet.payload, arrived)
        if self.on_audio_packet is not None:
            self.on_audio_packet(packet.payload, arrived)


def ice_server(server: dict[str, Any]) -> RTCIceServer:
    """An ice-config entry as aiortc's RTCIceServer."""
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
