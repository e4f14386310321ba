"""Cross-cutting HTTP behaviour: request ids, CORS, JSON errors, one access-log line each."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from emulator.http import errors
from emulator.http.keys import AUTH_FAILURE, CONVERSATION_ID, REQUEST_ID, TEST_ID
from emulator.process.logs import ACCESS_LOGGER

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Told of every response with its latency in ms (the control plane's request journal).
ResponseHook = Callable[[web.Request, web.StreamResponse, float], None]

access_log = logging.getLogger(ACCESS_LOGGER)
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


def make_middlewares(
    cors_origin: str,
    max_body_bytes: int,
    *,
    on_response: ResponseHook | None = None,
    inner: Sequence[Callable[..., Awaitable[web.StreamResponse]]] = (),
    cors_exempt: str | None = None,
) -> list:
    """The request middleware, then `inner` ones (whose errors it turns into JSON too).
    Paths under `cors_exempt` get no CORS headers and no preflight answer."""

    def finish(request: web.Request, response: web.StreamResponse, started: float) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        access_log.info(
            "%s %s %d %.1fms conversation_id=%s%s",
            request.method,
            request.rel_url.raw_path,  # as sent, percent-encoded (a %0a stays three characters)
            response.status,
            elapsed_ms,
            request.get(CONVERSATION_ID, "-"),
            f" auth_failure={request[AUTH_FAILURE]!r}" if AUTH_FAILURE in request else "",
        )
        if on_response is not None:
            on_response(request, response, elapsed_ms)

    # Unique within the process and cheap: a random prefix per app, then a counter.
    id_prefix, id_counter = secrets.token_hex(4), itertools.count(1)

    @web.middleware
    async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = request.headers.get("X-Request-Id", "")
        if not REQUEST_ID_PATTERN.fullmatch(request_id):  # a caller's id only if log-safe
            request_id = f"req_{id_prefix}{next(id_counter):08x}"
        request[REQUEST_ID] = request_id
        test_id = request.headers.get("X-Test-Id")
        if test_id and TEST_ID_PATTERN.fullmatch(test_id):  # only a log-safe id is kept
            request[TEST_ID] = test_id
        path = request.path
        exempt = cors_exempt is not None and (path + "/").startswith(cors_exempt + "/")
        cors = None if exempt else cors_origin
        try:
            response = await _respond(request, handler, cors, max_body_bytes)
        except asyncio.CancelledError:
            # The client went away and the server cancels handlers on disconnect: still one
            # log line (and journal entry), with nginx's "client closed request" status.
            finish(request, web.Response(status=CLIENT_CLOSED_REQUEST), started)
            raise
        response.headers["X-Request-Id"] = request_id
        if cors is not None:
            response.headers.update(cors_headers(request, cors))
        finish(request, response, started)
        return response

    return [request_middleware, *inner]


async def _respond(
    request: web.Request, handler: Handler, cors_origin: str | None, max_body_bytes: int
) -> web.StreamResponse:
    if (
        cors_origin is not None
        and request.method == "OPTIONS"
        and "Access-Control-Request-Method" in request.headers
    ):
        return _preflight(request, cors_origin)
    if (request.content_length or 0) > max_body_bytes:
        return errors.body_too_large(max_body_bytes).to_response()
    try:
        return await handler(request)
    except errors.ApiError as exc:
        return exc.to_response()
    except web.HTTPNotFound:
        return errors.route_not_found(request.path).to_response()
    except web.HTTPMethodNotAllowed as exc:
        return errors.method_not_allowed(request.method, exc.allowed_methods).to_response()
    except web.HTTPRequestEntityTooLarge:
        return errors.body_too_large(max_body_bytes).to_response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return errors.api_error(exc.status, exc.reason).to_response()
    except Exception:
        log.exception(
            "unhandled error in %s %s (request id %s)",
            request.method,
            request.path,
            request[REQUEST_ID],
        )
        return errors.internal_error(request[REQUEST_ID]).to_response()


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
