"""The live sessions, keyed by conversation_id, and a bounded list of recently ended ones."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.ai.responder import SentenceSource
from emulator.config import Settings
from emulator.http.bodies import CallRequest
from emulator.identity.clock import Clock
from emulator.identity.ids import IdFactory
from emulator.rtc.inspection import SessionRecord
from emulator.rtc.lifecycle import EndReason
from emulator.rtc.loader import RtcLoader
from emulator.state.store import SharedState, StateUnavailable

if TYPE_CHECKING:
    from emulator.rtc.aiortc_hooks import HostCandidates
    from emulator.rtc.session import RealtimeSession, SessionObserver

log = logging.getLogger(__name__)

# Ended sessions kept for inspection.
ENDED_SESSIONS = 100
# How long close_all() gives the peers, within the CLI's 2 s shutdown.
CLOSE_ALL_TIMEOUT = 1.5


class AtCapacity(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} sessions already")
        self.limit = limit


class TokenSpent(Exception):
    """The token opened a session already (or is opening one right now)."""


class SessionRegistry:
    """The live sessions, keyed by conversation_id."""

    def __init__(self, settings: Settings, ids: IdFactory, clock: Clock) -> None:
        self.limit = settings.max_sessions
        self.sessions: dict[str, RealtimeSession] = {}
        self.ended: deque[SessionRecord] = deque(maxlen=ENDED_SESSIONS)
        self._settings = settings
        self._ids = ids
        self._clock = clock
        self._sentences = SentenceSource()
        self._host_candidates: HostCandidates | None = None
        self.loader = RtcLoader()
        # The control plane's seams: called with each new session before it answers (scenario,
        # faults), and told what sessions do (its journal and live feed).
        # A hook may return an awaitable (with shared state: fault counters kept in Redis).
        self.on_open: list[Callable[[RealtimeSession], Awaitable[None] | None]] = []
        self.observer: SessionObserver | None = None

    def __len__(self) -> int:
        return len(self.sessions)

    @property
    def full(self) -> bool:
        # Sessions still being answered are in `sessions` already (see open()).
        return len(self.sessions) >= self.limit

    async def start_call(
        self, call: CallRequest, claims: dict[str, Any], state: SharedState
    ) -> RealtimeSession:
        """One session per token: the claim is one atomic operation of the shared state (in
        memory it does not even yield, so the capacity check and the claim stay atomic on this
        loop). A call that fails to open, or finds the slots taken meanwhile, gives its token
        back."""
        if self.full:
            raise AtCapacity(self.limit)
        if not await state.claim(claims["jti"], claims["exp"]):
            raise TokenSpent()
        if self.full:  # filled while a shared claim was awaited
            await state.release(claims["jti"])
            raise AtCapacity(self.limit)
        try:
            return await self.open(call, claims)
        except BaseException:
            try:
                await state.release(claims["jti"])
            except StateUnavailable:
                log.warning("token %s stays claimed: the shared state is away", claims["jti"])
            raise

    async def open(self, call: CallRequest, claims: dict[str, Any]) -> RealtimeSession:
        """Answer the offer. The slot is taken before the first await, so capacity holds."""
        # Loaded by now: /calls awaits loader.ready() before it checks the offer.
        from emulator.rtc.session import RealtimeSession

        settings = self._settings
        if self._host_candidates is None and (settings.rtc_ports or settings.advertised_ip):
            from emulator.rtc.aiortc_hooks import HostCandidates

            self._host_candidates = HostCandidates.from_settings(
                settings.rtc_ports, settings.advertised_ip
            )
        session = RealtimeSession(
            self._ids.conversation_id(),
            call,
            claims,
            settings=self._settings,
            ids=self._ids,
            clock=self._clock,
            sentences=self._sentences,
            on_closed=self._forget,
            host_candidates=self._host_candidates,
            observer=self.observer,
        )
        self.sessions[session.conversation_id] = session
        try:
            for prepare in self.on_open:
                pending = prepare(session)
                if pending is not None:
                    await pending
            await session.answer(call.offer_sdp, call.candidates)
        except BaseException:
            await session.close(EndReason.ANSWER_FAILED)
            raise
        if self.observer is not None:
            self.observer("session.started", session, {})
        return session

    def _forget(self, session: RealtimeSession) -> None:
        if self.sessions.get(session.conversation_id) is session:
            del self.sessions[session.conversation_id]
        if session.end_reason not in (None, EndReason.ANSWER_FAILED):
            self.ended.append(session.record())

    def get(self, conversation_id: str) -> RealtimeSession | None:
        return self.sessions.get(conversation_id)

    async def close_all(self, reason: EndReason = EndReason.SHUTDOWN) -> None:
        sessions = list(self.sessions.values())
        if not sessions:
            return
        closing = asyncio.gather(*(s.close(reason) for s in sessions), return_exceptions=True)
        try:
            async with asyncio.timeout(CLOSE_ALL_TIMEOUT):
                await closing
        except TimeoutError:
            log.warning("%d sessions did not close within %.1fs", len(sessions), CLOSE_ALL_TIMEOUT)
        self.sessions.clear()


SESSIONS = web.AppKey("sessions", SessionRegistry)
