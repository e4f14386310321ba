"""The application factory: every piece of state is built here and hangs off the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from emulator.config import Settings
from emulator.control.inject import fault_middleware
from emulator.control.setup import install, record_request
from emulator.demo.routes import routes as demo_routes
from emulator.http.keys import (
    CLOCK,
    IDS,
    LEDGER,
    READINESS,
    SESSIONS,
    SETTINGS,
    TOKENS,
    TURN,
    USERS,
    Readiness,
)
from emulator.http.middleware import make_middlewares
from emulator.http.routes import routes
from emulator.identity.clock import Clock
from emulator.identity.ids import IdFactory
from emulator.identity.tokens import TokenAuthority, TokenLedger
from emulator.identity.users import UserDirectory
from emulator.rtc.relay import TurnService
from emulator.rtc.session import SessionRegistry


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
        ),
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
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
    app[TURN] = TurnService(settings, clock)
    app[READINESS] = Readiness(*(["turn"] if settings.turn else []))
    app.add_routes(routes)
    app.add_routes(demo_routes)
    install(app, settings)
    app.cleanup_ctx.append(_turn_ctx)
    app.on_shutdown.append(_close_sessions)
    return app


async def _turn_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.turn:
        await app[TURN].start()
        app[READINESS].mark_ready("turn")
    elif settings.turn_host:
        app[TURN].use_external()
    yield
    await app[TURN].close()


async def _close_sessions(app: web.Application) -> None:
    await app[SESSIONS].close_all()
