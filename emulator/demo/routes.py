"""For humans and for the browser suite: the demo page and its dev helper.

- `GET /` is the demo page (plain HTML and JS from `emulator/static/`, no build step), or the
  JSON index of endpoints for a client that asks for `application/json`.
- `POST /_emulator/dev/session-config` does what an app's backend does with `@orga-ai/node`:
  it mints an ephemeral token with the first configured API key and returns
  `{ephemeralToken, iceServers}`, the shape `getSessionConfig()` returns and `@orga-ai/core`'s
  `sessionConfigEndpoint` expects (so GET works too). It hands out tokens to anyone who can reach
  it, so it is on by default only when the emulator is bound to a loopback address.

Session inspection (`GET /_emulator/sessions/{conversation_id}`) lives in the control plane
(emulator/control/routes.py) with the rest of /_emulator/.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from emulator import __version__
from emulator.ai import voices
from emulator.config import Settings
from emulator.http import errors
from emulator.http.auth import api_key_id
from emulator.http.keys import SETTINGS, TOKEN_JTI, TOKENS, USERS
from emulator.http.routes import ice_servers_for
from emulator.identity.users import user_id_for
from emulator.net import is_loopback_host

routes = web.RouteTableDef()

DEV_EMAIL = "dev@orga-emulator.local"
# The files the page is made of; anything else under the prefix is a 404.
STATIC_FILES = {
    "demo.html": "text/html",
    "demo.js": "text/javascript",
    "demo.css": "text/css",
}
STATIC_PREFIX = "/_emulator/demo/"


def dev_endpoints_enabled(settings: Settings) -> bool:
    """`--dev-endpoints on|off`, or with `auto` only on a loopback bind (what only you reach)."""
    if settings.dev_endpoints != "auto":
        return settings.dev_endpoints == "on"
    return is_loopback_host(settings.host)


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
        "docs": "README.md in the orga-emulator repository",
    }


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    """The demo page for a browser; the JSON index for a client that prefers JSON."""
    if _prefers_json(request.headers.get("Accept", "")):
        return web.json_response(endpoint_index())
    return _static("demo.html")


def _prefers_json(accept: str) -> bool:
    # Browsers send text/html first; curl sends */*, which also gets the page.
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return "application/json" in types and "text/html" not in types


@routes.get(STATIC_PREFIX + "voices.json")
async def demo_voices(request: web.Request) -> web.Response:
    """The voice catalogue for the page's list, and the current SDKs' default voice."""
    return web.json_response(
        {"default": voices.DEFAULT, "voices": [voice.to_json() for voice in voices.CATALOGUE]}
    )


@routes.get(STATIC_PREFIX + "{name}")
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


@routes.route("*", "/_emulator/dev/session-config")
async def dev_session_config(request: web.Request) -> web.Response:
    """What a backend gets from `@orga-ai/node`'s getSessionConfig(), without the backend."""
    if request.method not in ("GET", "POST"):
        raise errors.method_not_allowed(request.method, {"GET", "POST"})
    app = request.app
    settings = app[SETTINGS]
    if not dev_endpoints_enabled(settings):
        raise errors.api_error(
            403,
            "The dev endpoints are off: the emulator is not bound to a loopback address. "
            "Start it with --dev-endpoints on to enable them.",
            code="dev_endpoints_disabled",
        )
    email = request.query.get("email", DEV_EMAIL)
    if email not in app[USERS]:
        raise errors.user_not_found()
    key = settings.api_keys[0]
    issued = app[TOKENS].mint(
        user_id=user_id_for(email), email=email.strip(), api_key_id=api_key_id(key)
    )
    request[TOKEN_JTI] = issued.claims["jti"]
    return web.json_response(
        {
            "ephemeralToken": issued.token,
            "iceServers": ice_servers_for(app, issued.claims),
            "expiresAt": issued.expires_at,
        }
    )
