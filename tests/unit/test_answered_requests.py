"""The request middleware hands each answered request to AnsweredRequests, which logs and
journals a turn's answers at the turn's end, all together; a control-plane request first
settles the answers before it."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from emulator.http.exchange import Exchange
from emulator.http.health import Readiness
from emulator.http.middleware import AnsweredRequests, make_request_middleware

CONTROL = "/_emulator"


class Recorder:
    """A response hook that keeps what it is told, as the control plane's journal does."""

    def __init__(self, fail_for: str | None = None) -> None:
        self.rows: list[tuple[str, str, int]] = []
        self._fail_for = fail_for

    def __call__(self, exchange: Exchange, method: str, path: str, status: int, ms: float) -> None:
        if path == self._fail_for:
            raise RuntimeError("the journal is broken")
        self.rows.append((method, path, status))


def _middleware(recorder: Recorder) -> tuple[AnsweredRequests, object]:
    answered = AnsweredRequests(on_response=recorder)
    middleware = make_request_middleware(
        "*", 1024, Readiness(), {}, answered, control_prefix=CONTROL
    )
    return answered, middleware


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _turn_passed() -> None:
    """Returns once the callbacks scheduled before it have run (settle() among them)."""
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(done.set_result, None)
    await done


async def test_a_turns_answers_are_journalled_together_at_its_end():
    recorder = Recorder()
    answered, middleware = _middleware(recorder)
    for path in ("/v1/realtime/client-secrets", "/v1/realtime/ice-config"):
        await middleware(make_mocked_request("POST", path), _ok)  # type: ignore[operator]
    assert recorder.rows == [] and len(answered.waiting) == 2
    await _turn_passed()
    assert recorder.rows == [
        ("POST", "/v1/realtime/client-secrets", 200),
        ("POST", "/v1/realtime/ice-config", 200),
    ]
    assert answered.waiting == []


async def test_a_control_plane_request_sees_every_request_answered_before_it():
    recorder = Recorder()
    _, middleware = _middleware(recorder)
    seen: list[list[tuple[str, str, int]]] = []

    async def journal(request: web.Request) -> web.Response:
        seen.append(list(recorder.rows))
        return web.Response(text="[]")

    # No turn passes between the two: the handlers never wait.
    await middleware(make_mocked_request("POST", "/v1/realtime/client-secrets"), _ok)  # type: ignore[operator]
    await middleware(make_mocked_request("GET", f"{CONTROL}/requests"), journal)  # type: ignore[operator]
    assert seen == [[("POST", "/v1/realtime/client-secrets", 200)]]


async def test_one_answer_that_cannot_be_journalled_costs_the_others_nothing(caplog):
    recorder = Recorder(fail_for="/v1/realtime/ice-config")
    _, middleware = _middleware(recorder)
    paths = ("/v1/realtime/ice-config", "/v1/realtime/client-secrets", "/v1/realtime/calls")
    for path in paths:
        await middleware(make_mocked_request("POST", path), _ok)  # type: ignore[operator]
    with caplog.at_level(logging.ERROR, logger="emulator.http.middleware"):
        await _turn_passed()
    assert recorder.rows == [
        ("POST", "/v1/realtime/client-secrets", 200),
        ("POST", "/v1/realtime/calls", 200),
    ]
    [failure] = [r for r in caplog.records if r.name == "emulator.http.middleware"]
    assert "the journal is broken" in failure.exc_text


@pytest.mark.parametrize("status", [200, 404])
async def test_the_apps_cleanup_settles_what_is_still_waiting(status):
    recorder = Recorder()
    answered, middleware = _middleware(recorder)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status)

    await middleware(make_mocked_request("POST", "/v1/realtime/calls"), handler)  # type: ignore[operator]
    await answered.on_cleanup(web.Application())
    assert recorder.rows == [("POST", "/v1/realtime/calls", status)]
