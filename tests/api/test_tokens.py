"""Token checks shared by ice-config and calls: tampering, expiry, the single-use ledger."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from emulator.identity.clock import Clock
from emulator.identity.ids import IdFactory
from emulator.identity.tokens import InvalidToken, TokenAuthority, TokenLedger
from tests.api.helpers import EMAIL, SECRET, bearer, mint

INVALID = {
    "error": {
        "message": "Invalid ephemeral token",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_ephemeral_token",
    }
}
# ice-config's 401 is the docs' example: the same message with `code: null` (CONTRACT §2).
INVALID_BY_PATH = {
    "/v1/realtime/calls": INVALID,
    "/v1/realtime/ice-config": {"error": {**INVALID["error"], "code": None}},
}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _forge(claims: dict, secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


TAMPERINGS = {
    "bad-signature": lambda t: _forge(_claims(t), secret="another-secret-of-at-least-32-bytes!"),
    "alg-none": lambda t: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(t))}.",
    "alg-none-signed": lambda t: (
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(t))}.{t.split('.')[2]}"
    ),
    "hs512": lambda t: _forge(_claims(t), algorithm="HS512"),
    "wrong-issuer": lambda t: _forge({**_claims(t), "iss": "someone-else"}),
    "no-jti": lambda t: _forge({k: v for k, v in _claims(t).items() if k != "jti"}),
    "wrong-scope": lambda t: _forge({**_claims(t), "scope": "admin"}),
    "payload-swapped": lambda t: ".".join(
        [t.split(".")[0], _b64({**_claims(t), "sub": "someone"}), t.split(".")[2]]
    ),
    "truncated": lambda t: t[:-5],
    "two-segments": lambda t: ".".join(t.split(".")[:2]),
    "garbage": lambda t: "garbage",
    "non-ascii": lambda t: "ÿÿÿ.ÿÿ.ÿ",
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
@pytest.mark.parametrize(
    "path,method", [("/v1/realtime/ice-config", "GET"), ("/v1/realtime/calls", "POST")]
)
async def test_tampered_tokens_are_refused(api_client, tamper, path, method):
    token = await mint(api_client)
    resp = await api_client.request(
        method, path, headers={"Authorization": f"Bearer {tamper(token)}"}, json={}
    )
    assert resp.status == 401
    assert await resp.json() == INVALID_BY_PATH[path]
    # The real token still works: refusing a forgery consumed nothing.
    assert (await api_client.get("/v1/realtime/ice-config", headers=bearer(token))).status == 200


async def test_expiry_follows_the_clock(api_client, frozen_clock):
    token = await mint(api_client)
    exp = _claims(token)["exp"]
    frozen_clock.advance(exp - frozen_clock.time())  # exactly at exp: still valid
    assert (await api_client.get("/v1/realtime/ice-config", headers=bearer(token))).status == 200
    frozen_clock.advance(1)
    resp = await api_client.get("/v1/realtime/ice-config", headers=bearer(token))
    assert resp.status == 401
    assert await resp.json() == INVALID_BY_PATH["/v1/realtime/ice-config"]


async def test_leeway_extends_validity(make_api_client, frozen_clock):
    from emulator.config import Settings

    client = await make_api_client(Settings(signing_secret=SECRET, token_leeway=5, turn=False))
    token = await mint(client)
    frozen_clock.advance(900 + 4)
    assert (await client.get("/v1/realtime/ice-config", headers=bearer(token))).status == 200
    frozen_clock.advance(2)
    assert (await client.get("/v1/realtime/ice-config", headers=bearer(token))).status == 401


async def test_ttl_is_configurable(make_api_client, frozen_clock):
    from emulator.config import Settings

    client = await make_api_client(Settings(signing_secret=SECRET, token_ttl=60, turn=False))
    claims = _claims(await mint(client, EMAIL))
    assert claims["exp"] - claims["iat"] == 60


def _authority(clock: Clock) -> TokenAuthority:
    return TokenAuthority(
        SECRET, issuer="orga-emulator", ttl=900, leeway=0, clock=clock, ids=IdFactory(1)
    )


def test_verify_reports_why():
    clock = Clock()
    clock.freeze()
    authority = _authority(clock)
    issued = authority.mint(user_id="u", email=EMAIL, api_key_id="k")
    assert authority.verify(issued.token)["sub"] == "u"
    clock.advance(901)
    with pytest.raises(InvalidToken, match="expired"):
        authority.verify(issued.token)


def test_ledger_claims_once_and_forgets_expired_tokens():
    clock = Clock()
    clock.freeze()
    ledger = TokenLedger(clock, leeway=0)
    now = clock.time()
    for i in range(10_000):
        assert ledger.claim(f"jti-{i}", now + 10 + i % 100)
    assert not ledger.claim("jti-5", now + 15)
    assert len(ledger) == 10_000
    clock.advance(60)  # tokens with exp < now+60 are past expiry: forgotten
    ledger.forget_expired()
    assert 0 < len(ledger) < 10_000
    clock.advance(1000)
    assert ledger.claim("new", clock.time() + 900)
    assert len(ledger) == 1


def test_ledger_release_gives_the_token_back():
    clock = Clock()
    ledger = TokenLedger(clock, leeway=0)
    exp = time.time() + 100
    assert ledger.claim("a", exp)
    ledger.release("a")
    assert ledger.claim("a", exp)
    assert not ledger.claim("a", exp)
