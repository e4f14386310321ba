"""What keeps a web page from driving the emulator's own endpoints under /_emulator/.

A browser on the developer's laptop reaches a loopback bind too. Those endpoints send no CORS
headers (http/middleware.py), so a page of another origin cannot read their answers or pass a
preflight; what is left is checked here, before each of the sub-apps' handlers (`guarded`):

- the Host header, against the names this emulator serves (computed once, in SERVED_NAMES): a
  page that rebinds its own name to 127.0.0.1 (DNS rebinding) is same-origin to the browser,
  but its requests still carry its own name;
- the Content-Type of a POST: a page may send text/plain or a form to any origin without a
  preflight, but not application/json;
- the Origin of a request to the dev helper, which hands out tokens: only the emulator's own
  pages get one.

The checks wrap the sub-apps' handlers rather than run as their middlewares: a middleware on
any app of the tree puts aiohttp's middleware chain on every request of the whole app, the
public API's too. A path under a sub-app's prefix that matches none of its routes is a 404 (or
405) for anyone: it changes nothing, and says nothing a page could use.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection, Iterable

from aiohttp import hdrs, web

from emulator.http import errors
from emulator.net import host_name

SERVED_NAMES = web.AppKey("served_names", frozenset)
JSON = ("application/json",)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Run before a guarded handler, which it is given (some handlers are exempt, or take another
# body type); it refuses a request by raising an ApiError.
Check = Callable[[web.Request, Handler], Awaitable[None]]


def guarded(routes: Iterable[web.AbstractRouteDef], *checks: Check) -> list[web.RouteDef]:
    """The route table with each handler behind `checks`, run in order."""
    guarded_routes = []
    for route in routes:
        if not isinstance(route, web.RouteDef):
            raise TypeError(f"only handler routes can be guarded, not {route!r}")
        guarded_routes.append(
            web.RouteDef(route.method, route.path, _behind(route.handler, checks), route.kwargs)
        )
    return guarded_routes


def _behind(handler: Handler, checks: tuple[Check, ...]) -> Handler:
    @functools.wraps(handler)
    async def guarded_handler(request: web.Request) -> web.StreamResponse:
        for check in checks:
            await check(request, handler)
        return await handler(request)

    return guarded_handler


def check_host(request: web.Request) -> None:
    """403 unless the Host header names this emulator (any port). A request without one is not
    a browser's, which always sends it."""
    host = request.headers.get(hdrs.HOST)
    if host is not None and host_name(host) not in request.config_dict[SERVED_NAMES]:
        raise errors.host_not_allowed(host)


def check_content_type(request: web.Request, accepted: Collection[str] = JSON) -> None:
    """415 unless the request's media type is one of `accepted` (parameters aside)."""
    given = request.headers.get(hdrs.CONTENT_TYPE, "")
    if given.partition(";")[0].strip().lower() not in accepted:
        raise errors.unsupported_media_type(given, accepted)


def check_same_origin(request: web.Request) -> None:
    """403 for a request a page of another origin made: an Origin header that is not this
    emulator's own (scheme and Host of the request), or Sec-Fetch-Site cross-site/same-site.
    A request with neither (curl, a page typed into the address bar) passes."""
    origin = request.headers.get(hdrs.ORIGIN)
    own = f"{request.scheme}://{request.headers.get(hdrs.HOST, request.host)}"
    if origin is not None and origin.lower() != own.lower():
        raise errors.cross_origin_refused(origin)
    if request.headers.get("Sec-Fetch-Site", "").lower() in ("cross-site", "same-site"):
        raise errors.cross_origin_refused(origin or "another site's page")
