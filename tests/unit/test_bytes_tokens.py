"""The ephemeral token and the client-secrets body, byte for byte: the emulator's own HS256 and
its compact JSON against PyJWT and json.dumps, for the claims a mint writes and odd ones."""

from __future__ import annotations

import hmac
import json
import random

import jwt
import pytest

from emulator.identity import jws
from emulator.identity.clock import Clock
from emulator.identity.ids import IdFactory
from emulator.identity.tokens import IssuedToken, TokenAuthority, utc_text

SECRET = "test-signing-secret-of-at-least-32-bytes"

CLAIMS = [
    {
        "sub": "52c317ea-f02c-506a-b266-264b549e3afd",
        "email": "ada@example.com",
        "api_key_id": "key_69e550878a1e05bb",
        "scope": "api",
        "iat": 1796049459,
        "exp": 1796050359,
        "jti": "tok_f471a2be48b760d6605df1c8",
        "iss": "orga-emulator",
    },
    # What json.dumps escapes: non-ASCII, quotes, backslashes, controls, U+2028.
    {"sub": "x", "email": 'zoë"\\\n\u2028\U0001f600@example.com', "test_id": "t[1]/a:b"},
    {"iat": 0, "exp": 10**20, "n": -1.5, "t": True, "f": False, "z": None, "l": [1, "a", {}]},
    {},
]


@pytest.mark.parametrize("claims", CLAIMS)
def test_tokens_are_pyjwt_byte_for_byte(claims):
    secret = SECRET.encode()
    assert jws.encode(claims, secret) == jwt.encode(claims, SECRET, algorithm="HS256")
    assert jws.verify(jws.encode(claims, secret), secret) == claims


@pytest.mark.parametrize("claims", CLAIMS)
def test_compact_json_is_json_dumps(claims):
    assert jws._compact(claims) == json.dumps(claims, separators=(",", ":"))


@pytest.mark.parametrize("length", [0, 1, 31, 32, 63, 64, 65, 200])
def test_hs256_is_hmac_sha256_for_any_key_length(length):
    secret = bytes(range(256))[:length]
    for data in (b"", b"a", bytes(range(256)) * 3):
        assert jws.hs256(secret, data) == hmac.digest(secret, data, "sha256")


def test_a_wrong_key_does_not_verify_though_another_key_is_cached():
    token = jws.encode(CLAIMS[0], b"k" * 32)
    jws.encode(CLAIMS[0], b"j" * 32)
    with pytest.raises(jws.InvalidJws, match="bad signature"):
        jws.verify(token, b"j" * 32)


@pytest.mark.parametrize("email", ["ada@example.com", None])
def test_the_claims_are_in_the_order_encode_writes(email):
    clock = Clock()
    authority = TokenAuthority(
        SECRET, issuer="orga-emulator", ttl=900, leeway=0, clock=clock, ids=IdFactory(7)
    )
    issued = authority.mint(user_id="u", api_key_id="key_1", email=email, test_id="t:1")
    assert issued.token == jws.encode(issued.claims, SECRET.encode())
    assert list(issued.claims) == [
        "sub",
        *(["email"] if email else []),
        *("api_key_id", "scope", "iat", "exp", "jti", "iss", "test_id"),
    ]


def test_expires_at_is_the_expiry_in_utc():
    assert utc_text(0) == "1970-01-01T00:00:00.000000"
    assert utc_text(1796050359) == "2026-11-30T14:52:39.000000"
    assert utc_text(1796050360) == "2026-11-30T14:52:40.000000"
    authority = TokenAuthority(
        SECRET, issuer="orga-emulator", ttl=900, leeway=0, clock=Clock(), ids=IdFactory(7)
    )
    issued = authority.mint(user_id="u", api_key_id="key_1")
    assert type(issued) is IssuedToken and issued == (issued.token, issued.claims, issued[2])
    assert issued.expires_at == utc_text(issued.claims["exp"])


EMAILS = ["ada@example.com", 'zoë"\\\u2028\U0001f600@example.com', None]
EXTRAS = [
    {},
    {"test_id": "tests/a.py::test_b[1]"},
    {"test_id": "é\n"},
    {"sub": "overridden"},  # an extra claim named like a minted one replaces it in place
]


@pytest.mark.parametrize("email", EMAILS)
@pytest.mark.parametrize("extra", EXTRAS)
def test_minted_tokens_are_pyjwt_of_their_claims(email, extra):
    authority = TokenAuthority(
        SECRET, issuer="orga-émulator", ttl=900, leeway=0, clock=Clock(), ids=IdFactory(3)
    )
    issued = authority.mint(user_id="u-1", api_key_id="key_1", email=email, **extra)
    assert issued.token == jwt.encode(issued.claims, SECRET, algorithm="HS256")
    assert authority.verify(issued.token) == issued.claims


def test_a_float_lifetime_is_written_as_json_writes_it():
    authority = TokenAuthority(
        SECRET, issuer="orga-emulator", ttl=900.5, leeway=0, clock=Clock(), ids=IdFactory(3)
    )
    issued = authority.mint(user_id="u-1", api_key_id="key_1")
    assert issued.token == jwt.encode(issued.claims, SECRET, algorithm="HS256")


def test_seeded_ids_are_as_before():
    ids = IdFactory(42)
    draws = random.Random(42)
    assert ids.token_id() == "tok_" + draws.getrandbits(96).to_bytes(12, "big").hex()
    assert ids.event_id() == "event_" + draws.getrandbits(64).to_bytes(8, "big").hex()


@pytest.mark.parametrize("length", range(8))
def test_a_token_signed_after_a_prefix_is_the_token_of_the_whole_payload(length):
    # base64url encodes three bytes at a time: every remainder of the prefix's length, and a
    # multi-byte character across the boundary.
    prefix_text = '{"a":"' + "é" * length
    for tail in ('"}', 'x","b":1}', "\U0001f600" * 5 + '"}'):
        prefix = jws.payload_prefix(prefix_text, SECRET.encode())
        assert jws.sign_after(prefix, tail) == jws.sign(prefix_text + tail, SECRET.encode())
        assert jws.sign_after(prefix, tail) == jws.sign(prefix_text + tail, SECRET.encode())


@pytest.mark.parametrize("user", ["u", "u-", "u-1", "u-12"])
def test_tokens_of_every_head_length_are_pyjwt_of_their_claims(user):
    authority = TokenAuthority(
        SECRET, issuer="orga-emulator", ttl=900, leeway=0, clock=Clock(), ids=IdFactory(5)
    )
    for email in ("a@b.co", "ab@b.co", "abc@b.co", None):
        issued = authority.mint(user_id=user, api_key_id="key_1", email=email)
        assert issued.token == jwt.encode(issued.claims, SECRET, algorithm="HS256")
