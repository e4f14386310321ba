"""Identifiers: conversation, session, token, event, item and response ids.

One seeded generator owns them all, so that `--seed` makes a run reproducible. (Request ids
are a counter in the HTTP middleware: they need not be seeded.)
"""

from __future__ import annotations

import os
import random

from aiohttp import web


class IdFactory:
    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._random = random.Random(seed if seed is not None else os.urandom(16))

    def _hex(self, nbytes: int) -> str:
        # cheaper than a format with a computed width (f"{n:0{w}x}"), and the same text
        return self._random.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def conversation_id(self) -> str:
        return "conv_" + self._hex(12)

    def token_id(self) -> str:
        return "tok_" + self._hex(12)

    def event_id(self) -> str:
        return "event_" + self._hex(8)

    def session_id(self) -> str:
        return "sess_" + self._hex(12)

    def item_id(self) -> str:
        return "item_" + self._hex(8)

    def response_id(self) -> str:
        return "resp_" + self._hex(8)


IDS = web.AppKey("ids", IdFactory)
