"""Cross-cutting HTTP behaviour: request ids, CORS, JSON errors, one access-log line each.

The request middleware runs around the whole app, outside aiohttp's middlewares: create_app()
hangs it off the app under REQUEST_MIDDLEWARE and the server (emulator/process/protocol.py)
calls it with the app's handler. No app of the tree has a middleware, so aiohttp calls each
handler directly instead of through its middleware chain (about 4 % of a request's cost).
Its answers to requests it refuses before routing (a preflight, a body too large, an injected
fault) go out without the app's on_response_prepare signals: headers that every answer must
carry are its RESPONSE_HEADERS.

A request's access line and journal entry are written at the end of the event loop's turn
that answered it, with the turn's others (AnsweredRequests).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
from asyncio import get_running_loop
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Protocol

from aiohttp import web

from emulator.http import errors
from emulator.http.exchange import EXCHANGE, Exchange
from emulator.http.health import Readiness
from emulator.process.logs import escape, log_access
from emulator.state.store import StateUnavailable

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Told of every response: its exchange, the request's method and path (decoded), the status and
# the latency in ms (the control plane's request journal).
ResponseHook = Callable[[Exchange, str, str, int, float], None]
# Asked before each handler (the control plane's fault injection): None lets the request
# through, an awaitable answers it instead. A plain call when nothing applies, so a request
# pays no middleware layer for it.
Interceptor = Callable[[web.Request, Handler], Awaitable[web.StreamResponse] | None]


class RequestMiddleware(Protocol):
    """Called with a request and the app's handler, as the server calls it."""

    def __call__(self, request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]: ...


REQUEST_MIDDLEWARE: web.AppKey[RequestMiddleware] = web.AppKey("request_middleware")
# Headers every answer carries besides its X-Request-Id (a worker names itself): set by the
# request middleware, on the answers it gives before routing too.
RESPONSE_HEADERS = web.AppKey("response_headers", dict)

log = logging.getLogger(__name__)

CORS_ALLOW_HEADERS = "Authorization, Content-Type, X-Test-Id"
CORS_MAX_AGE = "600"
CLIENT_CLOSED_REQUEST = 499
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
TEST_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:/\[\]-]{1,200}")


def cors_headers(request: web.Request, allowed_origin: str) -> dict[str, str]:
    origin = request.headers.get("Origin")
    if origin is None or (allowed_origin != "*" and origin != allowed_origin):
        return {}
    headers = {
        "Access-Control-Allow-Origin": allowed_origin,
        "Access-Control-Expose-Headers": "X-Request-Id",
    }
    if allowed_origin != "*":
        headers["Vary"] = "Origin"
    return headers


# What settle() needs of an answered request: the request, its exchange, method and path
# (decoded), status, and seconds taken.
Answer = tuple[web.Request, Exchange, str, str, int, float]


class AnsweredRequests:
    """The requests answered in this turn of the event loop, whose access lines and journal
    entries settle() writes at the turn's end, all together. Written one request at a time,
    between the requests' own work, the same code ran cold: it cost a client-secrets request
    about 5 % more CPU (bench/http_ab.py).

    settle() also runs before a control-plane request is let through, so the control plane
    reads (and clears, and sets the clock of) a journal that holds every request answered
    before it; and when the app cleans up. A turn's access lines are written after whatever
    else was logged during that turn."""

    def __init__(self, on_response: ResponseHook | None = None) -> None:
        self.waiting: list[Answer] = []  # appended to by the request middleware
        self._on_response = on_response

    def settle(self) -> None:
        waiting = self.waiting
        answers = waiting.copy()
        waiting.clear()
        on_response = self._on_response
        for request, exchange, method, path, status, seconds in answers:
            try:
                elapsed_ms = seconds * 1000
                failure = exchange.auth_failure
                # The request target as sent, percent-encoded (a %0a stays three characters),
                # less its query, is the one part a client chose (the parser admits only known
                # methods; repr() escapes the failure). escape()'s own test first, in line: it
                # holds for nearly all.
                raw_path = request.raw_path.partition("?")[0]
                if not (raw_path.isascii() and raw_path.isprintable()):
                    raw_path = escape(raw_path)
                log_access(
                    f"{method} {raw_path} {status} {elapsed_ms:.1f}ms "
                    f"conversation_id={exchange.conversation_id or '-'}"
                    f"{'' if failure is None else f' auth_failure={failure!r}'}"
                )
                if on_response is not None:
                    on_response(exchange, method, path, status, elapsed_ms)
            except Exception:  # one answer's failure costs the others nothing
                log.exception("could not log request %s", exchange.request_id)

    async def on_cleanup(self, app: web.Application) -> None:
        """The app's cleanup signal: what its last turns answered."""
        self.settle()


def make_request_middleware(
    cors_origin: str,
    max_body_bytes: int,
    readiness: Readiness,
    response_headers: dict[str, str],
    answered: AnsweredRequests,
    *,
    intercept: Interceptor | None = None,
    control_prefix: str | None = None,
) -> RequestMiddleware:
    """The request middleware, which asks `intercept` before each handler (and turns its
    errors into JSON too) and hands every answered request to `answered`. Paths under
    `control_prefix` (the control plane) get no CORS headers and no preflight answer, and
    settle what was answered before them. `readiness` is told when the shared state is found
    down. Every answer carries `response_headers` as they are when it is given."""

    # Unique within the process and cheap: a random prefix per app, then a counter.
    id_prefix, id_counter = secrets.token_hex(4), itertools.count(1)
    control_subpaths = None if control_prefix is None else control_prefix + "/"
    waiting, settle = answered.waiting, answered.settle

    async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = perf_counter()
        headers = request.headers
        request_id = headers.get("X-Request-Id")
        if request_id is None or not REQUEST_ID_PATTERN.fullmatch(request_id):
            request_id = f"req_{id_prefix}{next(id_counter):08x}"  # a caller's id if log-safe
        exchange = request[EXCHANGE] = Exchange(request_id)
        test_id = headers.get("X-Test-Id")
        if test_id and TEST_ID_PATTERN.fullmatch(test_id):  # only a log-safe id is kept
            exchange.test_id = test_id
        method, path = request.method, request.path
        cors: str | None = cors_origin
        if control_subpaths is not None and (
            path.startswith(control_subpaths) or path == control_prefix
        ):
            cors = None
            settle()
        status: int | None = None  # once known, the request is logged and journalled
        try:
            if (
                cors is not None
                and method == "OPTIONS"
                and "Access-Control-Request-Method" in headers
            ):
                response: web.StreamResponse = _preflight(request, cors)
            elif headers.get("Content-Length", "0") != "0" and (
                (request.content_length or 0) > max_body_bytes
            ):
                response = errors.body_too_large(max_body_bytes).to_response()
            else:
                try:
                    answer = None if intercept is None else intercept(request, handler)
                    response = await (handler(request) if answer is None else answer)
                except Exception as exc:
                    response = _error_response(request, exc, max_body_bytes, readiness)
            headers_out = response.headers
            headers_out["X-Request-Id"] = request_id
            if response_headers:
                headers_out.update(response_headers)
            if cors is not None and "Origin" in headers:
                headers_out.update(cors_headers(request, cors))
            status = response.status
            return response
        except asyncio.CancelledError:
            # The client went away and the server cancels handlers on disconnect: still one
            # log line (and journal entry), with nginx's "client closed request" status.
            status = CLIENT_CLOSED_REQUEST
            raise
        finally:
            if status is not None:
                if not waiting:  # the turn's first answer
                    get_running_loop().call_soon(settle)
                waiting.append((request, exchange, method, path, status, perf_counter() - started))

    return request_middleware


def _error_response(
    request: web.Request, exc: Exception, max_body_bytes: int, readiness: Readiness
) -> web.StreamResponse:
    """The JSON envelope for what a handler raised (called in its `except` block)."""
    if isinstance(exc, errors.ApiError):
        return exc.to_response()
    if isinstance(exc, StateUnavailable):  # the shared state (Redis) is down: retry later
        readiness.mark_down("state")
        log.warning("503 state_unavailable: %s", exc)
        return errors.state_unavailable(exc.label).to_response()
    if isinstance(exc, web.HTTPNotFound):
        return errors.route_not_found(request.path).to_response()
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return errors.method_not_allowed(request.method, exc.allowed_methods).to_response()
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return errors.body_too_large(max_body_bytes).to_response()
    if isinstance(exc, web.HTTPExpectationFailed):
        # aiohttp's answer to an Expect: header other than 100-continue, raised before the
        # handler; the body that may follow is never read, so the connection closes.
        response = errors.expectation_failed().to_response()
        response.force_close()
        return response
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return errors.api_error(exc.status, exc.reason).to_response()
    log.exception(
        "unhandled error in %s %s (request id %s)",
        request.method,
        request.path,
        request[EXCHANGE].request_id,
    )
    return errors.internal_error(request[EXCHANGE].request_id).to_response()


def _preflight(request: web.Request, cors_origin: str) -> web.Response:
    headers = cors_headers(request, cors_origin)
    if headers:
        headers.update(
            {
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                # Echo what the browser asks for: an emulator should not be the reason a
                # client's extra header fails.
                "Access-Control-Allow-Headers": request.headers.get(
                    "Access-Control-Request-Headers", CORS_ALLOW_HEADERS
                ),
                "Access-Control-Max-Age": CORS_MAX_AGE,
            }
        )
    return web.Response(status=204, headers=headers)
