"""This replica's part in a shared state (--state redis://): the control plane read through on
each request, the heartbeat that lists its sessions, and resets that reach every replica.

Read-your-writes across replicas: a control-plane change bumps the shared version in the same
atomic step; every API request and control request reads the version first (one round trip)
and reloads the document when it moved. So after a POST returns on replica A, the next request
on replica B sees it, with no reliance on message timing. The heartbeat loop syncs too (every
HEARTBEAT_SECONDS), so a replica with no traffic still ends its sessions on a reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator.control.faults import Facts, FaultRule, parse_rule
from emulator.control.plane import ControlPlane
from emulator.control.scenarios import Scenario, ScenarioError, ScopedScenario, parse
from emulator.http.health import Readiness
from emulator.identity.clock import Clock
from emulator.identity.ids import IdFactory
from emulator.rtc.lifecycle import EndReason
from emulator.rtc.registry import SessionRegistry
from emulator.state.store import FAULTS, REQUESTS, TOKENS, ControlDoc, SharedState, StateUnavailable

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0  # the report's TTL is three of these
# A burst of sessions starting pokes the heartbeat once per this, not once per session: a beat
# serialises every session's summary, which must not land on each /calls.
MIN_BEAT_SECONDS = 0.2
RESET_WAIT_SECONDS = 5.0  # how long a reset waits for the other replicas to end their sessions
RESET_POLL_SECONDS = 0.05


class Replica:
    def __init__(
        self,
        state: SharedState,
        control: ControlPlane,
        clock: Clock,
        registry: SessionRegistry,
        readiness: Readiness,
        ids: IdFactory,
    ) -> None:
        self.state = state
        self.control = control
        self.clock = clock
        self.registry = registry
        self.readiness = readiness
        self.ids = ids
        self.version = -1
        self.epoch: int | None = None
        self.number: int | None = None
        self.reset_closed = 0  # sessions the last reset ended here
        self._lock = asyncio.Lock()
        self._scenarios: dict[str, Scenario] = {}
        self._wake: asyncio.Event | None = None
        self._ended: dict[str, dict[str, Any]] = {}
        # The request journal, written on every API request, is read where it is kept when
        # the backend can (the local state); else each entry is handed to it.
        requests = control.requests
        if not state.read_through(REQUESTS, requests.select, requests.clear):
            requests.sink = lambda entry: state.append(REQUESTS, entry)
        control.applied_faults.sink = lambda entry: state.append(FAULTS, entry)
        control.tokens.sink = lambda entry: state.append(TOKENS, entry)
        control.feed.shared = state

    # --- reading through
    def current(self) -> bool:
        """Whether this replica's copy of the control document is known to be the shared one
        without waiting (the local state's page says so): then there is nothing to sync.
        With Redis it cannot be known without a round trip, and this is False."""
        version = self.state.version_now()
        return version is not None and version <= self.version and self.number is not None

    async def sync(self) -> None:
        """Bring this replica's copy of the control document up to the shared version."""
        try:
            if self.number is None:
                await self._join()
            version = await self.state.version()
            if version > self.version:
                async with self._lock:
                    if version > self.version:
                        await self._apply(await self.state.control())
        except StateUnavailable:
            self.readiness.mark_down("state")
            raise
        self.readiness.mark_ready("state")

    async def _join(self) -> None:
        number, seed = await self.state.join(self.control.seed)
        if seed is not None:
            # Each replica draws its ids from the shared seed and its own number: the same
            # seed replays the same run, and two replicas never mint the same jti.
            self.control.seed = seed
            self.ids._random.seed(f"{seed}:{number}")
            self.control.rng.seed(f"faults:{seed}:{number}")
        self.number = number

    async def _apply(self, doc: ControlDoc) -> None:
        self.clock.restore(doc.clock_offset, doc.clock_frozen_at)
        self.control.faults.load(doc.rules, doc.applied)
        self.control.scenarios.load(self._posted(doc.scenarios))
        if self.epoch is None:
            self.epoch = doc.reset_epoch  # joining: earlier resets are not ours to act on
        elif doc.reset_epoch > self.epoch:
            self.epoch = doc.reset_epoch
            await self._reset_here()
        self.version = doc.version

    def _posted(self, entries: tuple[dict[str, Any], ...]) -> list[ScopedScenario]:
        """Scenarios parsed once per replica (their audio is encoded when parsed)."""
        cache, posted = {}, []
        for entry in entries:
            key = json.dumps(entry, sort_keys=True)
            scenario = self._scenarios.get(key)
            if scenario is None:
                try:
                    scenario = parse(entry["source"], base=Path(entry.get("base") or "."))
                except ScenarioError as exc:
                    log.warning("posted scenario unusable here: %s: %s", exc.param, exc.message)
                    continue
            cache[key] = scenario
            posted.append(ScopedScenario(scenario, entry.get("email"), entry.get("test_id")))
        self._scenarios = cache
        return posted

    async def _reset_here(self) -> None:
        self.reset_closed = len(self.registry)
        await self.registry.close_all(EndReason.RESET)
        self.registry.ended.clear()
        self.control.clear_journals()
        self.poke()

    # --- faults, counted across replicas
    async def take(
        self, point: str, facts: Facts, endpoint: str | None = None, *, first: bool = True
    ) -> list[FaultRule]:
        faults = self.control.faults
        taken = []
        for rule in faults.candidates(point, facts, endpoint):
            applied = await self.state.count_rule(rule.id, rule.times)
            if not applied:  # used up on another replica meanwhile
                faults.discard(rule)
                continue
            faults.counted(rule, applied)
            taken.append(rule)
            if first:
                break
        return taken

    def count_later(self, rule: FaultRule) -> None:
        """For TURN's synchronous hook: decided here, counted in the shared state soon after."""

        async def count() -> None:
            with contextlib.suppress(StateUnavailable):
                self.control.faults.counted(rule, await self.state.count_rule(rule.id, None))

        self.control.faults.counted(rule, rule.applied + 1)
        asyncio.ensure_future(count())

    # --- changes posted to this replica
    async def change_clock(self, advance: float, freeze: bool | None) -> None:
        offset, frozen_at = await self.state.change_clock(time.time(), advance, freeze)
        self.clock.restore(offset, frozen_at)
        await self.sync()

    async def add_rules(self, specs: list[dict[str, Any]]) -> list[FaultRule]:
        """Rules validated already (parse_rule); stored all at once."""
        ids = await self.state.add_rules(specs)
        await self.sync()
        return [parse_rule(spec, rule_id) for spec, rule_id in zip(specs, ids, strict=True)]

    async def remove_rule(self, rule_id: str) -> bool:
        removed = await self.state.remove_rule(rule_id)
        await self.sync()
        return removed

    async def clear_rules(self) -> None:
        await self.state.clear_rules()
        await self.sync()

    async def add_scenario(self, entry: dict[str, Any]) -> None:
        await self.state.add_scenario(entry)
        await self.sync()

    async def clear_scenarios(self) -> None:
        await self.state.clear_scenarios()
        await self.sync()

    async def reset(self) -> int:
        """Reset every replica; returns once each live one has ended its sessions (or after
        RESET_WAIT_SECONDS). The number of sessions closed across replicas."""
        epoch = await self.state.reset()
        await self.sync()  # ends ours
        closed = self.reset_closed
        own = self.state.replica_id
        deadline = time.monotonic() + RESET_WAIT_SECONDS
        while True:
            others = {r: v for r, v in (await self.state.replicas()).items() if r != own}
            if all((v.get("epoch") or 0) >= epoch for v in others.values()):
                break
            if time.monotonic() > deadline:
                log.warning("reset: replicas %s did not confirm", sorted(others))
                break
            await asyncio.sleep(RESET_POLL_SECONDS)  # polling the replicas' reports
        return closed + sum(
            v.get("reset_closed", 0) for v in others.values() if v.get("epoch") == epoch
        )

    # --- what every replica sees of this one
    def report(self) -> dict[str, Any]:
        return {
            "replica": self.state.replica_id,
            "pid": os.getpid(),
            "epoch": self.epoch,
            "reset_closed": self.reset_closed,
            "live": [s.summary() for s in self.registry.sessions.values()],
            "ended": self._ended_summaries(),
        }

    def _ended_summaries(self) -> list[dict[str, Any]]:
        """An ended session's summary never changes: each is made once."""
        cache = {
            r.conversation_id: self._ended.get(r.conversation_id) or r.summary()
            for r in self.registry.ended
        }
        self._ended = cache
        return list(cache.values())

    async def sessions(self) -> list[dict[str, Any]]:
        """Every replica's sessions, ended ones first, each group by start time."""
        reports = await self.state.replicas()
        reports[self.state.replica_id] = self.report()
        # Each summary names the replica holding it: its full record is served there only.
        ended = [{**s, "replica": k} for k, r in reports.items() for s in r.get("ended", ())]
        live = [{**s, "replica": k} for k, r in reports.items() for s in r.get("live", ())]
        return sorted(ended, key=_started) + sorted(live, key=_started)

    def poke(self) -> None:
        """Heartbeat now (a session started or ended)."""
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        """The heartbeat: sync, then publish this replica's report, every HEARTBEAT_SECONDS."""
        self._wake = asyncio.Event()
        while True:
            self._wake.clear()
            try:
                await self.sync()
                await self.state.heartbeat(self.report())
            except StateUnavailable as exc:
                log.debug("heartbeat: %s", exc)
            except Exception:  # the heartbeat must outlive any one bad beat
                log.exception("heartbeat failed")
            await asyncio.sleep(MIN_BEAT_SECONDS)
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the task's own
            # cancellation when the wake-up lands at the same moment, and cleanup then hangs.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_SECONDS - MIN_BEAT_SECONDS):
                    await self._wake.wait()


def _started(summary: dict[str, Any]) -> float:
    started = summary.get("started_at")
    return float(started) if isinstance(started, int | float) else 0.0


REPLICA = web.AppKey("replica", Replica)
