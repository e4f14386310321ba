"""The one place that reaches into aiortc's internals, per instance, never globally.

Checked against aiortc 1.16.0. aiortc has no public hook for a received RTP packet: a receiver
depayloads it, runs it through a jitter buffer and decodes it in a thread, and the decoded frames
wait in the remote track's queue until someone reads them. The echo AI wants neither the delay
nor the cost (and an unread queue grows forever), so each receiver of a session gets its
`_handle_rtp_packet` shadowed on the instance: the packet, already decrypted and parsed (header
extensions included), goes to a callback and stops there. Nothing is decoded, nothing queues.

Sending needs no patch: aiortc's RTCRtpSender accepts `av.Packet`s from a track's recv() and only
packetizes them (no encoding, no per-sample audio-level computation).
"""

from __future__ import annotations

from collections.abc import Callable

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

RtpCallback = Callable[[RtpPacket], None]

_HOOKED = "_handle_rtp_packet"

# Fail at import rather than silently queue decoded media forever if aiortc's layout changes.
if not callable(getattr(RTCRtpReceiver, _HOOKED, None)):  # pragma: no cover
    raise ImportError(f"aiortc.RTCRtpReceiver has no {_HOOKED}; emulator.aiortc_hooks needs review")


def tap_receiver(receiver: RTCRtpReceiver, on_rtp: RtpCallback) -> None:
    """Hand every RTP packet of `receiver` to `on_rtp` instead of the jitter buffer/decoder.

    Must be called before the receiver starts (i.e. before setLocalDescription on an answer).
    Packets the receiver would refuse (unknown payload type) are still handed over: the callback
    sees what arrived on the wire.
    """

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        on_rtp(packet)

    setattr(receiver, _HOOKED, handle_rtp_packet)
