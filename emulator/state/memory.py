"""The shared state of one process, in the process: the default.

Claims are the TokenLedger's (a check and a write with no await in between, so exactly one of
any number of concurrent claims on one event loop wins). The rest mirrors what the Redis backend
stores, so both pass one Protocol test suite; the emulator itself does not route its control
plane through it (`shared` is False), which keeps one process exactly as it was.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from emulator.identity.clock import Clock
from emulator.identity.tokens import TokenLedger
from emulator.state.store import JOURNALS, MEMORY_URL, ControlDoc

JOURNAL_SIZE = 1000
FEED_QUEUE = 256


class MemoryState:
    shared = False
    label = MEMORY_URL

    def __init__(self, clock: Clock, *, leeway: float = 0.0) -> None:
        self.ledger = TokenLedger(clock, leeway)
        self.replica_id = uuid.uuid4().hex[:12]
        self._clock = clock
        self._version = 0
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._rules: dict[str, dict[str, Any]] = {}
        self._applied: dict[str, int] = {}
        self._rule_count = 0
        self._scenarios: list[dict[str, Any]] = []
        self._journals: dict[str, deque[dict[str, Any]]] = {
            name: deque(maxlen=JOURNAL_SIZE) for name in JOURNALS
        }
        self._subscribers: set[asyncio.Queue[tuple[str, str, dict[str, Any]] | None]] = set()
        self._event_count = 0
        self._report: dict[str, Any] = {}
        self._epoch = 0
        self._joined = 0
        self._seed: int | None = None

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(None)

    async def ping(self) -> None:
        pass

    async def join(self, seed: int | None) -> tuple[int, int | None]:
        self._joined += 1
        if self._seed is None:
            self._seed = seed
        return self._joined, self._seed

    # --- claims
    async def claim(self, jti: str, expires_at: float) -> bool:
        return self.ledger.claim(jti, expires_at)

    async def release(self, jti: str) -> None:
        self.ledger.release(jti)

    async def claimed(self, jti: str) -> bool:
        return jti in self.ledger

    # --- the control document
    def _changed(self) -> None:
        self._version += 1

    async def version(self) -> int:
        return self._version

    def version_now(self) -> int | None:
        return self._version

    async def control(self) -> ControlDoc:
        return ControlDoc(
            version=self._version,
            clock_offset=self._offset,
            clock_frozen_at=self._frozen_at,
            rules=tuple((rule_id, dict(spec)) for rule_id, spec in self._rules.items()),
            applied=dict(self._applied),
            scenarios=tuple(dict(s) for s in self._scenarios),
            reset_epoch=self._epoch,
        )

    async def change_clock(
        self, wall: float, advance: float, freeze: bool | None
    ) -> tuple[float, float | None]:
        if freeze is True and self._frozen_at is None:
            self._frozen_at = wall + self._offset
        if advance:
            if self._frozen_at is not None:
                self._frozen_at += advance
            else:
                self._offset += advance
        if freeze is False and self._frozen_at is not None:
            self._offset = self._frozen_at - wall
            self._frozen_at = None
        self._changed()
        return self._offset, self._frozen_at

    async def add_rules(self, specs: list[dict[str, Any]]) -> list[str]:
        ids = []
        for spec in specs:
            self._rule_count += 1
            rule_id = f"fault_{self._rule_count}"
            self._rules[rule_id] = dict(spec)
            ids.append(rule_id)
        self._changed()
        return ids

    async def remove_rule(self, rule_id: str) -> bool:
        found = self._rules.pop(rule_id, None) is not None
        self._applied.pop(rule_id, None)
        if found:
            self._changed()
        return found

    async def clear_rules(self) -> None:
        self._rules.clear()
        self._applied.clear()
        self._changed()

    async def count_rule(self, rule_id: str, times: int | None) -> int:
        if rule_id not in self._rules:
            return 0
        count = self._applied.get(rule_id, 0) + 1
        if times is not None and count > times:
            return 0
        self._applied[rule_id] = count
        if times is not None and count >= times:
            del self._rules[rule_id]
            self._changed()
        return count

    async def add_scenario(self, entry: dict[str, Any]) -> None:
        scope = (entry.get("email"), entry.get("test_id"))
        self._scenarios = [
            s for s in self._scenarios if (s.get("email"), s.get("test_id")) != scope
        ]
        self._scenarios.append(dict(entry))
        self._changed()

    async def clear_scenarios(self) -> None:
        self._scenarios.clear()
        self._changed()

    # --- journals and the feed
    def append(self, journal: str, entry: dict[str, Any]) -> None:
        self._journals[journal].append(entry)

    def read_through(
        self, journal: str, read: Callable[[], list[dict[str, Any]]], clear: Callable[[], None]
    ) -> bool:
        return False  # it is the journal every replica reads

    async def flush(self) -> None:
        pass

    async def entries(self, journal: str) -> list[dict[str, Any]]:
        return list(self._journals[journal])

    def feed_wanted(self) -> bool:
        return True  # what was published is kept for a subscriber's position (events())

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        self._event_count += 1
        event = (str(self._event_count), kind, data)
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    async def feed_position(self) -> str:
        return str(self._event_count)

    async def events(
        self, after: str | None = None
    ) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
        # In one process nothing is published between asking and subscribing: `after` is moot.
        queue: asyncio.Queue[tuple[str, str, dict[str, Any]] | None] = asyncio.Queue(FEED_QUEUE)
        self._subscribers.add(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._subscribers.discard(queue)

    # --- replicas
    async def heartbeat(self, report: dict[str, Any]) -> None:
        self._report = dict(report)

    async def replicas(self) -> dict[str, dict[str, Any]]:
        return {self.replica_id: dict(self._report)}

    async def reset(self) -> int:
        self._rules.clear()
        self._applied.clear()
        self._scenarios.clear()
        for journal in self._journals.values():
            journal.clear()
        self._epoch += 1
        self._changed()
        return self._epoch
