"""The live realtime sessions, keyed by conversation_id."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from emulator.call_request import CallRequest
from emulator.clock import Clock
from emulator.ids import IdFactory
from emulator.settings import Settings

log = logging.getLogger(__name__)


class RealtimeSession:
    def __init__(self, conversation_id: str, call: CallRequest, claims: dict[str, Any]) -> None:
        self.conversation_id = conversation_id
        self.params = call.params
        self.claims = claims
        # An explicit empty list: with none, aiortc would ask a public STUN server.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.answer_sdp: str | None = None

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.answer_sdp = self.pc.localDescription.sdp
        return self.answer_sdp

    async def close(self) -> None:
        await self.pc.close()


class SessionRegistry:
    def __init__(self, settings: Settings, ids: IdFactory, clock: Clock) -> None:
        self.limit = settings.max_sessions
        self._ids = ids
        self._clock = clock
        self.sessions: dict[str, RealtimeSession] = {}

    def __len__(self) -> int:
        return len(self.sessions)

    @property
    def full(self) -> bool:
        return len(self.sessions) >= self.limit

    async def open(self, call: CallRequest, claims: dict[str, Any]) -> RealtimeSession:
        """Answer the offer. The slot is taken before the first await, so capacity holds."""
        session = RealtimeSession(self._ids.conversation_id(), call, claims)
        self.sessions[session.conversation_id] = session
        try:
            await session.answer(call.offer_sdp)
        except BaseException:
            self.sessions.pop(session.conversation_id, None)
            await session.close()
            raise
        return session

    async def close_all(self) -> None:
        sessions = list(self.sessions.values())
        self.sessions.clear()
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
