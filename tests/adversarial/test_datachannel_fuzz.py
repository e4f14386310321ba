"""Data-channel fuzzing (issue 13): hypothesis-made messages over one real session.

The emulator runs as a process, so its fds, tasks and memory are its own; one aiortc client
(emulator.testing.client.OrgaClient) sends every example on the same data channel: random JSON
shapes, client events with wrong types, strings up to past the 64 KiB message limit, text that
is not JSON, binary messages, and text messages that are not valid UTF-8. Each message gets
exactly one answer, a normal event or an `error` in the contract's shape (never `server_error`),
the session lives through all of them, and afterwards the process has the fds, tasks, sessions
and memory it had before, within a small tolerance.
"""

from __future__ import annotations

import asyncio
import json
import string
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from emulator.testing.client import OrgaClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

MESSAGE_LIMIT = 64 * 1024
ANSWER_TIMEOUT = 20.0
EXAMPLES = 200
# Allowed drift between before and after, as the soak bench allows: fds and tasks exactly, RSS
# within what the allocator keeps of freed 64 KiB strings (measured: under 4 MiB).
RSS_TOLERANCE = 8 * 1024 * 1024
ERROR_TYPES = {"invalid_request_error"}
NORMAL = {
    "session.update": "session.updated",
    "conversation.item.create": "response.output_item.done",
}
PARAMS = ("model", "voice", "temperature", "instructions", "modalities", "return_transcription")
WEBRTC_STRING = 51  # the SCTP payload protocol id of a text message

# --- what a client may send --------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
# Long strings, now and then past the message limit (bounded: a few MB over the whole run).
long_strings = st.integers(0, MESSAGE_LIMIT + 4096).map(lambda n: "x" * n) | st.builds(
    lambda c, n: c * n, st.sampled_from(["é", "€", "😀", "\x00", "\\", '"']), st.integers(0, 20_000)
)
param_values = (
    json_values
    | long_strings
    | st.sampled_from(["orga-1-beta", "Sofía", "alloy", "audio", "video"])
    | st.lists(st.sampled_from(["audio", "video", "smell"]), max_size=4)
    | st.floats(0, 1)
)
session_data = st.dictionaries(st.sampled_from(PARAMS), param_values, max_size=4)
events = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["session.update", "conversation.item.create"])
        | st.text(max_size=30)
    },
    optional={
        "data": session_data
        | st.fixed_dictionaries({"text": st.text(max_size=200) | long_strings | json_values})
        | json_values
    },
)


def deep(n: int) -> str:
    return "[" * n + "]" * n


texts = (
    events.map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
    | st.integers(1, 20_000).map(deep)
    | st.integers(1, 900).map(
        lambda n: json.dumps({"event": "session.update", "data": {"x": 0}}).replace("0", deep(n))
    )
    | st.text(alphabet=string.printable, max_size=50).map(
        lambda t: '{"event": "session.update"' + t
    )
)
binary = st.binary(max_size=2048)


def _invalid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# Text messages whose bytes are not UTF-8: a browser never sends them, a hostile client may.
bad_utf8 = st.binary(min_size=1, max_size=200).filter(_invalid_utf8).map(lambda b: ("raw", b))
messages = texts | binary | bad_utf8


# --- one exchange --------------------------------------------------------------------------------


def send_raw_text(client: OrgaClient, data: bytes) -> None:
    """A text message of arbitrary bytes (aiortc's own send() encodes only valid UTF-8)."""
    channel = client.channel
    assert channel is not None
    sctp = channel.transport
    sctp._data_channel_queue.append((channel, WEBRTC_STRING, data))
    asyncio.ensure_future(sctp._data_channel_flush())


def expected_type(message: Any) -> str | None:
    """The normal answer a message may get instead of an error, if any."""
    if not isinstance(message, str):
        return None
    try:
        body = json.loads(message)
    except (ValueError, RecursionError):
        return None
    name = body.get("event") if isinstance(body, dict) else None
    return NORMAL.get(name) if isinstance(name, str) else None


async def exchange(client: OrgaClient, message: Any) -> dict[str, Any]:
    """Send one message; its one answer."""
    before = len(client.events)
    if isinstance(message, tuple):
        send_raw_text(client, message[1])
    else:
        client.send(message)
    await client.until(lambda: len(client.events) > before, ANSWER_TIMEOUT, "an answer")
    # Anything more would be a second answer: give it the time of a round trip to show up.
    client.send({"event": "session.update", "data": {}})
    await client.until(lambda: len(client.events) > before + 1, ANSWER_TIMEOUT, "the marker")
    answers = client.events[before:]
    assert len(answers) == 2 and answers[1]["type"] == "session.updated", answers
    return answers[0]


def check_answer(message: Any, answer: dict[str, Any]) -> None:
    assert isinstance(answer.get("event_id"), str), answer
    if answer["type"] == "error":
        error = answer["error"]
        assert set(error) == {"type", "code", "message", "param"}, error
        assert error["type"] in ERROR_TYPES, error  # server_error would be a bug of ours
        assert isinstance(error["message"], str) and 0 < len(error["message"]) < 1024, error
        assert error["param"] is None or isinstance(error["param"], str)
    else:
        assert answer["type"] == expected_type(message), (message, answer)
    assert len(json.dumps(answer)) <= MESSAGE_LIMIT


# --- the process ---------------------------------------------------------------------------------


async def process_state(http: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    async with http.get(base_url + "/_emulator/status") as resp:
        assert resp.status == 200
        return await resp.json()


async def session_state(http: aiohttp.ClientSession, base_url: str, conversation_id: str) -> str:
    async with http.get(f"{base_url}/_emulator/sessions/{conversation_id}") as resp:
        return (await resp.json())["state"]


async def settled(
    http: aiohttp.ClientSession, base_url: str, baseline: dict[str, Any]
) -> dict[str, Any]:
    """The process state once its tasks and fds are back where they were (aiortc's per-send
    flush tasks end within a round trip), or the last state seen after a few seconds."""
    state = await process_state(http, base_url)
    for _ in range(50):
        if (state["tasks"], state["fds"]) == (baseline["tasks"], baseline["fds"]):
            break
        await asyncio.sleep(0.1)
        state = await process_state(http, base_url)
    return state


def test_every_message_gets_one_answer_and_nothing_leaks(emulator_process):
    emulator = emulator_process("--no-turn", "--log-level", "warning")
    base_url = emulator.base_url
    # One loop for the whole run, driven between examples: aiortc binds its objects to the loop
    # they are made in, so the client is made in it too.
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    http, client = run(_client(base_url))
    try:
        conversation_id = run(client.connect())
        run(client.event("conversation.created"))
        # Warm up with the largest messages of each kind, so the heap has its working size.
        for message in (
            json.dumps({"event": "session.update", "data": {"instructions": "x" * 16_384}}),
            json.dumps({"event": "session.update", "data": {"instructions": "x" * 60_000}}),
            "y" * (MESSAGE_LIMIT + 10),
            json.dumps({"event": "conversation.item.create", "data": {"text": "z" * 4096}}),
        ):
            run(exchange(client, message))
        baseline = run(settled(http, base_url, run(process_state(http, base_url))))
        seen: list[int] = [0]

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(message=messages)
        @example(message=("raw", b"\xff\xfe{"))
        @example(message=("raw", b'{"event": "session.update", "data": {"voice": "\xc3"}}'))
        @example(message=b"\x00\x01binary")
        @example(message=b"")
        @example(message="")
        @example(message=deep(50_000)[: MESSAGE_LIMIT - 1])
        def one(message: Any) -> None:
            seen[0] += 1
            check_answer(message, run(exchange(client, message)))

        one()
        assert seen[0] >= EXAMPLES
        assert run(session_state(http, base_url, conversation_id)) == "connected"
        after = run(settled(http, base_url, baseline))
        assert after["sessions"]["live"] == baseline["sessions"]["live"] == 1
        assert after["fds"] == baseline["fds"], (baseline, after)
        assert after["tasks"] == baseline["tasks"], (baseline, after)
        assert after["rss_bytes"] - baseline["rss_bytes"] <= RSS_TOLERANCE, (baseline, after)
        # The session still does its job.
        assert run(_ask(client, "still there?")) == "still there?"
    finally:
        run(client.hangup())
        run(http.close())
        loop.close()


async def _client(base_url: str) -> tuple[aiohttp.ClientSession, OrgaClient]:
    http = aiohttp.ClientSession()
    client = OrgaClient(base_url, http=http)
    client.prepare(ice_servers=[])
    return http, client


async def _ask(client: OrgaClient, text: str) -> str:
    """Text in, the reply's text out (sent from within the loop, as aiortc needs)."""
    done = len(client.events_of("response.output_item.done"))
    client.send_text(text)
    return (await client.event("response.output_item.done", index=done))["text"]
