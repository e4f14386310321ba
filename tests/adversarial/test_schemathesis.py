"""schemathesis against both OpenAPI documents, on a live emulator (the pytest plugin's: the
whole emulator in a thread of this process, on real sockets).

For every generated request, valid or not: no 5xx, a status the document lists, a body matching
its schema, and any error in the contract's envelope (or FastAPI's 422 shape). Afterwards the
emulator holds no more file descriptors or tasks than before, and no session.

Public API: each operation runs twice, as generated (random or no credentials) and with valid
ones (the API key for client-secrets, a fresh ephemeral token for ice-config and calls), so
that both the refusals and what lies past the auth check are explored. Control plane: on an
emulator of its own (its faults would otherwise reach the public runs), without
POST /_emulator/reset (it ends every session; test_api_surface covers it) and without the
event feed GET /_emulator/events (a stream that never ends; tests/control/feed.py reads it).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from emulator.config import DEV_API_KEY, Settings
from emulator.control.routes import _package_file as control_file
from emulator.http.openapi import document
from emulator.rtc.registry import SESSIONS
from emulator.testing.pytest_plugin import RunningEmulator

pytestmark = pytest.mark.slow

PUBLIC = schemathesis.openapi.from_dict(json.loads(document()))
CONTROL_DOCUMENT = json.loads(control_file("openapi.json"))
CONTROL = (
    schemathesis.openapi.from_dict(CONTROL_DOCUMENT)
    .exclude(path="/_emulator/reset")
    .exclude(path="/_emulator/events")
)
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@schemathesis.check
def error_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error is the contract's envelope, or FastAPI's 422 shape."""
    if response.status_code < 400:
        return None
    body = json.loads(response.content)
    if response.status_code == 422 and "detail" in body:
        assert isinstance(body["detail"], list) and body["detail"], body
        return True
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["type"], str), body
    return True


def control_status_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """status_code_conformance, with 405 for a method the path does not have."""
    status = response.status_code
    operation = CONTROL_DOCUMENT["paths"][case.path].get(case.method.lower())
    if operation is None:  # a method the path does not have
        assert status == 405, f"{case.method} {case.path}: {status}, not 405"
        return True
    documented = operation["responses"]
    assert str(status) in documented, (
        f"{case.method} {case.path}: {status} is not documented ({', '.join(documented)})"
    )
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    error_envelope,
]
CONTROL_CHECKS = [
    not_a_server_error,
    control_status_documented,
    content_type_conformance,
    response_schema_conformance,
    error_envelope,
]


class Live:
    """An emulator in a thread, and what it holds, read on its own loop."""

    def __init__(self) -> None:
        self.emulator = RunningEmulator(Settings(port=0, turn_port=0)).start()
        self.http = requests.Session()
        # The WebRTC code loads on first use: loaded before the baseline, not counted as a leak.
        self.emulator._on_loop(self._app()[SESSIONS].loader.ready())
        self.baseline = self.holdings()

    def _app(self) -> Any:
        assert self.emulator.server is not None
        return self.emulator.server.app

    def holdings(self) -> dict[str, int]:
        async def tasks() -> int:
            return len(asyncio.all_tasks())

        return {
            "fds": len(os.listdir("/proc/self/fd")),
            "tasks": self.emulator._on_loop(tasks()),
            "sessions": len(self.emulator.sessions),
        }

    def token(self) -> str:
        response = self.http.post(
            self.emulator.base_url + "/v1/realtime/client-secrets",
            headers={"Authorization": f"Bearer {DEV_API_KEY}"},
        )
        return response.json()["ephemeral_token"]

    def assert_nothing_held(self) -> None:
        self.http.close()  # its kept-alive connections are ours, and the server's ends of them
        deadline = time.monotonic() + 10
        while (now := self.holdings()) != self.baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        assert now == self.baseline

    def stop(self) -> None:
        self.http.close()
        self.emulator.stop()


@pytest.fixture(scope="module")
def public() -> Iterator[Live]:
    live = Live()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def control() -> Iterator[Live]:
    live = Live()
    yield live
    live.stop()


@PUBLIC.parametrize()
@EXAMPLES
def test_public_api_as_generated(case: Any, public: Live) -> None:
    case.call_and_validate(base_url=public.emulator.base_url, session=public.http, checks=CHECKS)


@PUBLIC.parametrize()
@EXAMPLES
def test_public_api_with_valid_credentials(case: Any, public: Live) -> None:
    if case.path == "/v1/realtime/client-secrets":
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {DEV_API_KEY}"}
    elif case.path.startswith("/v1/"):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {public.token()}"}
    case.call_and_validate(base_url=public.emulator.base_url, session=public.http, checks=CHECKS)


def test_public_api_left_nothing_behind(public: Live) -> None:
    public.assert_nothing_held()


@CONTROL.parametrize()
@EXAMPLES
def test_control_plane(case: Any, control: Live) -> None:
    case.call_and_validate(
        base_url=control.emulator.base_url, session=control.http, checks=CONTROL_CHECKS
    )


def test_control_plane_left_nothing_behind(control: Live) -> None:
    control.assert_nothing_held()
