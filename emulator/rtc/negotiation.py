"""Answering an SDP offer with an aiortc peer: the AI's audio first, Opus only, the offer's
candidates (those the peer may contact: candidates.py), then the answer with our host candidates.

Whatever aiortc raises on the way, from the offer to setLocalDescription, is a ParamError on
`offer.sdp`: an offer it cannot answer is the client's error (400), never the emulator's (500).
"""

from __future__ import annotations

import logging
from contextlib import suppress
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
from emulator.rtc import candidates as ice
from emulator.rtc.aiortc_hooks import HostCandidates

log = logging.getLogger(__name__)


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
        await pc.setRemoteDescription(RTCSessionDescription(remote_sdp(offer_sdp), "offer"))
        await add_body_candidates(pc, offer, candidates)
        answer = await pc.createAnswer()
    except Exception as exc:  # aiortc raises assorted types for offers it cannot answer
        raise unanswerable(exc) from None
    return offer, answer


async def send_answer(
    pc: RTCPeerConnection, answer: RTCSessionDescription, host_candidates: HostCandidates | None
) -> str:
    """Gather and apply the answer (after the receivers are tapped); returns its SDP."""
    try:
        if host_candidates is not None:  # --rtc-ports / --advertised-ip
            host_candidates.apply(pc)
        # aiortc checks the answer against the offer only here: duplicate or missing mids, two
        # data sections, end here ("Media sections in answer do not match offer").
        await pc.setLocalDescription(answer)
    except Exception as exc:
        raise unanswerable(exc) from None
    return pc.localDescription.sdp


def unanswerable(exc: Exception) -> ParamError:
    reason = str(exc) or type(exc).__name__  # some of aiortc's checks are bare asserts
    return ParamError("offer.sdp", f"The offer cannot be answered: {reason}")


def remote_sdp(offer_sdp: str) -> str:
    """The offer as the peer is given it: without its mDNS candidates (candidates.for_peer)."""
    lines, changed = ice.for_peer(offer_sdp.splitlines())
    return "\r\n".join(lines) + "\r\n" if changed else offer_sdp


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
        if ice.is_mdns(line):
            continue  # never resolved: the client's checks make it peer-reflexive
        candidate = candidate_from_sdp(line.removeprefix("a=").removeprefix("candidate:"))
        candidate.sdpMid = mid
        candidate.sdpMLineIndex = index
        await pc.addIceCandidate(candidate)
        added += 1
    if added:
        await pc.addIceCandidate(None)  # the offer is non-trickle: that was all
    # With none added (mDNS only), ICE waits for the client's checks until --ice-timeout.


async def close_peer(pc: RTCPeerConnection) -> None:
    """Close `pc`, even one aiortc left half-negotiated.

    aiortc stops its transports last, after the senders, receivers and SCTP; on a peer whose
    offer it could not apply one of those may raise first (checked against aiortc 1.16), and
    the transports, with any sockets they gathered, would never be stopped. They are stopped
    here then, each on its own, and the log has one warning instead of a traceback.
    """
    try:
        await pc.close()
    except Exception as exc:
        log.warning("aiortc failed to close a peer (%s); stopping its transports", exc)
        transports = {t.receiver.transport for t in pc.getTransceivers()}
        if pc.sctp is not None:
            transports.add(pc.sctp.transport)
        for dtls in transports - {None}:
            with suppress(Exception):
                await dtls.stop()
            with suppress(Exception):
                await dtls.transport.stop()
