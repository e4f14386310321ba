"""Ephemeral tokens: minting, verification and the single-use ledger.

Tokens are HS256 JWTs like Orga's published example (`sub`, `api_key_id`, `scope`, `iat`,
`exp`), plus `email`, `jti` and `iss`. Expiry is checked against the emulator's Clock rather than
PyJWT's own time, so expiry can be tested (and driven) without sleeping.
"""

from __future__ import annotations

import functools
import heapq
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from aiohttp import web

from emulator.identity import jws
from emulator.identity.clock import Clock
from emulator.identity.ids import IdFactory

SCOPE = "api"
REQUIRED_CLAIMS = ("sub", "iat", "exp", "jti", "iss", "scope")


class InvalidToken(Exception):
    """The token cannot be used; the reason goes to the log, never to the client."""


class IssuedToken(NamedTuple):
    token: str
    claims: dict[str, Any]
    expires_at: str  # utc_text() of its exp


@functools.lru_cache(maxsize=16)  # tokens minted in the same second share their expiry
def utc_text(seconds: int) -> str:
    """ISO 8601 in UTC without an offset, as the real service writes an expiry."""
    # exp is whole seconds; strftime on gmtime is several times cheaper than datetime here.
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000", time.gmtime(seconds))


# IssuedToken(token, claims, expires_at) without the Python call of a NamedTuple's __new__
# (once per minted token).
_issued = functools.partial(tuple.__new__, IssuedToken)


def _payload_head(user_id: str, email: str | None, api_key_id: str) -> str:
    """The compact JSON of a token's claims up to `"iat":`, the same for every token of one
    user and key: a mint then writes (and signs) only the rest."""
    claims = {"sub": user_id, **({} if email is None else {"email": email})}
    claims.update(api_key_id=api_key_id, scope=SCOPE)
    return jws.compact_json(claims)[:-1] + ',"iat":'


class Grant(NamedTuple):
    """Whom tokens are minted for, as each of their tokens claims it, with the head of their
    payload signed ahead: TokenAuthority.grant() makes one per user and key."""

    user_id: str
    email: str | None  # None for the account's own tokens (no email claim)
    api_key_id: str
    head: jws.PayloadPrefix


class TokenAuthority:
    """Mints and verifies ephemeral tokens. It holds no per-token state."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str,
        ttl: int,
        leeway: float,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._secret = secret.encode()
        self.issuer = issuer
        self._issuer_json = jws.compact_json(issuer)
        self.ttl = ttl
        self.leeway = leeway
        self._clock = clock
        self._ids = ids
        # The grant per user and key (the few a test run uses).
        self.grant = functools.lru_cache(maxsize=1024)(self._grant)
        self._second = (-1, -1)  # (iat, exp) of the last token minted
        # Told of every token minted (the control plane's token journal).
        self.on_mint: Callable[[dict[str, Any]], None] | None = None

    def mint(
        self,
        *,
        user_id: str,
        api_key_id: str,
        email: str | None = None,
        test_id: str | None = None,
        **extra: Any,
    ) -> IssuedToken:
        """A token for `user_id`; `email` is None for the account's own token (no email claim),
        `test_id` None for a token minted outside a test (no test_id claim)."""
        return self.mint_for(self.grant(user_id, email, api_key_id), test_id, extra or None)

    def mint_for(
        self, grant: Grant, test_id: str | None = None, extra: dict[str, Any] | None = None
    ) -> IssuedToken:
        """A token under `grant` (the way of every client-secrets request), minted under the
        test `test_id` if not None; `extra` claims follow, or replace those named like them."""
        iat = int(self._clock.time())
        if iat != self._second[0]:
            self._second = (iat, iat + self.ttl)
        # The tokens of one second share their iat and exp objects: the token journal keeps
        # their claims, and two ints kept per token were a measurable part of a mint's cost.
        iat, exp = self._second
        jti = self._ids.token_id()
        # The claims in the order jws.encode(claims) writes them, built in one go.
        email = grant.email
        claims: dict[str, Any] = (
            {"sub": grant.user_id, "api_key_id": grant.api_key_id}
            if email is None
            else {"sub": grant.user_id, "email": email, "api_key_id": grant.api_key_id}
        )
        claims["scope"] = SCOPE
        claims["iat"] = iat
        claims["exp"] = exp
        claims["jti"] = jti
        claims["iss"] = self.issuer
        if test_id is not None:
            claims["test_id"] = test_id
        if extra is not None:
            claims.update(extra)
            token = jws.encode(claims, self._secret)
        else:
            # The payload is written, not encoded: its head is signed ahead per grant, and
            # what follows has nothing to escape but the test id (numbers, our "tok_" and hex,
            # the issuer's JSON). Byte for byte jws.encode(claims): test_bytes_tokens.py.
            rest = f'{iat},"exp":{exp},"jti":"{jti}","iss":{self._issuer_json}'
            if test_id is None:
                rest += "}"
            else:
                rest += f',"test_id":{jws.compact_json(test_id)}}}'
            token = jws.sign_after(grant.head, rest)
        if self.on_mint is not None:
            self.on_mint(claims)
        return _issued((token, claims, utc_text(exp)))

    def _grant(self, user_id: str, email: str | None, api_key_id: str) -> Grant:
        head = jws.payload_prefix(_payload_head(user_id, email, api_key_id), self._secret)
        return Grant(user_id, email, api_key_id, head)

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a well-formed, correctly signed, unexpired token."""
        try:
            # HS256 only: `none`, HS512 and the rest are refused.
            claims = jws.verify(token, self._secret)
        except jws.InvalidJws as exc:
            raise InvalidToken(str(exc)) from None
        missing = [claim for claim in REQUIRED_CLAIMS if claim not in claims]
        if missing:
            raise InvalidToken(f"missing claims {missing}")
        if claims["iss"] != self.issuer:
            raise InvalidToken("wrong issuer")
        # Time claims are checked against the emulator's clock.
        if claims.get("scope") != SCOPE:
            raise InvalidToken("wrong scope")
        if not isinstance(claims["exp"], int | float) or not isinstance(claims["jti"], str):
            raise InvalidToken("malformed claims")
        if self._clock.time() > claims["exp"] + self.leeway:
            raise InvalidToken("expired")
        return claims


class TokenLedger:
    """Remembers consumed tokens until they expire, so each one opens at most one session.

    claim() does its check and its write with no await in between: on one event loop, of any
    number of concurrent claims of one jti exactly one wins. Entries are forgotten once their
    token is past its expiry (plus leeway), since verify() rejects such a token anyway; that
    keeps memory bounded by the tokens still alive.
    """

    def __init__(self, clock: Clock, leeway: float) -> None:
        self._clock = clock
        self._leeway = leeway
        self._consumed: dict[str, float] = {}
        self._by_expiry: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._consumed)

    def __contains__(self, jti: str) -> bool:
        return jti in self._consumed

    def claim(self, jti: str, exp: float) -> bool:
        self.forget_expired()
        if jti in self._consumed:
            return False
        self._consumed[jti] = exp
        heapq.heappush(self._by_expiry, (exp, jti))
        return True

    def release(self, jti: str) -> None:
        """Give a token back: the session it was claimed for never started."""
        self._consumed.pop(jti, None)

    def forget_expired(self) -> None:
        horizon = self._clock.time() - self._leeway
        heap = self._by_expiry
        while heap and heap[0][0] < horizon:
            exp, jti = heapq.heappop(heap)
            if self._consumed.get(jti) == exp:
                del self._consumed[jti]


TOKENS = web.AppKey("tokens", TokenAuthority)
LEDGER = web.AppKey("ledger", TokenLedger)
