"""Answering an SDP offer with an aiortc peer: the AI's audio first, Opus only, the offer's
candidates, then the answer with our host candidates."""

from __future__ import annotations

from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import SessionDescription, candidate_from_sdp

from emulator.ai.params import ParamError
from emulator.rtc.aiortc_hooks import HostCandidates


def opus_only() -> list[RTCRtpCodecCapability]:
    # The AI speaks pre-encoded Opus, so Opus must be what the audio section negotiates, even
    # when an offer lists another codec first.
    codecs = RTCRtpSender.getCapabilities("audio").codecs
    return [c for c in codecs if c.mimeType.lower() == "audio/opus"]


def video_codecs(offer: SessionDescription) -> dict[int, str]:
    """Payload type -> MIME type of the offer's video codecs."""
    return {
        codec.payloadType: codec.mimeType
        for media in offer.media
        if media.kind == "video"
        for codec in media.rtp.codecs
        if codec.payloadType is not None
    }


async def receive_offer(
    pc: RTCPeerConnection,
    track: MediaStreamTrack,
    offer_sdp: str,
    candidates: tuple[dict[str, Any], ...] = (),
) -> tuple[SessionDescription, RTCSessionDescription]:
    """Apply the offer and create the answer; ParamError("offer.sdp") if aiortc cannot."""
    # The AI's track is there before the offer is applied, so the answer sends audio from the
    # start and the SDK's ontrack fires.
    audio: RTCRtpTransceiver = pc.addTransceiver(track, direction="sendrecv")
    audio.setCodecPreferences(opus_only())
    try:
        offer = SessionDescription.parse(offer_sdp)
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await add_body_candidates(pc, offer, candidates)
        answer = await pc.createAnswer()
    except Exception as exc:  # aiortc raises assorted types for offers it cannot answer
        raise ParamError("offer.sdp", f"The offer cannot be answered: {exc}") from None
    return offer, answer


async def send_answer(
    pc: RTCPeerConnection, answer: RTCSessionDescription, host_candidates: HostCandidates | None
) -> str:
    """Gather and apply the answer (after the receivers are tapped); returns its SDP."""
    if host_candidates is not None:  # --rtc-ports / --advertised-ip
        host_candidates.apply(pc)
    await pc.setLocalDescription(answer)
    return pc.localDescription.sdp


async def add_body_candidates(
    pc: RTCPeerConnection, offer: SessionDescription, candidates: tuple[dict[str, Any], ...]
) -> None:
    """The body's `candidates`, for sections whose SDP came without any.

    The SDK's offer carries its candidates in the SDP too; this covers a client whose gathering
    timed out before any candidate reached its SDP (no end-of-candidates there).
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
        await pc.addIceCandidate(candidate)
        added += 1
    if added:
        await pc.addIceCandidate(None)  # the offer is non-trickle: that was all
