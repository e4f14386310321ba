"""What the control plane's WebRTC faults change in one session, and the session's log of them.

The control plane decides which faults apply (emulator/control/); this is the session's side:
answer rewrites, inbound packet loss, and the bounded record of what was applied.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

from aiortc.rtp import RtpPacket

from emulator.identity.clock import Clock
from emulator.rtc.media import MediaCounters

# Faults recorded per session.
FAULT_LOG_SIZE = 64

SdpRewrite = Callable[[str], str]
RtpHandler = Callable[[RtpPacket], None]


class SessionFaults:
    def __init__(self, clock: Clock, observe: Callable[[dict[str, Any]], None] | None) -> None:
        self.log: deque[dict[str, Any]] = deque(maxlen=FAULT_LOG_SIZE)
        # Applied to the answer before it is sent.
        self.sdp_rewrites: list[SdpRewrite] = []
        self._clock = clock
        self._observe = observe
        self._inbound_loss: tuple[float, random.Random] | None = None

    def record(self, fault: dict[str, Any]) -> None:
        entry = {"at": self._clock.time(), **fault}
        self.log.append(entry)
        if self._observe is not None:
            self._observe(entry)

    def rewrite_answer(self, sdp: str) -> str:
        for rewrite in self.sdp_rewrites:
            sdp = rewrite(sdp)
        return sdp

    def lose_inbound(self, rate: float, rng: random.Random) -> None:
        """Drop this share of received RTP packets (set before the answer taps the receivers)."""
        self._inbound_loss = (rate, rng)

    def lossy(self, on_rtp: RtpHandler, kind: str, counters: MediaCounters) -> RtpHandler:
        # Only a session with a packet-loss fault pays for the extra call per packet.
        if self._inbound_loss is None:
            return on_rtp
        rate, rng = self._inbound_loss
        lost = f"{kind}_in_lost"

        def maybe(packet: RtpPacket) -> None:
            if rng.random() < rate:
                setattr(counters, lost, getattr(counters, lost) + 1)
            else:
                on_rtp(packet)

        return maybe
