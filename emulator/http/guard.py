"""What keeps a web page from driving the emulator's own endpoints under /_emulator/.

A browser on the developer's laptop reaches a loopback bind too. Those endpoints send no CORS
headers (http/middleware.py), so a page of another origin cannot read their answers or pass a
preflight; what is left is checked here, by the sub-apps' middlewares:

- the Host header, against the names this emulator serves (computed once, in SERVED_NAMES): a
  page that rebinds its own name to 127.0.0.1 (DNS rebinding) is same-origin to the browser,
  but its requests still carry its own name;
- the Content-Type of a POST: a page may send text/plain or a form to any origin without a
  preflight, but not application/json;
- the Origin of a request to the dev helper, which hands out tokens: only the emulator's own
  pages get one.
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import hdrs, web

from emulator.http import errors
from emulator.net import host_name

SERVED_NAMES = web.AppKey("served_names", frozenset)
JSON = ("application/json",)


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
