"""Waiting on what a client receives: conditions re-checked whenever something arrives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# Conditions on state nothing here signals (the emulator's counters, say) are re-checked this
# often as well.
RECHECK_SECONDS = 0.5


class Changes:
    """Wakes every waiter when `notify()` is called (an event, a packet, a state change)."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self, *_: object) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def until(
        self, condition: Callable[[], object], timeout: float, what: str = "a condition"
    ) -> None:
        """Return once `condition()` is true; TimeoutError naming `what` after `timeout` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed: asyncio.Future[None] = loop.create_future()
            self._waiters.append(changed)  # before the check: no change is missed
            try:
                if condition():
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
                await asyncio.wait([changed], timeout=min(RECHECK_SECONDS, remaining))
            finally:
                if changed in self._waiters:
                    self._waiters.remove(changed)
