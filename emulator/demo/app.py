"""For humans and for the browser suite: the demo page and its dev helper.

- `GET /` (on the main app) is the demo page, or the JSON index of endpoints for a client that
  asks for `application/json`.
- `/_emulator/demo/` (a sub-app) serves the page's files (plain HTML and JS from
  `emulator/demo/static/`, no build step) and `voices.json`, the voice catalogue for its list.
- `/_emulator/dev/session-config` (a sub-app) does what an app's backend does with
  `@orga-ai/node`: it mints an ephemeral token with the first configured API key and returns
  `{ephemeralToken, iceServers}`, the shape `getSessionConfig()` returns and `@orga-ai/core`'s
  `sessionConfigEndpoint` expects (so GET works too). It hands out tokens to anyone who can reach
  it, so it is on by default only when the emulator is bound to a loopback address, and it
  answers only the emulator's own pages (http/guard.py).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from emulator import __version__
from emulator.ai import voices
from emulator.config import SETTINGS, Settings
from emulator.http import errors, guard
from emulator.http.auth import GRANTS
from emulator.net import is_loopback_host
from emulator.rtc.relay import RELAY

DEMO_PREFIX = "/_emulator/demo"
DEV_PREFIX = "/_emulator/dev"
DEV_EMAIL = "dev@orga-emulator.local"
# The files the page is made of; anything else under the prefix is a 404.
STATIC_FILES = {
    "demo.html": "text/html",
    "demo.js": "text/javascript",
    "demo.css": "text/css",
}

index_routes = web.RouteTableDef()
demo_routes = web.RouteTableDef()
dev_routes = web.RouteTableDef()


def endpoint_index() -> dict[str, Any]:
    return {
        "name": "orga-emulator",
        "version": __version__,
        "endpoints": {
            "POST /v1/realtime/client-secrets[?email=EMAIL]": "API key -> ephemeral token",
            "GET /v1/realtime/ice-config": "ephemeral token -> STUN/TURN servers",
            "POST /v1/realtime/calls": "SDP offer -> SDP answer and conversation_id",
            "GET /healthz": "liveness",
            "GET /readyz": "readiness (TURN included)",
            "GET /": "the demo page (this index with Accept: application/json)",
            "POST /_emulator/dev/session-config": "dev only: {ephemeralToken, iceServers}",
            "GET /_emulator/sessions/{conversation_id}": "a session's state and parameters",
            "GET /_emulator/": "control plane dashboard (API: /_emulator/openapi.json)",
        },
        "docs": "README.md and docs/ in the orga-emulator repository",
    }


@index_routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    """The demo page for a browser; the JSON index for a client that prefers JSON."""
    if _prefers_json(request.headers.get("Accept", "")):
        return web.json_response(endpoint_index())
    return _static("demo.html")


def _prefers_json(accept: str) -> bool:
    # Browsers send text/html first; curl sends */*, which also gets the page.
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return "application/json" in types and "text/html" not in types


# --- /_emulator/demo/ -------------------------------------------------------------------------


@demo_routes.get("/voices.json")
async def demo_voices(request: web.Request) -> web.Response:
    """The voice catalogue for the page's list, and the current SDKs' default voice."""
    return web.json_response(
        {"default": voices.DEFAULT, "voices": [voice.to_json() for voice in voices.CATALOGUE]}
    )


@demo_routes.get("/{name}")
async def demo_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise errors.route_not_found(request.path)
    return _static(name)


def _static(name: str) -> web.Response:
    body = resources.files("emulator.demo.static").joinpath(name).read_bytes()
    return web.Response(
        body=body,
        content_type=STATIC_FILES[name],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


# --- /_emulator/dev/ --------------------------------------------------------------------------


def dev_endpoints_enabled(settings: Settings) -> bool:
    """`--dev-endpoints on|off`, or with `auto` only on a loopback bind (what only you reach)."""
    if settings.dev_endpoints != "auto":
        return settings.dev_endpoints == "on"
    return is_loopback_host(settings.host)


async def dev_endpoints_gate(request: web.Request, handler: guard.Handler) -> None:
    if not dev_endpoints_enabled(request.config_dict[SETTINGS]):
        raise errors.api_error(
            403,
            "The dev endpoints are off: the emulator is not bound to a loopback address. "
            "Start it with --dev-endpoints on to enable them.",
            code="dev_endpoints_disabled",
        )


async def own_pages_only(request: web.Request, handler: guard.Handler) -> None:
    """The dev helper hands out tokens without a key, so only to this emulator's own pages: on a
    loopback bind, Host must name this emulator (DNS rebinding); everywhere, a request from a
    page of another origin is refused."""
    if is_loopback_host(request.config_dict[SETTINGS].host):
        guard.check_host(request)
    guard.check_same_origin(request)


@dev_routes.route("*", "/session-config")
async def dev_session_config(request: web.Request) -> web.Response:
    """What a backend gets from `@orga-ai/node`'s getSessionConfig(), without the backend."""
    if request.method not in ("GET", "POST"):
        raise errors.method_not_allowed(request.method, {"GET", "POST"})
    config = request.config_dict
    email = request.query.get("email", DEV_EMAIL)
    issued = config[GRANTS].issue_for(request, config[SETTINGS].api_keys[0], email)
    return web.json_response(
        {
            "ephemeralToken": issued.token,
            "iceServers": config[RELAY].ice_servers(issued.claims),
            "expiresAt": issued.expires_at,
        }
    )


def add_demo(app: web.Application) -> None:
    """The page at /, its files and voices at /_emulator/demo/, its helper at /_emulator/dev/."""
    app.add_routes(index_routes)
    files = web.Application()
    files.add_routes(demo_routes)
    app.add_subapp(DEMO_PREFIX, files)
    dev = web.Application()
    dev.add_routes(guard.guarded(dev_routes, dev_endpoints_gate, own_pages_only))
    app.add_subapp(DEV_PREFIX, dev)
