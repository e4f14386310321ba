"""The control plane's state, in one object hung off the app under CONTROL."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from aiohttp import web

from emulator.control.faults import FaultBook
from emulator.control.feed import Feed
from emulator.control.journal import (
    FAULTS_KEPT,
    REQUESTS_KEPT,
    Journal,
    RequestJournal,
    TokenJournal,
)
from emulator.control.scenarios import ScenarioBook
from emulator.identity.clock import Clock


@dataclass
class ControlPlane:
    clock: Clock
    seed: int | None
    scenarios: ScenarioBook = field(default_factory=ScenarioBook)
    requests: RequestJournal = field(init=False)
    applied_faults: Journal = field(init=False)
    feed: Feed = field(init=False)
    tokens: TokenJournal = field(init=False)
    faults: FaultBook = field(init=False)
    # Seeded apart from the ids, so fault dice do not shift the ids a seed reproduces.
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.requests = RequestJournal(REQUESTS_KEPT)
        self.applied_faults = Journal(self.clock, FAULTS_KEPT)
        self.feed = Feed(self.clock)
        self.tokens = TokenJournal(self.clock)
        self.rng = random.Random(f"faults:{self.seed}" if self.seed is not None else None)
        self.faults = FaultBook(self.rng)

    def clear_journals(self) -> None:
        self.requests.clear()
        self.applied_faults.clear()
        self.tokens.clear()


CONTROL = web.AppKey("control", ControlPlane)
