"""The shared state in Redis (redis.asyncio), for several workers and replicas.

Every operation is one round trip: a claim is `SET token:<jti> 1 NX PX <lifetime>`, a fault
rule's counter a Lua script (the count and the `times` check in one step), the control
document is read in one MULTI. Journal entries and feed events are batched by a background
writer into pipelined XADDs (MAXLEN ~), so recording costs no round trip on the request. A short
socket timeout turns a Redis that is down or unreachable into StateUnavailable quickly; redis-py
reconnects by itself when it is back. Key layout: docs/scale-out.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from emulator.identity.clock import Clock
from emulator.state.scripts import ADD_RULES, ADD_SCENARIO, CHANGE_CLOCK, COUNT_RULE, JOIN
from emulator.state.store import DEFAULT_PREFIX, JOURNALS, ControlDoc, StateUnavailable, redact

log = logging.getLogger(__name__)

# A Redis that does not answer within it is unavailable. Not shorter: the wait includes this
# process's own event loop, which a burst of requests on a busy machine can hold up for a while.
SOCKET_TIMEOUT = 3.0
MAX_CONNECTIONS = 32  # per process; a burst waits its turn for one (up to SOCKET_TIMEOUT)
JOURNAL_SIZE = 1000  # entries kept per journal (approximately: MAXLEN ~)
FEED_SIZE = 1000
HEARTBEAT_TTL_MS = 3000
FEED_BLOCK_MS = 500  # below SOCKET_TIMEOUT
WRITE_DELAY = 0.02  # journal entries and feed events wait this long to share a pipeline

_FAILURES = (RedisError, OSError, asyncio.TimeoutError)


class RedisState:
    shared = True

    def __init__(
        self, url: str, clock: Clock, *, leeway: float = 0.0, prefix: str = DEFAULT_PREFIX
    ) -> None:
        self.label = redact(url)
        self.replica_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._leeway = leeway
        # Typed loosely: redis-py's annotations cover bytes and str replies alike.
        # A bounded pool that queues a burst (200 concurrent claims) rather than refusing it.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=SOCKET_TIMEOUT,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
        )
        self._redis: Any = aioredis.Redis(connection_pool=pool)
        p = prefix
        self.keys = {
            "version": p + "control:version",
            "clock": p + "clock",
            "rules": p + "faults:rules",
            "rule_seq": p + "faults:seq",
            "applied": p + "faults:applied",
            "scenarios": p + "scenarios",
            "scenario_seq": p + "scenarios:seq",
            "epoch": p + "reset:epoch",
            "feed": p + "feed",
            "replicas": p + "replicas",
            "replica_seq": p + "replicas:seq",
            "seed": p + "seed",
            **{f"journal:{name}": f"{p}journal:{name}" for name in JOURNALS},
        }
        self._token_prefix = p + "token:"
        self._replica_prefix = p + "replica:"
        self._scripts = {
            name: self._redis.register_script(source)
            for name, source in (
                ("clock", CHANGE_CLOCK),
                ("add_rules", ADD_RULES),
                ("count_rule", COUNT_RULE),
                ("add_scenario", ADD_SCENARIO),
                ("join", JOIN),
            )
        }
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    def _unavailable(self, exc: BaseException) -> StateUnavailable:
        return StateUnavailable(self.label, f"{type(exc).__name__}: {exc}")

    async def start(self) -> None:
        with contextlib.suppress(StateUnavailable):
            await self.ping()  # warms a connection; a Redis that is down is retried later

    async def close(self) -> None:
        self._closed = True
        with contextlib.suppress(StateUnavailable):
            await self.flush()
        await self._redis.aclose(close_connection_pool=True)

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except _FAILURES as exc:
            raise self._unavailable(exc) from None

    async def join(self, seed: int | None) -> tuple[int, int | None]:
        try:
            number, shared = await self._scripts["join"](
                keys=[self.keys["replica_seq"], self.keys["seed"]],
                args=["" if seed is None else str(seed)],
            )
        except _FAILURES as exc:
            raise self._unavailable(exc) from None
        return int(number), int(shared) if shared not in ("", None) else None

    # --- claims
    async def claim(self, jti: str, expires_at: float) -> bool:
        # Kept for the token's remaining life on the emulator's clock (+ leeway, + a second).
        lifetime_ms = max(1000, int((expires_at + self._leeway - self._clock.time() + 1) * 1000))
        try:
            won = await self._redis.set(self._token_prefix + jti, "1", nx=True, px=lifetime_ms)
        except _FAILURES as exc:
            raise self._unavailable(exc) from None
        return bool(won)

    async def release(self, jti: str) -> None:
        try:
            await self._redis.delete(self._token_prefix + jti)
        except _FAILURES as exc:
            raise self._unavailable(exc) from None

    async def claimed(self, jti: str) -> bool:
        try:
            return bool(await self._redis.exists(self._token_prefix + jti))
        except _FAILURES as exc:
            raise self._unavailable(exc) from None

    # --- the control document
    def version_now(self) -> int | None:
        return None  # a round trip each time: see version()

    async def version(self) -> int:
        try:
            value = await self._redis.get(self.keys["version"])
        except _FAILURES as exc:
            raise self._unavailable(exc) from None
        return int(value or 0)

    async def control(self) -> ControlDoc:
        k = self.keys
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(k["version"])
                pipe.hgetall(k["clock"])
                pipe.hgetall(k["rules"])
                pipe.hgetall(k["applied"])
                pipe.hgetall(k["scenarios"])
                pipe.get(k["epoch"])
                version, clock, rules, applied, scenarios, epoch = await pipe.execute()
        except _FAILURES as exc:
            raise self._unavailable(exc) from None
        frozen = clock.get("frozen_at") or None
        ordered = sorted(rules.items(), key=lambda item: int(item[0].removeprefix("fault_")))
        posted = sorted(
            (value.partition(" ") for value in scenarios.values()), key=lambda p: int(p[0])
        )
        return ControlDoc(
            version=int(version or 0),
            clock_offset=float(clock.get("offset") or 0.0),
            clock_frozen_at=float(frozen) if frozen is not None else None,
            rules=tuple((rule_id, json.loads(spec)) for rule_id, spec in ordered),
            applied={rule_id: int(n) for rule_id, n in applied.items()},
            scenarios=tuple(json.loads(entry) for _seq, _, entry in posted),
            reset_epoch=int(epoch or 0),
        )

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._scripts[name](keys=keys, args=args)
        except _FAILURES as exc:
            raise self._unavailable(exc) from None

    async def change_clock(
        self, wall: float, advance: float, freeze: bool | None
    ) -> tuple[float, float | None]:
        flag = "" if freeze is None else ("1" if freeze else "0")
        offset, frozen = await self._script(
            "clock", [self.keys["clock"], self.keys["version"]], [repr(wall), repr(advance), flag]
        )
        return float(offset), float(frozen) if frozen else None

    async def add_rules(self, specs: list[dict[str, Any]]) -> list[str]:
        if not specs:
            return []
        keys = [self.keys["rule_seq"], self.keys["rules"], self.keys["version"]]
        first = int(await self._script("add_rules", keys, [json.dumps(s) for s in specs]))
        return [f"fault_{first + i}" for i in range(len(specs))]

    async def _delete(self, *keys: str, bump: bool = True) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(*keys)
                if bump:
                    pipe.incr(self.keys["version"])
                await pipe.execute()
        except _FAILURES as exc:
            raise self._unavailable(exc) from None

    async def remove_rule(self, rule_id: str) -> bool:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hdel(self.keys["rules"], rule_id)
                pipe.hdel(self.keys["applied"], rule_id)
                pipe.incr(self.keys["version"])
                removed, _, _ = await pipe.execute()
        except _FAILURES as exc:
            raise self._unavailable(exc) from None
        return bool(removed)

    async def clear_rules(self) -> None:
        await self._delete(self.keys["rules"], self.keys["applied"])

    async def count_rule(self, rule_id: str, times: int | None) -> int:
        keys = [self.keys["rules"], self.keys["applied"], self.keys["version"]]
        args = [rule_id, "" if times is None else str(times)]
        return int(await self._script("count_rule", keys, args))

    async def add_scenario(self, entry: dict[str, Any]) -> None:
        scope = json.dumps([entry.get("email"), entry.get("test_id")])
        keys = [self.keys["scenarios"], self.keys["scenario_seq"], self.keys["version"]]
        await self._script("add_scenario", keys, [scope, json.dumps(entry)])

    async def clear_scenarios(self) -> None:
        await self._delete(self.keys["scenarios"])

    # --- journals and the feed: batched, pipelined writes
    def append(self, journal: str, entry: dict[str, Any]) -> None:
        self._queue(self.keys[f"journal:{journal}"], entry)

    def read_through(
        self, journal: str, read: Callable[[], list[dict[str, Any]]], clear: Callable[[], None]
    ) -> bool:
        return False  # the other replicas read Redis, not this process

    def feed_wanted(self) -> bool:
        return True  # the readers are other replicas' streams: unknown here

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        self._queue(self.keys["feed"], {"kind": kind, "data": data})

    def _queue(self, key: str, entry: dict[str, Any]) -> None:
        self._pending.append((key, entry))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        # Entries of the next few milliseconds go in the same pipeline: under load one round
        # trip carries many requests' entries instead of one each.
        await asyncio.sleep(WRITE_DELAY)
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key, entry in batch:
                        size = FEED_SIZE if key == self.keys["feed"] else JOURNAL_SIZE
                        data = json.dumps(entry, separators=(",", ":"), default=str)
                        pipe.xadd(key, {"e": data}, maxlen=size, approximate=True)
                    await pipe.execute()
            except _FAILURES as exc:
                # Journals are a record, not a service: lost while Redis is away.
                log.warning("%d journal entries lost: %s", len(batch), self._unavailable(exc))

    async def flush(self) -> None:
        writer = self._writer
        if writer is not None and not writer.done():
            await asyncio.shield(writer)

    async def entries(self, journal: str) -> list[dict[str, Any]]:
        await self.flush()
        try:
            items = await self._redis.xrange(self.keys[f"journal:{journal}"])
        except _FAILURES as exc:
            raise self._unavailable(exc) from None
        return [json.loads(fields["e"]) for _id, fields in items]

    async def feed_position(self) -> str:
        try:
            newest = await self._redis.xrevrange(self.keys["feed"], count=1)
        except _FAILURES as exc:
            raise self._unavailable(exc) from None
        return str(newest[0][0]) if newest else "0-0"

    async def events(
        self, after: str | None = None
    ) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
        """Blocking reads of at most FEED_BLOCK_MS, so the socket timeout never fires; while
        Redis is away, the feed waits for it."""
        last = after or "$"
        while not self._closed:
            try:
                got = await self._redis.xread(
                    {self.keys["feed"]: last}, count=100, block=FEED_BLOCK_MS
                )
            except _FAILURES:
                await asyncio.sleep(FEED_BLOCK_MS / 1000)  # a retry pace, not a synchronisation
                continue
            for _stream, items in got or ():
                for event_id, fields in items:
                    last = event_id
                    event = json.loads(fields["e"])
                    yield event_id, event["kind"], event["data"]

    # --- replicas
    async def heartbeat(self, report: dict[str, Any]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(
                    self._replica_prefix + self.replica_id,
                    json.dumps(report, default=str),
                    px=HEARTBEAT_TTL_MS,
                )
                pipe.sadd(self.keys["replicas"], self.replica_id)
                await pipe.execute()
        except _FAILURES as exc:
            raise self._unavailable(exc) from None

    async def replicas(self) -> dict[str, dict[str, Any]]:
        try:
            members = sorted(await self._redis.smembers(self.keys["replicas"]))
            reports = (
                await self._redis.mget([self._replica_prefix + m for m in members])
                if members
                else []
            )
            gone = [m for m, report in zip(members, reports, strict=True) if report is None]
            if gone:
                await self._redis.srem(self.keys["replicas"], *gone)
        except _FAILURES as exc:
            raise self._unavailable(exc) from None
        return {
            m: json.loads(report)
            for m, report in zip(members, reports, strict=True)
            if report is not None
        }

    async def reset(self) -> int:
        k = self.keys
        journals = [k[f"journal:{name}"] for name in JOURNALS]
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(k["rules"], k["applied"], k["scenarios"], *journals)
                pipe.incr(k["epoch"])
                pipe.incr(k["version"])
                _, epoch, _ = await pipe.execute()
        except _FAILURES as exc:
            raise self._unavailable(exc) from None
        return int(epoch)
