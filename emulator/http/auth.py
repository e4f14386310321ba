"""Who is calling: the API key of client-secrets, the ephemeral token of the other two."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from aiohttp import web

from emulator.http import errors
from emulator.http.keys import AUTH_FAILURE, TEST_ID, TOKEN_JTI
from emulator.identity.tokens import InvalidToken, TokenAuthority

API_KEY_PREFIX = "sk_orga_ai_"


def api_key_id(key: str) -> str:
    """A stable, non-secret id for a key, for the api_key_id claim and the logs."""
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def require_api_key(request: web.Request, accepted: tuple[str, ...]) -> str:
    """The caller's API key; 401 (nested envelope) when missing, malformed or unknown."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(API_KEY_PREFIX) or key not in accepted:
        raise errors.invalid_api_key()
    return key


def bearer_token(request: web.Request) -> str:
    """The Bearer credential, with FastAPI HTTPBearer's 403s when there is none."""
    header = request.headers.get("Authorization")
    if not header:
        raise errors.not_authenticated()
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise errors.invalid_credentials_scheme()
    return credential.strip()


def require_ephemeral_token(
    request: web.Request,
    authority: TokenAuthority,
    invalid: Callable[[], errors.ApiError] = errors.invalid_ephemeral_token,
) -> dict[str, Any]:
    """The token's claims; `invalid` builds the 401 (each endpoint words it its own way)."""
    token = bearer_token(request)
    try:
        claims = authority.verify(token)
    except InvalidToken as exc:
        request[AUTH_FAILURE] = str(exc)
        raise invalid() from None
    request[TOKEN_JTI] = claims["jti"]
    if TEST_ID not in request and isinstance(claims.get("test_id"), str):
        request[TEST_ID] = claims["test_id"]  # a browser's /calls carries no X-Test-Id
    return claims
