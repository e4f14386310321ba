"""Connecting the control plane to the app: state, hooks, routes, the request journal."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from emulator.config import ConfigError, Settings
from emulator.control.inject import session_preparer, turn_hook
from emulator.control.plane import ControlPlane
from emulator.control.routes import routes
from emulator.control.scenarios import ScenarioError, load_file
from emulator.http.keys import (
    CLOCK,
    CONTROL,
    CONVERSATION_ID,
    FAULT_ID,
    REQUEST_ID,
    SESSIONS,
    TEST_ID,
    TOKENS,
    TURN,
)
from emulator.rtc.session import RealtimeSession


def install(app: web.Application, settings: Settings) -> ControlPlane:
    """Build the control plane, connect it to the app's parts and add its routes."""
    control = ControlPlane(app[CLOCK], settings.seed)
    if settings.scenario:
        try:
            control.scenarios = type(control.scenarios)(load_file(settings.scenario))
        except ScenarioError as exc:
            raise ConfigError(
                f"--scenario {settings.scenario}: {exc.param}: {exc.message}"
            ) from None
    app[CONTROL] = control
    app[TOKENS].on_mint = control.tokens.minted
    registry = app[SESSIONS]
    registry.on_open.append(session_preparer(control))
    registry.observer = _session_observer(control)
    app[TURN].fault_hook = turn_hook(control)
    app.add_routes(routes)
    app.on_shutdown.append(_close_feed)
    return control


async def _close_feed(app: web.Application) -> None:
    app[CONTROL].feed.close()


def _session_observer(
    control: ControlPlane,
) -> Callable[[str, RealtimeSession, dict[str, Any]], None]:
    def observe(kind: str, session: RealtimeSession, data: dict[str, Any]) -> None:
        if kind == "fault":
            return  # published by inject.record already
        control.feed.publish(
            f"session.{kind}" if kind == "datachannel" else kind,
            {
                "conversation_id": session.conversation_id,
                "test_id": session.token.get("test_id"),
                **data,
            },
        )

    return observe


def record_request(request: web.Request, response: web.StreamResponse, elapsed_ms: float) -> None:
    """The middleware's response hook: one journal entry per API request (control routes and
    the demo page's files are not journalled)."""
    path = request.path
    if path.startswith("/_emulator/"):
        return
    control = request.app.get(CONTROL)
    if control is None:
        return
    entry = {
        "at": time.time(),
        "request_id": request[REQUEST_ID],
        "method": request.method,
        "path": path,
        "status": response.status,
        "latency_ms": round(elapsed_ms, 1),
        "conversation_id": request.get(CONVERSATION_ID),
        "test_id": request.get(TEST_ID),
        "fault": request.get(FAULT_ID),
    }
    control.requests.record(entry)
    control.feed.publish("request", entry)
