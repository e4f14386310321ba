"""The application factory: the services of Orga's API on the app, the emulator's own parts
(the control plane, the demo page) as nested apps under /_emulator/.

Every part is built here and hung off the app under the key its own module declares; startup and
cleanup hooks close what they opened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from emulator.config import SETTINGS, Settings
from emulator.control.app import PREFIX as CONTROL_PREFIX
from emulator.control.app import control_app, record_request
from emulator.control.inject import fault_middleware
from emulator.demo.app import add_demo
from emulator.http import health, openapi
from emulator.http.guard import SERVED_NAMES
from emulator.http.health import READINESS, Readiness
from emulator.http.middleware import make_middlewares
from emulator.http.routes import routes
from emulator.identity.clock import CLOCK, Clock
from emulator.identity.ids import IDS, IdFactory
from emulator.identity.tokens import LEDGER, TOKENS, TokenAuthority, TokenLedger
from emulator.identity.users import USERS, UserDirectory
from emulator.net import served_names
from emulator.rtc.registry import SESSIONS, SessionRegistry
from emulator.rtc.relay import RELAY, RelayService


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> web.Application:
    settings = settings or Settings()
    clock = clock or Clock()
    ids = IdFactory(settings.seed)
    app = web.Application(
        middlewares=make_middlewares(
            settings.cors_origin,
            settings.max_body_bytes,
            on_response=record_request,
            inner=[fault_middleware],
            cors_exempt=CONTROL_PREFIX,
        ),
        client_max_size=settings.max_body_bytes,
    )
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
    app[LEDGER] = TokenLedger(clock, settings.token_leeway)
    app[USERS] = UserDirectory.from_sources(settings.users)
    app[SESSIONS] = SessionRegistry(settings, ids, clock)
    app[RELAY] = RelayService(settings, clock)
    app[READINESS] = readiness = Readiness(*(["turn"] if settings.turn else []))
    readiness.expect("rtc", required=False)
    app[SESSIONS].loader.on_loaded.append(lambda: readiness.mark_ready("rtc"))
    app.add_routes(routes)
    app.add_routes(health.routes)
    app.add_routes(openapi.routes)
    app.add_subapp(CONTROL_PREFIX, control_app(app))
    add_demo(app)
    app.cleanup_ctx.append(_relay_ctx)
    app.on_shutdown.append(_close_sessions)
    return app


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
