"""Memory stays bounded whatever a client sends (issue 13, finding 3): limits on what a client
may set, replies that do not echo unbounded state, a bounded backlog of unsent events, and
inspection records capped in bytes per session and in total. Real aiortc peers throughout."""

from __future__ import annotations

import json

import pytest

# The documented limits (docs/contract.md, docs/events.md, docs/control-plane.md), as numbers:
# the tests hold the emulator to what the documents say.
MAX_INSTRUCTIONS_BYTES = 16 * 1024
MAX_MESSAGE_BYTES = 64 * 1024
SHOWN_CHARS = 64  # how much of a refused value an error message quotes
LOG_TEXT = 2048  # strings in the logs are cut here
EVENT_LOG_BYTES = 256 * 1024
PARAMS_HISTORY_SIZE, PARAMS_HISTORY_BYTES = 64, 64 * 1024
BACKLOG_MAX_BYTES = 2 * 1024 * 1024


def json_size(value) -> int:
    """Bytes of `value` as the control plane serves it."""
    return len(json.dumps(value))


pytestmark = pytest.mark.timeout(120)

# Two-byte characters: exactly at the limit in UTF-8 bytes, and the most JSON escaping per byte.
AT_THE_LIMIT = "é" * (MAX_INSTRUCTIONS_BYTES // 2)
OVER_THE_LIMIT = "x" * (MAX_INSTRUCTIONS_BYTES + 1)
# What a session event may weigh: the instructions at the limit, escaped 3-fold, plus the rest.
SESSION_EVENT_BYTES = 3 * MAX_INSTRUCTIONS_BYTES + 1024


async def connected(client) -> None:
    await client.connect()
    await client.event("conversation.created")


def answers(client) -> int:
    return len(client.events_of("session.updated")) + len(client.events_of("error"))


# --- limits on what a client sets -----------------------------------------------------------


@pytest.mark.parametrize(
    ("instructions", "message"),
    [
        (OVER_THE_LIMIT, "limited to 16384 bytes of UTF-8"),
        ("é" * (MAX_INSTRUCTIONS_BYTES // 2 + 1), "limited to 16384 bytes of UTF-8"),
        ("Be brief.\x00", "control characters"),
        ("\x1b[31mred", "control characters"),
    ],
)
async def test_instructions_over_the_limit_get_an_error_and_the_session_goes_on(
    emulator, sdk_client, instructions, message
):
    await sdk_client.connect(instructions="Be brief.")
    await sdk_client.event("conversation.created")
    sdk_client.update_session(instructions=instructions, voice="nova")
    error = (await sdk_client.event("error"))["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "data.instructions")
    assert message in error["message"]
    assert not sdk_client.events_of("session.updated")
    session = emulator.registry.sessions[sdk_client.conversation_id]
    assert (session.params.instructions, session.params.voice) == ("Be brief.", "Sofía")
    # The session still works: updates apply, text is answered.
    sdk_client.update_session(instructions="Be kind.\n\tAlways.")
    updated = (await sdk_client.event("session.updated"))["session"]
    assert updated["instructions"] == "Be kind.\n\tAlways."
    sdk_client.send_text("still there?")
    assert (await sdk_client.event("response.output_item.done"))["text"] == "still there?"


async def test_instructions_at_the_limit_are_echoed_in_one_message(emulator, sdk_client):
    await connected(sdk_client)
    sdk_client.update_session(instructions=AT_THE_LIMIT)
    updated = await sdk_client.event("session.updated")
    assert updated["session"]["instructions"] == AT_THE_LIMIT
    size = len(json.dumps(updated))  # as the emulator encodes it: \u00e9, 6 bytes each
    assert MAX_INSTRUCTIONS_BYTES * 3 <= size <= SESSION_EVENT_BYTES < MAX_MESSAGE_BYTES


async def test_a_small_update_gets_a_small_reply_whatever_came_before(emulator, sdk_client):
    """The issue's amplification: 60 KB of instructions, then 37-byte updates echoing them."""
    await connected(sdk_client)
    sdk_client.update_session(instructions="x" * 60_000)
    await sdk_client.until(lambda: answers(sdk_client) == 1)
    small = json.dumps({"event": "session.update", "data": {"voice": "sage"}})
    assert len(small) < 64
    sdk_client.send(small)
    await sdk_client.until(lambda: answers(sdk_client) == 2)
    reply = sdk_client.events[-1]
    assert reply["type"] == "session.updated"
    assert len(json.dumps(reply)) <= SESSION_EVENT_BYTES


async def test_refused_values_are_quoted_short(emulator, sdk_client):
    await connected(sdk_client)
    for data in (
        {"model": "m" * 50_000},
        {"voice": "v" * 50_000},
        {"modalities": ["audio"] * 5_000},
        {"temperature": 10**4000},
    ):
        sdk_client.update_session(**data)
    sdk_client.send({"event": "e" * 50_000})
    await sdk_client.until(lambda: len(sdk_client.events_of("error")) == 5)
    for error in sdk_client.events_of("error"):
        assert len(error["error"]["message"]) < 1000, error["error"]["message"][:200]
    assert len(sdk_client.events_of("error")[2]["error"]["message"]) < 2 * SHOWN_CHARS + 100


# --- /calls ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"instructions": OVER_THE_LIMIT}, "params.instructions"),
        ({"instructions": "Hi\x07"}, "params.instructions"),
        ({"model": "m" * 200_000}, "params.model"),
        ({"voice": "v" * 200_000}, "params.voice"),
        ({"modalities": ["video"] * 50_000}, "params.modalities"),
    ],
)
async def test_calls_with_oversize_strings_are_400_and_keep_the_token(
    emulator, sdk_client, params, param
):
    token = await sdk_client.mint_token()
    offer = await sdk_client.offer()
    status, body = await sdk_client.post_call(token, offer, params)
    assert status == 400, body
    error = body["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "invalid_value",
        param,
    )
    assert len(error["message"]) < 1000  # the refused value is not echoed whole
    assert len(emulator.registry) == 0
    # The token was not spent: it opens the session.
    status, body = await sdk_client.post_call(token, offer, {"instructions": AT_THE_LIMIT})
    assert status == 200, body
    await sdk_client.apply_answer(body)
    created = await sdk_client.event("session.created")
    assert created["session"]["instructions"] == AT_THE_LIMIT


async def test_an_oversize_offer_type_is_400_and_not_echoed(emulator, sdk_client):
    token = await sdk_client.mint_token()
    offer = {**await sdk_client.offer(), "type": "t" * 200_000}
    status, body = await sdk_client.post_call(token, offer)
    assert status == 400 and body["error"]["param"] == "offer.type"
    assert len(body["error"]["message"]) < 200
    status, body = await sdk_client.post_call(token, await sdk_client.offer())
    assert status == 200, body


# --- the backlog of unsent events -----------------------------------------------------------


@pytest.mark.slow
async def test_a_client_that_sends_faster_than_it_reads_gets_errors_not_a_growing_backlog(
    emulator, sdk_client
):
    await connected(sdk_client)
    sdk_client.update_session(instructions="z" * MAX_INSTRUCTIONS_BYTES)
    await sdk_client.event("session.updated")
    burst = 300  # ~5 MB of echoes asked for at once, in 11 KB
    for _ in range(burst):
        sdk_client.update_session(voice="sage")
    await sdk_client.until(lambda: answers(sdk_client) == burst + 1, timeout=90)
    refused = [e for e in sdk_client.events_of("error")]
    assert refused and {e["error"]["code"] for e in refused} == {"rate_limit_exceeded"}
    state = await emulator.control("GET", f"/sessions/{sdk_client.conversation_id}")
    messages = state["messages"]
    assert messages["refused"] == len(refused) and messages["dropped"] == 0
    assert messages["backlog_peak"] <= BACKLOG_MAX_BYTES
    # Once the backlog drains, the session answers as before.
    sdk_client.update_session(voice="nova")
    await sdk_client.until(lambda: answers(sdk_client) == burst + 2)
    assert sdk_client.events[-1]["type"] == "session.updated"


# --- inspection records ---------------------------------------------------------------------


@pytest.mark.slow
async def test_2000_session_updates_keep_the_record_within_its_caps(emulator, sdk_client):
    await connected(sdk_client)
    instructions = "w" * 4096  # longer than the logs keep; echoes of 4 KiB keep the test short
    sdk_client.update_session(instructions=instructions)
    await sdk_client.event("session.updated")
    total, batch = 2000, 100  # 100 echoes at a time: well under the backlog limit
    for start in range(0, total, batch):
        for _ in range(batch):
            sdk_client.update_session(voice="sage")
        await sdk_client.until(lambda n=start + batch: answers(sdk_client) == n + 1, timeout=60)
    assert not sdk_client.events_of("error")

    state = await emulator.control("GET", f"/sessions/{sdk_client.conversation_id}")
    assert state["messages"]["in"] == total + 1
    events, history = state["events"], state["params_history"]
    assert json_size(events) <= EVENT_LOG_BYTES
    assert json_size(history) <= PARAMS_HISTORY_BYTES and len(history) <= PARAMS_HISTORY_SIZE
    # Both logs keep the newest entries and count the others.
    assert state["dropped"]["events"] == (total + 1) + (total + 3) - len(events)
    assert state["dropped"]["params_history"] == (total + 2) - len(history)
    assert history[-1]["params"]["instructions"] == "w" * LOG_TEXT + "…"
    assert state["params"]["instructions"] == instructions
    # The whole record: its caps, the SDPs and the current params, nothing else that grows.
    bound = (
        EVENT_LOG_BYTES
        + PARAMS_HISTORY_BYTES
        + json_size(state["sdp"])
        + json_size(state["params"])
        + 16 * 1024
    )
    assert json_size(state) <= bound


async def test_ended_records_are_capped_in_total_bytes(emulator, make_sdk_client):
    ended = emulator.registry.ended
    conversations = []
    for n in range(6):
        client = make_sdk_client(emulator, f"user{n}@example.com")
        await client.connect(instructions="v" * MAX_INSTRUCTIONS_BYTES)
        await client.event("conversation.created")
        for _ in range(20):
            client.send_text("t" * 4000)
        await client.event("response.output_item.done", index=19)
        conversations.append(client.conversation_id)
        await client.hangup()
        await emulator.ended(client.conversation_id)
        if n == 0:  # a cap with room for two records like this one, not three
            ended.max_bytes = int(2.5 * ended.bytes)

    status = await emulator.control("GET", "/status")
    kept = (await emulator.control("GET", "/sessions?state=ended"))["sessions"]
    ids = [s["conversation_id"] for s in kept]
    assert 0 < len(ids) < len(conversations)
    assert ids == conversations[-len(ids) :]  # the newest are kept, oldest first
    sizes = [json_size(await emulator.control("GET", f"/sessions/{c}")) for c in ids]
    assert sum(sizes) == status["sessions"]["ended_bytes"] <= ended.max_bytes
    assert status["sessions"]["ended_kept"] == len(ids)
    assert status["sessions"]["ended_dropped"] == len(conversations) - len(ids)
    await emulator.control("GET", f"/sessions/{conversations[0]}", expect=404)


async def test_the_status_reports_the_process(emulator, sdk_client):
    before = await emulator.control("GET", "/status")
    assert before["sessions"] == {"live": 0, "ended_kept": 0, "ended_bytes": 0, "ended_dropped": 0}
    assert before["tasks"] > 0 and before["fds"] > 0 and before["rss_bytes"] > 10 * 2**20
    await connected(sdk_client)
    during = await emulator.control("GET", "/status")
    assert during["sessions"]["live"] == 1 and during["fds"] > before["fds"]
