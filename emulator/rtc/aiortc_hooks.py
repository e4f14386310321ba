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

import asyncio
import functools
import logging
import struct
from collections.abc import Callable
from typing import Any

from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aioice.ice import Connection, StunProtocol
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSctpTransport
from aiortc.rtp import RtpPacket

log = logging.getLogger(__name__)

RtpCallback = Callable[[RtpPacket], None]

_HOOKED = "_handle_rtp_packet"

# Fail at import rather than silently queue decoded media forever if aiortc's layout changes.
if not callable(getattr(RTCRtpReceiver, _HOOKED, None)):  # pragma: no cover
    raise ImportError(
        f"aiortc.RTCRtpReceiver has no {_HOOKED}; emulator.rtc.aiortc_hooks needs review"
    )


def tap_receiver(receiver: RTCRtpReceiver, on_rtp: RtpCallback) -> None:
    """Hand every RTP packet of `receiver` to `on_rtp` instead of the jitter buffer/decoder.

    Must be called before the receiver starts (i.e. before setLocalDescription on an answer).
    Packets the receiver would refuse (unknown payload type) are still handed over: the callback
    sees what arrived on the wire.
    """

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        on_rtp(packet)

    setattr(receiver, _HOOKED, handle_rtp_packet)


# --- host candidates: a port range and a 1:1 NAT address (--rtc-ports, --advertised-ip) --------


class PortRange:
    """UDP ports the emulator's peers may bind, tried round-robin; the OS says which are free."""

    def __init__(self, low: int, high: int) -> None:
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"not a port range: {low}-{high}")
        self.low, self.high = low, high
        self._next = low

    @classmethod
    def parse(cls, spec: str) -> PortRange:
        low, sep, high = spec.partition("-")
        if not sep or not low.isdigit() or not high.isdigit():
            raise ValueError(f"expected LOW-HIGH, got {spec!r}")
        return cls(int(low), int(high))

    def ports(self) -> list[int]:
        """Every port once, starting after the last one handed out."""
        count = self.high - self.low + 1
        start = self._next - self.low
        self._next = self.low + (start + 1) % count
        return [self.low + (start + i) % count for i in range(count)]


class HostCandidates:
    """--rtc-ports and --advertised-ip, applied to each session's peer connection."""

    def __init__(self, ports: PortRange | None, advertised_ip: str | None) -> None:
        self.ports = ports
        self.advertised_ip = advertised_ip

    @classmethod
    def from_settings(
        cls, rtc_ports: str | None, advertised_ip: str | None
    ) -> HostCandidates | None:
        if not rtc_ports and not advertised_ip:
            return None
        return cls(PortRange.parse(rtc_ports) if rtc_ports else None, advertised_ip)

    def apply(self, pc: RTCPeerConnection) -> None:
        restrict_host_candidates(pc, self.ports, self.advertised_ip)


def restrict_host_candidates(
    pc: RTCPeerConnection, ports: PortRange | None, advertised_ip: str | None
) -> None:
    """Gather this peer's host candidates on `ports`, announcing them as `advertised_ip`.

    For a peer in a container: its UDP ports must lie in a range that can be published, and its
    candidates must carry the host's address (1:1 NAT), not the container's. aioice binds port 0
    and has no option for either, so each ICE connection of `pc` gets its host-candidate
    gathering shadowed on the instance. Only host candidates: the emulator's peers use no STUN or
    TURN server of their own when these options are set (settings refuse the combination).
    Call after setRemoteDescription (the transports exist) and before setLocalDescription.
    """
    gatherers = {t.receiver.transport.transport.iceGatherer for t in pc.getTransceivers()}
    if pc.sctp is not None:
        gatherers.add(pc.sctp.transport.transport.iceGatherer)
    for gatherer in gatherers:
        connection = gatherer._connection
        connection.get_component_candidates = functools.partial(  # type: ignore[method-assign]
            _gather_host_candidates, connection, ports, advertised_ip
        )


async def _gather_host_candidates(
    connection: Connection,
    ports: PortRange | None,
    advertised_ip: str | None,
    component: int,
    addresses: list[str],
    timeout: int = 5,
) -> list[Candidate]:
    """aioice's host-candidate gathering (aioice 0.13, Connection.get_component_candidates),
    with the port taken from `ports` and the candidate's address replaced by `advertised_ip`."""
    loop = asyncio.get_running_loop()
    candidates = []
    if advertised_ip:
        # One advertised IPv4 address stands for every IPv4 interface, so one socket bound to
        # all of them: behind a 1:1 NAT the traffic for it may arrive on any, e.g. on a
        # container's interface from published ports and on its loopback from a TURN server
        # sharing its network namespace (docker-compose.yml).
        addresses = ["0.0.0.0"]
    for address in addresses:
        bound = None
        for port in ports.ports() if ports else [0]:
            try:
                bound = await loop.create_datagram_endpoint(
                    lambda: StunProtocol(connection), local_addr=(address, port)
                )
                break
            except OSError:
                continue
        if bound is None:
            wanted = f"{ports.low}-{ports.high}" if ports else "any port"
            log.warning("no free UDP port (%s) on %s", wanted, address)
            continue
        protocol = bound[1]
        sockname = protocol.transport.get_extra_info("sockname")
        host = advertised_ip or sockname[0]
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=host,
            port=sockname[1],
            type="host",
        )
        connection._protocols.append(protocol)
        candidates.append(protocol.local_candidate)
    return candidates


def selected_candidate_pair(pc: RTCPeerConnection) -> dict[str, Any] | None:
    """The candidate pair ICE nominated, as JSON; None before it connects.

    aiortc exposes no getter for it: the pair sits in aioice's Connection (checked against
    aioice 0.13). Read once when the session connects, never per packet.
    """
    for transceiver in pc.getTransceivers():
        transport = transceiver.receiver.transport
        connection = getattr(getattr(transport, "transport", None), "_connection", None)
        pair = getattr(connection, "_nominated", {}).get(1) if connection is not None else None
        if pair is not None:
            return {
                "local": _candidate_json(pair.local_candidate),
                "remote": _candidate_json(pair.remote_candidate),
            }
    return None


def _candidate_json(candidate: Any) -> dict[str, Any]:
    return {
        "address": candidate.host,
        "port": candidate.port,
        "type": candidate.type,
        "protocol": candidate.transport.lower(),
    }


# --- data-channel messages a client cannot be allowed to crash on -------------------------------

_RECEIVE = "_data_channel_receive"
_WEBRTC_STRING = 51  # the SCTP payload protocol id of a text message (RFC 8831)

if not callable(getattr(RTCSctpTransport, _RECEIVE, None)):  # pragma: no cover
    raise ImportError(
        f"aiortc.RTCSctpTransport has no {_RECEIVE}; emulator.rtc.aiortc_hooks needs review"
    )


def guard_data_channels(sctp: RTCSctpTransport) -> None:
    """Keep one malformed message from ending the whole session.

    aiortc decodes a text message as strict UTF-8 and asserts on data-channel control messages,
    inside the DTLS transport's receive loop: one invalid byte from a client ends that loop, and
    the session with it. Here a text message is decoded with `surrogateescape` (the data channel's
    handler answers invalid UTF-8 with an `error` event), and a control message aiortc cannot
    parse is dropped.
    """
    receive = getattr(sctp, _RECEIVE)

    async def guarded(stream_id: int, pp_id: int, data: bytes) -> None:
        if pp_id == _WEBRTC_STRING:
            channel = sctp._data_channels.get(stream_id)
            if channel is not None:
                channel.emit("message", data.decode("utf-8", "surrogateescape"))
            return
        try:
            await receive(stream_id, pp_id, data)
        except (AssertionError, UnicodeDecodeError, struct.error) as exc:
            log.warning("dropped a malformed data-channel message: %s", type(exc).__name__)

    setattr(sctp, _RECEIVE, guarded)
