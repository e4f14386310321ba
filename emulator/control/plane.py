"""The control plane's state, in one object hung off the app (emulator.http.keys.CONTROL)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from aiohttp import web

from emulator.control.faults import FaultBook
from emulator.control.feed import Feed
from emulator.control.journal import FaultJournal, RequestJournal, TokenJournal
from emulator.control.scenarios import ScenarioBook
from emulator.identity.clock import Clock


@dataclass
class ControlPlane:
    clock: Clock
    seed: int | None
    requests: RequestJournal = field(default_factory=RequestJournal)
    applied_faults: FaultJournal = field(default_factory=FaultJournal)
    feed: Feed = field(default_factory=Feed)
    scenarios: ScenarioBook = field(default_factory=ScenarioBook)
    tokens: TokenJournal = field(init=False)
    faults: FaultBook = field(init=False)
    # Seeded apart from the ids, so fault dice do not shift the ids a seed reproduces.
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = TokenJournal(self.clock)
        self.rng = random.Random(f"faults:{self.seed}" if self.seed is not None else None)
        self.faults = FaultBook(self.rng)

    def clear_journals(self) -> None:
        self.requests.clear()
        self.applied_faults.clear()
        self.tokens.clear()


CONTROL = web.AppKey("control", ControlPlane)
