"""aiortc, av and the session code, loaded off the startup path.

They take most of a cold start (about half a second), and nothing but /calls (and a scenario
with audio) needs them. The CLI starts loading them in a worker thread once it serves; whatever
needs them awaits ready() first, so the loop's thread never imports them while the worker does
(two threads importing one package with circular imports can see it half-initialised). Where
nothing started a load (an app served by pytest-aiohttp, the pytest plugin), ready() imports
them at once, on the loop.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

SESSION_MODULE = "emulator.rtc.session"


class RtcLoader:
    def __init__(self) -> None:
        self._loading: asyncio.Future[object] | None = None
        self.loaded = False
        # Told once the code is loaded (readiness reports it; the CLI freezes the heap).
        self.on_loaded: list[Callable[[], None]] = []

    def start_background(self) -> None:
        """Begin loading in a worker thread (the CLI, right after it starts serving)."""
        if self._loading is None and not self.loaded:
            loop = asyncio.get_running_loop()
            self._loading = loop.run_in_executor(None, importlib.import_module, SESSION_MODULE)
            self._loading.add_done_callback(self._done)

    async def ready(self) -> None:
        """Return once the WebRTC code is loaded."""
        if self.loaded:
            return
        if self._loading is None:
            importlib.import_module(SESSION_MODULE)
            self._mark_loaded()
            return
        # shield: a request that gives up must not cancel the load the others wait for.
        await asyncio.shield(self._loading)

    def _done(self, loading: asyncio.Future[object]) -> None:
        if loading.cancelled() or loading.exception() is not None:
            log.error("loading the WebRTC code failed", exc_info=loading.exception())
            self._loading = None  # the next ready() tries again, on the loop
            return
        self._mark_loaded()

    def _mark_loaded(self) -> None:
        self.loaded = True
        for callback in self.on_loaded:
            callback()
