"""The one source of "now" for tokens, TURN credentials and sessions.

Everything that expires reads time through a Clock, so tests (and the control plane) can move
time instead of sleeping.
"""

from __future__ import annotations

import time

from aiohttp import web


class Clock:
    """Wall-clock seconds since the epoch, with an offset that can be advanced or frozen."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen_at: float | None = None

    def time(self) -> float:
        if self._frozen_at is not None:
            return self._frozen_at
        return time.time() + self._offset

    def __call__(self) -> float:
        return self.time()

    def advance(self, seconds: float) -> None:
        if self._frozen_at is not None:
            self._frozen_at += seconds
        else:
            self._offset += seconds

    def freeze(self) -> None:
        self._frozen_at = self.time()

    def unfreeze(self) -> None:
        if self._frozen_at is not None:
            self._offset = self._frozen_at - time.time()
            self._frozen_at = None

    def restore(self, offset: float, frozen_at: float | None) -> None:
        """Take the offset and freeze point another replica set (the shared state's clock)."""
        self._offset = offset
        self._frozen_at = frozen_at

    @property
    def offset(self) -> float:
        return self._offset

    @property
    def frozen_at(self) -> float | None:
        return self._frozen_at

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None


CLOCK = web.AppKey("clock", Clock)
