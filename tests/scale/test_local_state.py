"""The local state (a supervisor's StateHost and its workers' LocalState over a Unix socket)
passes the same Protocol suite as the memory and Redis backends, and holds across clients."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.identity.clock import Clock
from emulator.state.backends import open_state
from emulator.state.host import StateHost
from emulator.state.page import page_path
from emulator.state.store import REQUESTS, SharedState, StateUnavailable, check_url

# The Protocol suite, run here against the local backend (the `state` fixture below).
from tests.scale.test_state_protocol import (  # noqa: F401
    test_heartbeats_list_the_replica,
    test_join_numbers_replicas_and_keeps_the_first_seed,
    test_journals_keep_entries_in_order_and_reset_clears_them,
    test_one_claim_wins_and_release_gives_the_token_back,
    test_rule_counters_stop_at_times_across_concurrent_takers,
    test_rule_ids_count_on_and_the_version_moves,
    test_scenarios_replace_by_scope_in_posting_order,
    test_the_clock_advances_freezes_and_thaws,
    test_the_feed_delivers_what_is_published_after_subscribing,
)


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[StateHost]:
    served = StateHost(str(tmp_path / "state.sock"))
    await served.start()
    yield served
    await served.close()


def local(host: StateHost) -> SharedState:
    return open_state(check_url(f"local:{host.path}"), Clock())


@pytest.fixture
async def state(host: StateHost) -> AsyncIterator[SharedState]:
    backend = local(host)
    await backend.start()
    yield backend
    await backend.close()


async def test_claims_from_several_workers_have_one_winner(host: StateHost) -> None:
    workers = [local(host) for _ in range(4)]
    for worker in workers:
        await worker.start()
    try:
        exp = Clock().time() + 60
        for round_ in range(20):
            jti = f"jti-{round_}"
            results = await asyncio.gather(*(workers[i % 4].claim(jti, exp) for i in range(200)))
            assert results.count(True) == 1
            assert all([await w.claimed(jti) for w in workers])
    finally:
        for worker in workers:
            await worker.close()


async def test_what_one_worker_writes_the_others_read(host: StateHost) -> None:
    one, other = local(host), local(host)
    await one.start()
    await other.start()
    try:
        before = await other.version()
        [rule_id] = await one.add_rules([{"fault": "latency", "delay_ms": 5}])
        assert await other.version() > before
        assert [r for r, _ in (await other.control()).rules] == [rule_id]
        one.append(REQUESTS, {"path": "/x"})
        await one.flush()
        assert await other.entries(REQUESTS) == [{"path": "/x"}]
        epoch = await other.reset()
        assert (await one.control()).reset_epoch == epoch
        assert await other.entries(REQUESTS) == []  # the entry one kept is gone too
    finally:
        await one.close()
        await other.close()


async def test_a_worker_that_goes_leaves_the_replicas_at_once(host: StateHost) -> None:
    one, other = local(host), local(host)
    await one.start()
    await other.start()
    await one.heartbeat({"live": [{"conversation_id": "conv_1"}]})
    await other.heartbeat({"live": []})
    assert set(await other.replicas()) == {one.replica_id, other.replica_id}
    await one.close()  # as the kernel closes a killed worker's socket
    async with asyncio.timeout(5):
        while one.replica_id in await other.replicas():
            await other.ping()  # a round trip: the host reads the end of file meanwhile
    await other.close()


async def test_no_host_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    state = open_state(check_url(f"local:{tmp_path / 'none.sock'}"), Clock())
    await state.start()
    for operation in (state.ping(), state.claim("j", Clock().time() + 60), state.version()):
        with pytest.raises(StateUnavailable) as caught:
            await operation
        assert "none.sock" in str(caught.value)
    state.append(REQUESTS, {"dropped": True})  # best effort: no error, no crash
    await state.close()


async def test_a_host_that_goes_fails_pending_calls(host: StateHost) -> None:
    state = local(host)
    await state.start()
    assert await state.claim("j", Clock().time() + 60)
    await host.close()
    with pytest.raises(StateUnavailable):
        async with asyncio.timeout(10):
            await state.claim("k", Clock().time() + 60)
    await state.close()


async def test_the_feed_after_a_position_misses_nothing_published_since(host: StateHost) -> None:
    one, other = local(host), local(host)
    await one.start()
    await other.start()
    try:
        one.publish("request", {"n": 0})
        position = await other.feed_position()
        one.publish("request", {"n": 1})  # after the position, before the subscription
        await one.flush()
        events = other.events(position)
        async with asyncio.timeout(10):
            _, kind, data = await anext(events)
            assert (kind, data) == ("request", {"n": 1})
            one.publish("session.started", {"n": 2})
            _, kind, data = await anext(events)
            assert (kind, data) == ("session.started", {"n": 2})
        await events.aclose()
    finally:
        await one.close()
        await other.close()


async def test_feed_wanted_follows_whether_any_worker_reads_the_feed(host: StateHost) -> None:
    """A worker builds no feed event while no stream of any worker reads the feed."""
    one, other = local(host), local(host)
    await one.start()
    await other.start()
    try:
        async with asyncio.timeout(10):
            while one.feed_wanted():
                await one.ping()  # a round trip: the host's announcement arrives meanwhile
            events = other.events()
            first = asyncio.ensure_future(anext(events))
            while not one.feed_wanted():
                await one.ping()
            one.publish("request", {"n": 1})
            _, kind, data = await first
            assert (kind, data) == ("request", {"n": 1})
            await events.aclose()
            while one.feed_wanted():
                await one.ping()
    finally:
        await one.close()
        await other.close()


async def test_the_control_page_is_private_and_goes_with_the_host(tmp_path: Path) -> None:
    served = StateHost(str(tmp_path / "state.sock"))
    await served.start()
    page = page_path(served.path)
    assert stat.S_IMODE(os.stat(page).st_mode) == 0o600
    await served.close()
    with pytest.raises(FileNotFoundError):
        os.stat(page)


async def test_workers_read_changes_from_the_page_or_ask_without_it(host: StateHost) -> None:
    """A worker that maps the page sees a change made through another before that change's
    caller hears back; one that cannot (the page is gone) asks the host, and still sees it."""
    paged = local(host)
    await paged.start()
    os.unlink(page_path(host.path))
    asking, changer = local(host), local(host)
    await asking.start()
    await changer.start()
    try:
        before = await paged.version()
        assert await asking.version() == before
        await changer.add_rules([{"fault": "latency", "delay_ms": 5}])
        assert await paged.version() == before + 1
        assert await asking.version() == before + 1
        assert asking.feed_wanted()  # without the page it cannot know: it publishes
        assert not paged.feed_wanted()
    finally:
        for worker in (paged, asking, changer):
            await worker.close()


async def test_a_journal_read_through_is_asked_for_and_emptied_by_a_reset(host: StateHost) -> None:
    """A worker that keeps a journal itself (read_through) sends no entry: a read asks it,
    and a reset through another worker empties it before the reset's caller hears back."""
    keeper, other = local(host), local(host)
    await keeper.start()
    await other.start()
    try:
        kept = [{"at": 2.0, "path": "/kept"}]
        assert keeper.read_through(REQUESTS, lambda: list(kept), kept.clear)
        other.append(REQUESTS, {"at": 1.0, "path": "/sent"})
        await other.flush()
        assert await other.entries(REQUESTS) == [
            {"at": 1.0, "path": "/sent"},
            {"at": 2.0, "path": "/kept"},
        ]
        await other.reset()
        assert await other.entries(REQUESTS) == []
        assert kept == []
    finally:
        await keeper.close()
        await other.close()
