"""Who is calling: the API key of client-secrets, the ephemeral token of the other two."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from emulator.http import errors
from emulator.http.exchange import EXCHANGE
from emulator.identity.tokens import TOKENS, InvalidToken, IssuedToken, TokenAuthority
from emulator.identity.users import USERS, account_user_id

API_KEY_PREFIX = "sk_orga_ai_"


@functools.lru_cache(maxsize=64)  # a hash per request was a good part of a mint's cost
def api_key_id(key: str) -> str:
    """A stable, non-secret id for a key, for the api_key_id claim and the logs."""
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def bearer_credential(header: str) -> str:
    """The credential of an `Authorization: Bearer X` header; "" for any other header."""
    scheme, _, credential = header.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def require_api_key(request: web.Request, accepted: tuple[str, ...]) -> str:
    """The caller's API key; 401 (nested envelope) when missing, malformed or unknown."""
    key = bearer_credential(request.headers.get("Authorization", ""))
    if not key.startswith(API_KEY_PREFIX) or key not in accepted:
        raise errors.invalid_api_key()
    return key


def mint_token(
    request: web.Request, key: str, email: str | None, config: Mapping[Any, Any] | None = None
) -> IssuedToken:
    """A token for the user `email` (404 when not a user), or without an email for the API
    key's own account (@orga-ai/node 1.0.1 sends none). A token minted under an X-Test-Id
    carries it, so the session it opens is attributed to the test. `config` holds the users
    and the token authority: the request's app, unless given (the demo's helper, a sub-app,
    passes its request's config_dict)."""
    if config is None:
        config = request.app
    key_id = api_key_id(key)
    if email is None:
        user_id = account_user_id(key_id)
    else:
        found = config[USERS].user(email)
        if found is None:
            raise errors.user_not_found()
        user_id, email = found
    exchange = request[EXCHANGE]
    issued = config[TOKENS].mint(
        user_id=user_id, email=email, api_key_id=key_id, test_id=exchange.test_id
    )
    exchange.token_jti = issued.claims["jti"]
    return issued


def bearer_token(request: web.Request) -> str:
    """The Bearer credential, with FastAPI HTTPBearer's 403s when there is none."""
    header = request.headers.get("Authorization")
    if not header:
        raise errors.not_authenticated()
    credential = bearer_credential(header)
    if not credential:
        raise errors.invalid_credentials_scheme()
    return credential


def require_ephemeral_token(
    request: web.Request,
    authority: TokenAuthority,
    invalid: Callable[[], errors.ApiError] = errors.invalid_ephemeral_token,
) -> dict[str, Any]:
    """The token's claims; `invalid` builds the 401 (each endpoint words it its own way)."""
    token = bearer_token(request)
    exchange = request[EXCHANGE]
    try:
        claims = authority.verify(token)
    except InvalidToken as exc:
        exchange.auth_failure = str(exc)
        raise invalid() from None
    exchange.token_jti = claims["jti"]
    if exchange.test_id is None and isinstance(claims.get("test_id"), str):
        exchange.test_id = claims["test_id"]  # a browser's /calls carries no X-Test-Id
    return claims
