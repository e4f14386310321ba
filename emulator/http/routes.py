"""The three endpoints of Orga's realtime API, plus health probes."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from emulator.ai.params import ParamError
from emulator.http import errors
from emulator.http.auth import api_key_id, require_api_key, require_ephemeral_token
from emulator.http.bodies import parse_call_request
from emulator.http.keys import (
    CONTROL,
    CONVERSATION_ID,
    LEDGER,
    READINESS,
    SESSIONS,
    SETTINGS,
    TEST_ID,
    TOKEN_JTI,
    TOKENS,
    TURN,
    USERS,
)
from emulator.identity.users import account_user_id, user_id_for
from emulator.rtc.ice_servers import ice_servers
from emulator.rtc.sdp import check_offer_sdp

routes = web.RouteTableDef()


@routes.post("/v1/realtime/client-secrets")
async def create_client_secret(request: web.Request) -> web.Response:
    key = require_api_key(request, request.app[SETTINGS].api_keys)
    key_id = api_key_id(key)
    # `email` is optional: @orga-ai/node 1.0.1 sends none, and the token is then the account's
    # own (the API key's owner), with no email claim.
    email = request.query.get("email")
    if email is not None and email not in request.app[USERS]:
        raise errors.user_not_found()
    # Tokens minted under an X-Test-Id carry it, so their sessions are attributed to the test.
    extra = {"test_id": request[TEST_ID]} if TEST_ID in request else {}
    if email is None:
        user_id = account_user_id(key_id)
    else:
        email = email.strip()
        user_id = user_id_for(email)
    issued = request.app[TOKENS].mint(user_id=user_id, email=email, api_key_id=key_id, **extra)
    request[TOKEN_JTI] = issued.claims["jti"]
    return web.json_response(
        {"ephemeral_token": issued.token, "token_type": "bearer", "expires_at": issued.expires_at}
    )


@routes.get("/v1/realtime/ice-config")
async def get_ice_config(request: web.Request) -> web.Response:
    # Checks the token without consuming it: the backend calls this before the client's /calls.
    claims = require_ephemeral_token(request, request.app[TOKENS], errors.invalid_ice_config_token)
    return web.json_response({"iceServers": ice_servers_for(request.app, claims)})


def ice_servers_for(app: web.Application, claims: dict[str, Any]) -> list[dict[str, Any]]:
    address = app[TURN].client_address
    if address is None:
        return []
    host, port = address
    return ice_servers(host, port, app[SETTINGS].turn_secret, claims)


@routes.post("/v1/realtime/calls")
async def create_call(request: web.Request) -> web.Response:
    app = request.app
    claims = require_ephemeral_token(request, app[TOKENS])
    ledger, registry = app[LEDGER], app[SESSIONS]
    if claims["jti"] in ledger:
        raise errors.invalid_ephemeral_token()
    call = parse_call_request(await read_json(request))
    try:
        check_offer_sdp(call.offer_sdp)
    except ParamError as exc:
        raise errors.invalid_value(exc.param, exc.message) from None
    # From here to registry.open() taking its slot there is no await: the capacity check and the
    # token claim are atomic with respect to other requests on this loop.
    if registry.full:
        raise errors.at_capacity(registry.limit)
    if not ledger.claim(claims["jti"], claims["exp"]):
        raise errors.invalid_ephemeral_token()
    try:
        session = await registry.open(call, claims)
    except ParamError as exc:
        ledger.release(claims["jti"])
        raise errors.invalid_value(exc.param, exc.message) from None
    except BaseException:
        ledger.release(claims["jti"])
        raise
    request[CONVERSATION_ID] = session.conversation_id
    app[CONTROL].tokens.consumed(claims["jti"], session.conversation_id)
    return web.json_response(
        {
            "conversation_id": session.conversation_id,
            "answer": {"sdp": session.answer_sdp, "type": "answer"},
        }
    )


async def read_json(request: web.Request) -> Any:
    """The JSON body; 413 over the size limit, 422 (FastAPI shape) when absent or not JSON."""
    raw = await request.read()  # the app's client_max_size turns an oversized body into 413
    if not raw.strip():
        raise errors.field_required("body")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.json_invalid(str(exc)) from None


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[READINESS]
    body = {"status": "ready" if readiness.ready else "starting", "components": readiness.state}
    return web.json_response(body, status=200 if readiness.ready else 503)
