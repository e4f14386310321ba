"""Choosing a backend for --state: memory (this process) or Redis, imported only when asked for."""

from __future__ import annotations

from emulator.identity.clock import Clock
from emulator.state.memory import MemoryState
from emulator.state.store import DEFAULT_PREFIX, MEMORY_URL, SharedState


def open_state(
    url: str, clock: Clock, *, leeway: float = 0.0, prefix: str = DEFAULT_PREFIX
) -> SharedState:
    """The backend for a checked URL. Redis is imported only when asked for, so startup
    costs nothing more without it."""
    if url == MEMORY_URL:
        return MemoryState(clock, leeway=leeway)
    if url.startswith("local:"):
        from emulator.state.local import LocalState

        return LocalState(url, clock, leeway=leeway)
    from emulator.state.redis import RedisState

    return RedisState(url, clock, leeway=leeway, prefix=prefix)
