"""SDP fuzzing of POST /v1/realtime/calls (issue 13: every bad input a clean 4xx).

Hypothesis mutates the captured offers of fixtures/offers (their candidates rewritten to
loopback by tests/kit/offers.py): lines dropped, duplicated, swapped, cut; attribute values
replaced with garbage; random characters inserted. Every answer must be a 200 or a 4xx in the
contract's envelope, within a bounded time: never a 500, never a hang. Afterwards the emulator
has the descriptors, tasks and live sessions it had before.

A mutation can make a new address out of a candidate's (drop a '7' from 127.0.0.1 and it is
12.0.0.1): such examples are discarded, so every check the emulator's peer sends stays on this
machine.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import json
import os
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from emulator.config import DEV_API_KEY, Settings
from emulator.process.server import EmulatorServer
from emulator.rtc.registry import SESSIONS
from tests.kit import offers

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

T = TypeVar("T")
REQUEST_TIMEOUT = 20.0  # a request not answered by then is a hang
GARBAGE = [
    "", " ", "0", "-1", "65536", "99999999999999999999", "x" * 300, "\x00", "\x1b[2J", "::",
    "0.0.0.0", "255.255.255.255", "169.254.169.254", "fe80::1", "a.local", "sha-1", "md5",
    "ZZ:ZZ", "IN IP4", "IN IP9 1.2.3.4", "typ", "é", "\ud800", "%s%n", "{}", "a=b:c d",
]  # fmt: skip


class ThreadedEmulator:
    """The emulator's server on a loop in a thread of this process, so its tasks can be counted."""

    def __init__(self, settings: Settings) -> None:
        self.server = EmulatorServer(settings)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedEmulator:
        self._thread.start()
        self.call(self.server.start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(REQUEST_TIMEOUT)

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        """One request on a connection of its own, closed after it: (status, JSON body)."""
        url = urlsplit(self.server.base_url)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=REQUEST_TIMEOUT)
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            payload = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def state(self) -> tuple[int, int, int]:
        """Open descriptors of this process, tasks on the emulator's loop, live sessions."""

        async def count() -> tuple[int, int]:
            return len(asyncio.all_tasks()), len(self.server.app[SESSIONS])

        tasks, sessions = self.call(count())
        return len(os.listdir("/proc/self/fd")), tasks - 1, sessions  # less count() itself

    def settled(self, baseline: tuple[int, int, int], timeout: float = 10) -> tuple[int, int, int]:
        """The state once it is back to `baseline`, or as it is after `timeout`: the server's
        per-connection tasks end a moment after the client has its answer."""
        deadline = time.monotonic() + timeout
        state = self.state()
        while state != baseline and time.monotonic() < deadline:
            time.sleep(0.05)  # a bounded poll of a condition another thread changes
            state = self.state()
        return state


@pytest.fixture(scope="module")
def emulator() -> Any:
    with ThreadedEmulator(Settings(turn=False, ice_timeout=2.0)) as running:
        yield running


def mint(emulator: ThreadedEmulator) -> str:
    status, body = emulator.request(
        "POST", "/v1/realtime/client-secrets?email=fuzz@example.com", {}, token=DEV_API_KEY
    )
    assert status == 200, body
    return body["ephemeral_token"]


# --- mutations ------------------------------------------------------------------------------


# Lines worth more of the fuzzer's attention: what the emulator checks and aiortc trips on.
INTERESTING = ("m=", "c=", "a=mid", "a=group", "a=candidate", "a=ice-", "a=fingerprint", "a=setup")


@st.composite
def mutated_offer(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(offers.names()))
    lines = offers.offer_sdp(name).split("\r\n")
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            lines = draw(section_mutation(lines))
        elif lines:
            lines = draw(line_mutation(lines))
    sdp = "\r\n".join(lines)
    assume(only_loopback_candidates(sdp))
    return sdp


@st.composite
def line_mutation(draw: st.DrawFn, lines: list[str]) -> list[str]:
    lines = list(lines)
    interesting = [i for i, line in enumerate(lines) if line.startswith(INTERESTING)]
    i = draw(
        st.sampled_from(interesting)
        if interesting and draw(st.booleans())
        else st.integers(0, len(lines) - 1)
    )
    kind = draw(st.sampled_from(["drop", "duplicate", "swap", "value", "insert", "cut"]))
    if kind == "drop":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "swap":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "value":
        head, sep, _ = lines[i].partition(":") if ":" in lines[i] else lines[i].partition("=")
        value = draw(st.sampled_from(GARBAGE) | st.text(max_size=40))
        lines[i] = head + (sep or "=") + value
    elif kind == "insert":
        at = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:at] + draw(st.text(min_size=1, max_size=8)) + lines[i][at:]
    else:
        lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
    return lines


@st.composite
def section_mutation(draw: st.DrawFn, lines: list[str]) -> list[str]:
    """Whole media sections dropped, duplicated, swapped, or given another's mid."""
    starts = [i for i, line in enumerate(lines) if line.startswith("m=")]
    if not starts:
        return lines
    bounds = list(zip(starts, [*starts[1:], len(lines)], strict=True))
    head, media = lines[: starts[0]], [lines[a:b] for a, b in bounds]
    i = draw(st.integers(0, len(media) - 1))
    kind = draw(st.sampled_from(["drop", "duplicate", "swap", "same mid"]))
    if kind == "drop":
        del media[i]
    elif kind == "duplicate":
        media.insert(draw(st.integers(0, len(media))), list(media[i]))
    elif kind == "swap":
        j = draw(st.integers(0, len(media) - 1))
        media[i], media[j] = media[j], media[i]
    else:
        mid = next(
            (x for x in media[draw(st.integers(0, len(media) - 1))] if x.startswith("a=mid:")),
            "a=mid:0",
        )
        media[i] = [mid if x.startswith("a=mid:") else x for x in media[i]]
    return head + [line for section in media for line in section]


def only_loopback_candidates(sdp: str) -> bool:
    """Whether every address in the candidate lines is loopback (what may be contacted)."""
    for line in sdp.splitlines():
        if "candidate" not in line:
            continue
        for token in line.replace(":", " ").split() + line.split():
            try:
                address = ipaddress.ip_address(token)
            except ValueError:
                continue
            if not address.is_loopback:
                return False
    return True


# --- the test -------------------------------------------------------------------------------


def test_mutated_offers_get_200_or_a_4xx_envelope_and_leave_nothing(emulator):
    mint(emulator)  # the first calls load aiortc and open the keep-alive machinery
    emulator.request(
        "POST", "/v1/realtime/calls", {"offer": {"sdp": "v=0", "type": "offer"}}, mint(emulator)
    )
    baseline = emulator.settled(emulator.state(), timeout=1)
    statuses: dict[int, int] = {}

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    )
    @given(sdp=mutated_offer())
    def post(sdp: str) -> None:
        status, body = emulator.request(
            "POST",
            "/v1/realtime/calls",
            {"offer": {"sdp": sdp, "type": "offer", "candidates": []}},
            mint(emulator),
        )
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            assert body["answer"]["type"] == "answer"
            emulator.request("POST", "/_emulator/reset", {})  # closes the session it opened
            return
        assert 400 <= status < 500, (status, body)
        if status == 422:
            assert isinstance(body["detail"], list)
        else:
            assert set(body) == {"error"}, body
            assert body["error"]["type"] == "invalid_request_error"
            assert isinstance(body["error"]["message"], str) and body["error"]["message"]
            assert len(body["error"]["message"]) < 1000

    post()
    print("statuses:", statuses)
    assert sum(statuses.values()) >= 100
    assert emulator.settled(baseline) == baseline
