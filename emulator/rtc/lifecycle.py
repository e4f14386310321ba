"""A session's states, why it ends, and the supervisor that ends it on time.

A session goes new -> connecting (answer sent) -> connected (ICE and DTLS up) -> closed, and
records why it closed.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol


class SessionState(enum.Enum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


class EndReason(enum.Enum):
    PEER_CLOSED = "peer_closed"  # the client closed its peer connection
    PEER_FAILED = "peer_failed"  # ICE or DTLS failed, e.g. consent lost
    PEER_GONE = "peer_gone"  # nothing received for peer_timeout seconds
    ICE_TIMEOUT = "ice_timeout"  # never connected within ice_timeout of the answer
    MAX_DURATION = "max_duration"
    SHUTDOWN = "shutdown"
    RESET = "reset"  # POST /_emulator/reset
    SERVER_HANGUP = "server_hangup"  # a fault or a scenario hung up
    ANSWER_FAILED = "answer_failed"  # the offer could not be answered


@dataclass(frozen=True)
class Limits:
    """--ice-timeout, --max-session-duration and --peer-timeout, in seconds."""

    ice_timeout: float
    max_duration: float
    peer_timeout: float


class Supervised(Protocol):
    """What the supervisor needs of a session."""

    connected: asyncio.Event

    def close(self, reason: EndReason) -> Awaitable[None]: ...

    def packets_received(self) -> Awaitable[int]: ...


async def supervise(session: Supervised, limits: Limits, opened_at: float) -> None:
    """Ends the session on ICE timeout, on max duration, and when the peer goes quiet."""
    loop = asyncio.get_running_loop()
    deadline = opened_at + limits.max_duration
    try:
        try:
            async with asyncio.timeout(min(limits.ice_timeout, limits.max_duration)):
                await session.connected.wait()
        except TimeoutError:
            ice = limits.ice_timeout <= limits.max_duration
            await session.close(EndReason.ICE_TIMEOUT if ice else EndReason.MAX_DURATION)
            return
        interval = max(0.1, min(1.0, limits.peer_timeout / 4))
        heard, heard_at = -1, loop.time()
        while True:
            await asyncio.sleep(max(0.0, min(interval, deadline - loop.time())))
            now = loop.time()
            if now >= deadline:
                await session.close(EndReason.MAX_DURATION)
                return
            received = await session.packets_received()
            if received != heard:
                heard, heard_at = received, now
            elif now - heard_at >= limits.peer_timeout:
                await session.close(EndReason.PEER_GONE)
                return
    except asyncio.CancelledError:
        pass
