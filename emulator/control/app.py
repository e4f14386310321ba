"""The control plane's sub-app, and its seams into the main app: the token journal (on_mint),
the session hooks (on_open, observer), TURN faults, and the request journal."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.config import SETTINGS, ConfigError
from emulator.control.inject import session_preparer, turn_hook
from emulator.control.journal import as_entry, short_path
from emulator.control.plane import CONTROL, ControlPlane
from emulator.control.replica import REPLICA, Replica
from emulator.control.routes import admin_only, json_posts, routes, served_host_only, synced
from emulator.control.scenarios import ScenarioBook, ScenarioError, load_file
from emulator.http.exchange import Exchange
from emulator.http.guard import guarded
from emulator.http.health import READINESS
from emulator.http.middleware import ResponseHook
from emulator.identity.clock import CLOCK
from emulator.identity.ids import IDS
from emulator.identity.tokens import TOKENS
from emulator.rtc.registry import SESSIONS
from emulator.rtc.relay import RELAY
from emulator.state.store import STATE

if TYPE_CHECKING:
    from emulator.rtc.session import RealtimeSession


def control_app(app: web.Application) -> web.Application:
    """The control plane for /_emulator/: its state (on the main app, where the fault
    middleware and the request journal need it), its seams into the main app's parts, and its
    routes as a sub-app, each behind the Host, admin and content-type checks."""
    settings = app[SETTINGS]
    control = ControlPlane(app[CLOCK], settings.seed)
    if settings.scenario:
        try:
            control.scenarios = ScenarioBook(load_file(settings.scenario))
        except ScenarioError as exc:
            raise ConfigError(
                f"--scenario {settings.scenario}: {exc.param}: {exc.message}"
            ) from None
    app[CONTROL] = control
    registry = app[SESSIONS]
    replica = None
    if app[STATE].shared:
        replica = Replica(app[STATE], control, app[CLOCK], registry, app[READINESS], app[IDS])
        app[REPLICA] = replica
        app.cleanup_ctx.append(_heartbeat_ctx)
    app[TOKENS].on_mint = control.tokens.append  # after the replica has set the journal's sink
    registry.on_open.append(session_preparer(control, replica))
    registry.observer = _session_observer(control, replica)
    app[RELAY].fault_hook = turn_hook(control, replica)
    app.on_shutdown.append(_close_feed)
    checks = (served_host_only, admin_only, json_posts)
    sub = web.Application()
    sub.add_routes(guarded(routes, *checks, synced) if replica else guarded(routes, *checks))
    return sub


async def _close_feed(app: web.Application) -> None:
    app[CONTROL].feed.close()


async def _heartbeat_ctx(app: web.Application) -> AsyncIterator[None]:
    """With shared state: join and sync before serving (if the state answers), then heartbeat
    until cleanup."""
    replica = app[REPLICA]
    with contextlib.suppress(Exception):
        await replica.sync()
    beat = asyncio.ensure_future(replica.run())
    yield
    beat.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await beat


def _session_observer(
    control: ControlPlane, replica: Replica | None
) -> Callable[[str, RealtimeSession, dict[str, Any]], None]:
    def observe(kind: str, session: RealtimeSession, data: dict[str, Any]) -> None:
        if kind == "fault":
            return  # published by inject.record already
        if replica is not None and kind in ("session.started", "session.ended"):
            replica.poke()  # every replica's list shows it at once
        if kind == "session.started":
            control.tokens.consumed(str(session.token["jti"]), session.conversation_id)
        control.feed.publish(
            f"session.{kind}" if kind == "datachannel" else kind,
            {
                "conversation_id": session.conversation_id,
                "test_id": session.token.get("test_id"),
                **data,
            },
        )

    return observe


PREFIX = "/_emulator"  # where create_app() mounts the control plane
PATHS_SHARED = 1024
_CONTROL_PATHS = PREFIX + "/"


def request_recorder(control: ControlPlane) -> ResponseHook:
    """The request middleware's response hook: one journal entry per API request (control
    routes and the demo page's files are not journalled)."""
    clock, journal, feed = control.clock, control.requests, control.feed
    # The paths journalled so far (bounded), each kept as one string for all its rows: a
    # string kept per request was a good part of what the journal cost a request.
    paths: dict[str, str] = {}

    def record(exchange: Exchange, method: str, path: str, status: int, elapsed_ms: float) -> None:
        if path.startswith(_CONTROL_PATHS):
            return
        kept = paths.get(path)
        if kept is None:
            kept = short_path(path)
            if len(paths) < PATHS_SHARED:
                paths[path] = kept
        row = (
            clock.time(),
            exchange.request_id,
            method,
            kept,
            status,
            elapsed_ms,
            exchange.conversation_id,
            exchange.test_id,
            exchange.fault_id,
        )
        journal.append(row)
        if feed.wanted and feed.reaches_anyone():
            feed.publish("request", as_entry(row))

    return record
