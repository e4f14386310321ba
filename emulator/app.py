"""The application factory: the services of Orga's API on the app, the emulator's own parts
(the control plane, the demo page) as nested apps under /_emulator/.

Every part is built here and hung off the app under the key its own module declares; startup and
cleanup hooks close what they opened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from emulator.config import SETTINGS, ConfigError, Settings
from emulator.control.app import PREFIX as CONTROL_PREFIX
from emulator.control.app import control_app, request_recorder
from emulator.control.inject import fault_interceptor
from emulator.control.plane import CONTROL
from emulator.control.replica import REPLICA
from emulator.demo.app import add_demo
from emulator.http import health, openapi, routes
from emulator.http.auth import GRANTS, Grants
from emulator.http.guard import SERVED_NAMES
from emulator.http.health import READINESS, Readiness
from emulator.http.middleware import (
    REQUEST_MIDDLEWARE,
    RESPONSE_HEADERS,
    AnsweredRequests,
    make_request_middleware,
)
from emulator.identity.clock import CLOCK, Clock
from emulator.identity.ids import IDS, IdFactory
from emulator.identity.tokens import LEDGER, TOKENS, TokenAuthority
from emulator.identity.users import USERS, UserDirectory
from emulator.net import served_names
from emulator.rtc.registry import SESSIONS, SessionRegistry
from emulator.rtc.relay import RELAY, RelayService
from emulator.state.backends import open_state
from emulator.state.memory import MemoryState
from emulator.state.store import STATE, SharedState, StateUrlError, check_url


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> web.Application:
    settings = settings or Settings()
    clock = clock or Clock()
    ids = IdFactory(settings.seed)
    state = _open_state(settings, clock)
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[SERVED_NAMES] = served_names(settings.host, settings.advertised_ip, *settings.tls_names)
    app[IDS] = ids
    app[TOKENS] = TokenAuthority(
        settings.signing_secret,
        issuer=settings.issuer,
        ttl=settings.token_ttl,
        leeway=settings.token_leeway,
        clock=clock,
        ids=ids,
    )
    app[STATE] = state
    if isinstance(state, MemoryState):
        app[LEDGER] = state.ledger  # the memory backend's claims, as before
    app[USERS] = UserDirectory.from_sources(settings.users)
    app[GRANTS] = Grants(settings.api_keys, app[USERS], app[TOKENS])
    app[SESSIONS] = SessionRegistry(settings, ids, clock)
    app[RELAY] = RelayService(settings, clock)
    app[READINESS] = readiness = Readiness(*(["turn"] if settings.turn else []))
    readiness.expect("rtc", required=False)
    if state.shared:
        readiness.expect("state")
    app[SESSIONS].loader.on_loaded.append(lambda: readiness.mark_ready("rtc"))
    routes.add_routes(app)
    app.add_routes(health.routes)
    app.add_routes(openapi.routes)
    app.cleanup_ctx.append(_state_ctx)  # before the control plane's, which uses it
    app.add_subapp(CONTROL_PREFIX, control_app(app))
    control = app[CONTROL]  # the request middleware reports to it, so it comes after
    # Run by the server around the app, not in app.middlewares (http/middleware.py says why).
    app[RESPONSE_HEADERS] = {}
    answered = AnsweredRequests(on_response=request_recorder(control))
    app[REQUEST_MIDDLEWARE] = make_request_middleware(
        settings.cors_origin,
        settings.max_body_bytes,
        readiness,
        app[RESPONSE_HEADERS],
        answered,
        # With shared state the faults check also reads it through (one round trip).
        intercept=fault_interceptor(control, app.get(REPLICA)),
        control_prefix=CONTROL_PREFIX,
    )
    # First of the cleanup: the last answers are journalled before the state closes.
    app.on_cleanup.insert(0, answered.on_cleanup)
    add_demo(app)
    app.cleanup_ctx.append(_relay_ctx)
    app.on_shutdown.append(_close_sessions)
    return app


def _open_state(settings: Settings, clock: Clock) -> SharedState:
    try:
        url = check_url(settings.state)
    except StateUrlError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return open_state(url, clock, leeway=settings.token_leeway, prefix=settings.state_prefix)
    except ImportError:
        raise ConfigError(
            f"--state {settings.state.split('://')[0]}://...: the redis package is missing; "
            "install redis (pip install redis)"
        ) from None


async def _state_ctx(app: web.Application) -> AsyncIterator[None]:
    """Connect to the shared state (a backend that is down is retried, not fatal: /readyz
    names it until it answers) and close the connection last."""
    state = app[STATE]
    await state.start()
    yield
    await state.close()


async def _relay_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.turn:
        await app[RELAY].start()
        app[READINESS].mark_ready("turn")
    elif settings.turn_host:
        app[RELAY].use_external()
    yield
    await app[RELAY].close()


async def _close_sessions(app: web.Application) -> None:
    await app[SESSIONS].close_all()
