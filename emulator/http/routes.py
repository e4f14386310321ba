"""The three endpoints of Orga's realtime API, plus health probes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import CIMultiDict

from emulator.ai.params import ParamError
from emulator.http import errors
from emulator.http.auth import GRANTS, Grants, require_ephemeral_token
from emulator.http.bodies import parse_call_request, read_json
from emulator.http.exchange import EXCHANGE
from emulator.identity.tokens import TOKENS
from emulator.rtc.registry import SESSIONS, AtCapacity, TokenSpent
from emulator.rtc.relay import RELAY
from emulator.rtc.sdp import check_offer_sdp
from emulator.state.store import STATE

routes = web.RouteTableDef()
# What content_type="application/json", charset="utf-8" writes, as json_response does; copied
# per response rather than worked out from the two arguments again.
JSON_HEADERS = CIMultiDict({"Content-Type": "application/json; charset=utf-8"})


def add_routes(app: web.Application) -> None:
    """The three endpoints on `app`, client-secrets bound to the app's grants."""
    app.router.add_post("/v1/realtime/client-secrets", client_secrets(app[GRANTS]))
    app.add_routes(routes)


def client_secrets(grants: Grants) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The client-secrets handler of an app's grants: bound here, a request looks nothing up
    on the app (each look-up is a Python call, and this endpoint is the one load-tested)."""

    async def create_client_secret(request: web.Request) -> web.Response:
        issued = grants.issue(request)
        # json.dumps of the three fields, written out: neither value has anything to escape
        # (a JWT is base64url and dots; the time is digits, "-", ":", "T" and "."). Byte for
        # byte: tests/api/test_client_secrets.py.
        body = (
            f'{{"ephemeral_token": "{issued.token}", "token_type": "bearer", '
            f'"expires_at": "{issued.expires_at}"}}'
        )
        return web.Response(body=body.encode(), headers=JSON_HEADERS.copy())

    return create_client_secret


@routes.get("/v1/realtime/ice-config")
async def get_ice_config(request: web.Request) -> web.Response:
    # Checks the token without consuming it: the backend calls this before the client's /calls.
    claims = require_ephemeral_token(request, request.app[TOKENS], errors.invalid_ice_config_token)
    return web.json_response({"iceServers": request.app[RELAY].ice_servers(claims)})


@routes.post("/v1/realtime/calls")
async def create_call(request: web.Request) -> web.Response:
    app = request.app
    claims = require_ephemeral_token(request, app[TOKENS])
    if await app[STATE].claimed(claims["jti"]):
        raise errors.invalid_ephemeral_token()  # spent: said before anything about the body
    call = parse_call_request(await read_json(request))
    await app[SESSIONS].loader.ready()  # aiortc parses the offer (loaded after startup)
    try:
        check_offer_sdp(call.offer_sdp, candidates=call.candidates)
        session = await app[SESSIONS].start_call(call, claims, app[STATE])
    except ParamError as exc:
        raise errors.invalid_value(exc.param, exc.message) from None
    except AtCapacity as exc:
        raise errors.at_capacity(exc.limit) from None
    except TokenSpent:
        raise errors.invalid_ephemeral_token() from None
    request[EXCHANGE].conversation_id = session.conversation_id
    return web.json_response(
        {
            "conversation_id": session.conversation_id,
            "answer": {"sdp": session.answer_sdp, "type": "answer"},
        }
    )
