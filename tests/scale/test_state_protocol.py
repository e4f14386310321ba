"""One suite, both backends: the memory state and the Redis state answer the SharedState
Protocol alike (claims, the control document, journals, the feed, replicas, reset)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator

import pytest

from emulator.identity.clock import Clock
from emulator.state.backends import open_state
from emulator.state.store import (
    FAULTS,
    REQUESTS,
    TOKENS,
    SharedState,
    StateUnavailable,
    StateUrlError,
    check_url,
    redact,
)
from tests.kit.redis import RedisServer, free_port

_prefixes = itertools.count()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer.start() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[SharedState]:
    clock = Clock()
    if request.param == "memory":
        backend = open_state("memory:", clock)
    else:
        server = request.getfixturevalue("redis_server")
        backend = open_state(server.url, clock, prefix=f"t{next(_prefixes)}:")
    await backend.start()
    yield backend
    await backend.close()


async def test_one_claim_wins_and_release_gives_the_token_back(state: SharedState) -> None:
    exp = Clock().time() + 60
    results = await asyncio.gather(*(state.claim("jti-a", exp) for _ in range(50)))
    assert results.count(True) == 1
    assert await state.claimed("jti-a")
    assert not await state.claimed("jti-b")
    await state.release("jti-a")
    assert not await state.claimed("jti-a")
    assert await state.claim("jti-a", exp)
    assert not await state.claim("jti-a", exp)


async def test_rule_counters_stop_at_times_across_concurrent_takers(state: SharedState) -> None:
    (limited, unlimited) = await state.add_rules([{"fault": "latency", "times": 3}, {"fault": "x"}])
    assert limited != unlimited
    counts = await asyncio.gather(*(state.count_rule(limited, 3) for _ in range(20)))
    assert sorted(c for c in counts if c) == [1, 2, 3]
    assert counts.count(0) == 17
    doc = await state.control()
    assert [rule_id for rule_id, _ in doc.rules] == [unlimited]  # the third use removed it
    assert await state.count_rule(unlimited, None) == 1
    assert await state.count_rule(unlimited, None) == 2
    assert (await state.control()).applied[unlimited] == 2
    assert await state.remove_rule(unlimited)
    assert not await state.remove_rule(unlimited)
    assert await state.count_rule(unlimited, None) == 0


async def test_rule_ids_count_on_and_the_version_moves(state: SharedState) -> None:
    before = await state.version()
    ids = await state.add_rules([{"fault": "a"}, {"fault": "b"}])
    assert ids == ["fault_1", "fault_2"]
    assert await state.version() > before
    # Read without waiting where the backend can (memory, the local page), never stale.
    assert state.version_now() in (None, await state.version())
    assert await state.add_rules([{"fault": "c"}]) == ["fault_3"]
    assert state.version_now() in (None, await state.version())
    doc = await state.control()
    assert [spec["fault"] for _, spec in doc.rules] == ["a", "b", "c"]
    await state.clear_rules()
    assert (await state.control()).rules == ()


async def test_the_clock_advances_freezes_and_thaws(state: SharedState) -> None:
    offset, frozen = await state.change_clock(1000.0, 30.0, None)
    assert (offset, frozen) == (30.0, None)
    offset, frozen = await state.change_clock(1010.0, 5.0, True)
    assert (offset, frozen) == (30.0, 1045.0)
    offset, frozen = await state.change_clock(1100.0, 0.0, False)
    assert (offset, frozen) == (-55.0, None)
    doc = await state.control()
    assert (doc.clock_offset, doc.clock_frozen_at) == (-55.0, None)


async def test_scenarios_replace_by_scope_in_posting_order(state: SharedState) -> None:
    await state.add_scenario({"email": None, "test_id": None, "source": {"name": "one"}})
    await state.add_scenario({"email": "a@x.io", "test_id": None, "source": {"name": "two"}})
    await state.add_scenario({"email": None, "test_id": None, "source": {"name": "three"}})
    names = [s["source"]["name"] for s in (await state.control()).scenarios]
    assert names == ["two", "three"]
    await state.clear_scenarios()
    assert (await state.control()).scenarios == ()


async def test_journals_keep_entries_in_order_and_reset_clears_them(state: SharedState) -> None:
    for i in range(5):
        state.append(REQUESTS, {"n": i})
    state.append(FAULTS, {"rule": "fault_1"})
    state.append(TOKENS, {"minted": {"jti": "j"}})
    await state.flush()
    assert [e["n"] for e in await state.entries(REQUESTS)] == [0, 1, 2, 3, 4]
    assert await state.entries(FAULTS) == [{"rule": "fault_1"}]
    await state.add_rules([{"fault": "a"}])
    epoch = (await state.control()).reset_epoch
    assert await state.reset() == epoch + 1
    doc = await state.control()
    assert doc.reset_epoch == epoch + 1 and doc.rules == ()
    assert await state.entries(REQUESTS) == []


async def test_the_feed_delivers_what_is_published_after_subscribing(state: SharedState) -> None:
    events = state.events()
    first = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0)  # let it subscribe (memory) ...
    # ... and, for Redis, publish until the blocking read sees one: no delivery is assumed
    # before the reader is in place.
    async with asyncio.timeout(10):
        while not first.done():
            state.publish("request", {"n": 1})
            await state.flush()
            await asyncio.wait({first}, timeout=0.1)
    _event_id, kind, data = first.result()
    assert (kind, data) == ("request", {"n": 1})
    await events.aclose()


async def test_heartbeats_list_the_replica(state: SharedState) -> None:
    await state.heartbeat({"live": [{"conversation_id": "conv_1"}], "epoch": 0})
    replicas = await state.replicas()
    assert replicas[state.replica_id]["live"] == [{"conversation_id": "conv_1"}]


async def test_join_numbers_replicas_and_keeps_the_first_seed(state: SharedState) -> None:
    first = await state.join(7)
    second = await state.join(9)
    assert (first[1], second[1]) == (7, 7)
    assert second[0] == first[0] + 1


def test_state_urls_are_checked() -> None:
    assert check_url("memory:") == "memory:"
    assert check_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    for bad in ("http://x", "redis://", "redis://h:port/0", "redis://h:6379/zero", "rediss:"):
        with pytest.raises(StateUrlError):
            check_url(bad)
    assert redact("redis://user:hunter2@h:1/0") == "redis://user:***@h:1/0"


async def test_an_unreachable_redis_is_unavailable_not_a_crash() -> None:
    port = free_port()  # nothing listens there
    state = open_state(f"redis://127.0.0.1:{port}/0", Clock())
    await state.start()
    for operation in (state.ping(), state.claim("j", Clock().time() + 60), state.version()):
        with pytest.raises(StateUnavailable) as caught:
            await operation
        assert f"127.0.0.1:{port}" in str(caught.value)
    await state.close()
