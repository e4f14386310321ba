"""Who is calling: the API key of client-secrets, the ephemeral token of the other two."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from aiohttp import web

from emulator.http import errors
from emulator.http.exchange import EXCHANGE
from emulator.identity.tokens import Grant, InvalidToken, IssuedToken, TokenAuthority
from emulator.identity.users import UserDirectory, account_user_id

API_KEY_PREFIX = "sk_orga_ai_"


@functools.lru_cache(maxsize=64)  # a hash per request was a good part of a mint's cost
def api_key_id(key: str) -> str:
    """A stable, non-secret id for a key, for the api_key_id claim and the logs."""
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def bearer_credential(header: str) -> str:
    """The credential of an `Authorization: Bearer X` header; "" for any other header."""
    scheme, _, credential = header.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def _api_key(authorization: str, accepted: tuple[str, ...]) -> str:
    """The API key of an Authorization header; 401 (nested envelope) when missing, malformed
    or unknown."""
    key = bearer_credential(authorization)
    if not key.startswith(API_KEY_PREFIX) or key not in accepted:
        raise errors.invalid_api_key()
    return key


GRANTS_KEPT = 4096


class Grants:
    """Whom a client-secrets request mints for: the key of its Authorization header checked,
    its id worked out, the user of its email looked up and the token's head signed once per
    header and request target (a test run uses a few), not on every request, and the query not
    parsed again. Only valid pairs are kept, at most GRANTS_KEPT: the keys and the users are
    fixed for the emulator's life."""

    def __init__(
        self, api_keys: tuple[str, ...], users: UserDirectory, tokens: TokenAuthority
    ) -> None:
        self._api_keys = api_keys
        self._users = users
        self._tokens = tokens
        self._found: dict[tuple[str, str], Grant] = {}

    def __len__(self) -> int:
        return len(self._found)

    def issue(self, request: web.Request) -> IssuedToken:
        """A token for a client-secrets request: 401 (nested envelope) when its key is missing,
        malformed or unknown, 404 when its `email` is not a user. Without an email, the API
        key's own account (@orga-ai/node 1.0.1 sends none)."""
        authorization = request.headers.get("Authorization", "")
        pair = (authorization, request.raw_path)  # the target as sent: path and query
        grant = self._found.get(pair)
        if grant is None:
            key = _api_key(authorization, self._api_keys)
            grant = self._grant(key, request.query.get("email"))
            if len(self._found) >= GRANTS_KEPT:
                self._found.clear()
            self._found[pair] = grant
        return self._mint(request, grant)

    def issue_for(self, request: web.Request, key: str, email: str | None) -> IssuedToken:
        """issue() for a key the emulator holds and a given email (the demo's helper)."""
        return self._mint(request, self._grant(key, email))

    def _mint(self, request: web.Request, grant: Grant) -> IssuedToken:
        # A token minted under an X-Test-Id carries it, so the session it opens is
        # attributed to the test.
        exchange = request[EXCHANGE]
        issued = self._tokens.mint_for(grant, exchange.test_id)
        exchange.token_jti = issued.claims["jti"]
        return issued

    def _grant(self, key: str, email: str | None) -> Grant:
        key_id = api_key_id(key)
        if email is None:
            return self._tokens.grant(account_user_id(key_id), None, key_id)
        found = self._users.user(email)
        if found is None:
            raise errors.user_not_found()
        return self._tokens.grant(found[0], found[1], key_id)


GRANTS = web.AppKey("grants", Grants)


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
