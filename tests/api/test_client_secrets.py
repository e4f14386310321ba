"""POST /v1/realtime/client-secrets: the API key swapped for an ephemeral token."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import jwt
import pytest
from yarl import URL

from emulator.config import DEV_API_KEY, Settings
from emulator.http import auth
from emulator.http.auth import GRANTS
from emulator.identity.users import account_user_id, user_id_for
from tests.api.helpers import EMAIL, SECRET, mint

NESTED_401 = {
    "error": {
        "message": {
            "error": {
                "message": "Incorrect or inactive API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
}


async def test_issues_a_token_in_the_contract_shape(api_client, frozen_clock):
    resp = await api_client.post(
        "/v1/realtime/client-secrets",
        params={"email": EMAIL},
        headers={"Authorization": f"Bearer {DEV_API_KEY}"},
        data=b"any body is ignored",
    )
    assert resp.status == 200
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"ephemeral_token", "token_type", "expires_at"}
    assert body["token_type"] == "bearer"
    claims = jwt.decode(
        body["ephemeral_token"],
        SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False},
        issuer="orga-emulator",
    )
    assert jwt.get_unverified_header(body["ephemeral_token"])["alg"] == "HS256"
    assert claims["sub"] == user_id_for(EMAIL)
    assert claims["email"] == EMAIL
    assert claims["scope"] == "api"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["iat"] == int(frozen_clock.time())
    assert claims["api_key_id"].startswith("key_") and DEV_API_KEY not in claims["api_key_id"]
    assert claims["jti"] and claims["iss"] == "orga-emulator"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", body["expires_at"])
    assert (
        datetime.fromisoformat(body["expires_at"]).replace(tzinfo=UTC).timestamp() == claims["exp"]
    )


async def test_sub_is_stable_per_email_and_tokens_are_distinct(api_client):
    first, second = await mint(api_client), await mint(api_client, EMAIL.upper())
    a = jwt.decode(first, SECRET, algorithms=["HS256"], options={"verify_signature": False})
    b = jwt.decode(second, SECRET, algorithms=["HS256"], options={"verify_signature": False})
    assert a["sub"] == b["sub"]
    assert a["jti"] != b["jti"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": DEV_API_KEY},
        {"Authorization": f"Basic {DEV_API_KEY}"},
        {"Authorization": "Bearer not-an-orga-key"},
        {"Authorization": "Bearer sk_orga_ai_unknown"},
    ],
    ids=["missing", "empty-bearer", "blank", "no-scheme", "basic", "malformed", "unknown"],
)
async def test_bad_api_key_gets_the_nested_401(api_client, headers):
    resp = await api_client.post(
        "/v1/realtime/client-secrets", params={"email": EMAIL}, headers=headers
    )
    assert resp.status == 401
    assert await resp.json() == NESTED_401


async def test_only_configured_keys_are_accepted(make_api_client):
    client = await make_api_client(
        Settings(api_keys=("sk_orga_ai_one", "sk_orga_ai_two"), turn=False)
    )
    for key, status in (("sk_orga_ai_one", 200), ("sk_orga_ai_two", 200), (DEV_API_KEY, 401)):
        resp = await client.post(
            "/v1/realtime/client-secrets",
            params={"email": EMAIL},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert resp.status == status, key


@pytest.mark.parametrize("body", [None, b"", b"{}"])
async def test_without_email_the_token_is_the_accounts_own(api_client, frozen_clock, body):
    # @orga-ai/node 1.0.1 posts no email, with Content-Type: application/json and no body.
    resp = await api_client.post(
        "/v1/realtime/client-secrets",
        headers={"Authorization": f"Bearer {DEV_API_KEY}", "Content-Type": "application/json"},
        data=body,
    )
    assert resp.status == 200
    token = (await resp.json())["ephemeral_token"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="orga-emulator")
    assert "email" not in claims
    assert claims["sub"] == account_user_id(claims["api_key_id"])
    assert claims["sub"] != user_id_for(EMAIL)
    assert claims["exp"] - claims["iat"] == 900
    # The account's token works like any other: ICE config, then one call.
    ice = await api_client.get(
        "/v1/realtime/ice-config", headers={"Authorization": f"Bearer {token}"}
    )
    assert ice.status == 200


async def test_without_email_even_a_closed_user_list_mints(make_api_client):
    client = await make_api_client(Settings(signing_secret=SECRET, turn=False, users=("a@b.co",)))
    auth = {"Authorization": f"Bearer {DEV_API_KEY}"}
    assert (await client.post("/v1/realtime/client-secrets", headers=auth)).status == 200
    resp = await client.post(
        "/v1/realtime/client-secrets", params={"email": "other@example.com"}, headers=auth
    )
    assert resp.status == 404


async def test_bad_key_is_reported_before_missing_email(api_client):
    resp = await api_client.post("/v1/realtime/client-secrets")
    assert resp.status == 401


USER_NOT_FOUND = {
    "error": {"message": "User not found.", "type": "not_found_error", "param": None, "code": None}
}


@pytest.mark.parametrize(
    "email",
    [
        "",
        "not-an-email",
        "a@b",
        "two@@example.com",
        "nul\x00@example.com",  # control characters (issue 13, finding 10)
        "ada@example.com\x1b[2J",
        "a" * 5000 + "@example.com",  # longer than RFC 5321's 254
        "a" * 243 + "@example.com",  # 255
    ],
    ids=["empty", "no-at", "no-dot", "two-at", "nul", "esc", "5000-chars", "255-chars"],
)
async def test_invalid_email_is_not_a_user(api_client, email):
    resp = await api_client.post(
        "/v1/realtime/client-secrets",
        params={"email": email},
        headers={"Authorization": f"Bearer {DEV_API_KEY}"},
    )
    assert resp.status == 404
    assert await resp.json() == USER_NOT_FOUND


async def test_an_email_of_254_characters_is_a_user(api_client):
    email = "a" * 242 + "@example.com"
    assert len(email) == 254
    resp = await api_client.post(
        "/v1/realtime/client-secrets",
        params={"email": email},
        headers={"Authorization": f"Bearer {DEV_API_KEY}"},
    )
    assert resp.status == 200


async def test_closed_user_list_404s_unknown_emails(make_api_client, tmp_path):
    users_file = tmp_path / "users.txt"
    users_file.write_text("# team\ngrace@example.com\n")
    client = await make_api_client(Settings(users=(str(users_file), "ada@example.com"), turn=False))
    for email, status in (
        ("grace@example.com", 200),
        ("ADA@example.com", 200),
        ("eve@example.com", 404),
    ):
        resp = await client.post(
            "/v1/realtime/client-secrets",
            params={"email": email},
            headers={"Authorization": f"Bearer {DEV_API_KEY}"},
        )
        assert resp.status == status, email


async def test_a_refused_request_keeps_no_grant(api_client):
    """Grants are kept per Authorization header and email, but only once both passed: a flood
    of bad keys or unknown users leaves nothing behind, and each is refused every time."""
    grants = api_client.server.app[GRANTS]
    for _ in range(2):
        for headers, params, status in (
            ({"Authorization": "Bearer sk_orga_ai_unknown"}, {"email": EMAIL}, 401),
            ({"Authorization": f"Bearer {DEV_API_KEY}"}, {"email": "not-an-email"}, 404),
            ({}, {}, 401),
        ):
            resp = await api_client.post(
                "/v1/realtime/client-secrets", params=params, headers=headers
            )
            assert resp.status == status
    assert len(grants) == 0
    first, second = await mint(api_client), await mint(api_client)
    assert len(grants) == 1
    a = jwt.decode(first, SECRET, algorithms=["HS256"])
    b = jwt.decode(second, SECRET, algorithms=["HS256"])
    assert a["email"] == b["email"] == EMAIL and a["jti"] != b["jti"]


async def test_the_grants_kept_are_bounded(api_client, monkeypatch):
    monkeypatch.setattr(auth, "GRANTS_KEPT", 3)
    for n in range(7):
        await mint(api_client, f"user{n}@example.com")
        assert len(api_client.server.app[GRANTS]) <= 3
    claims = jwt.decode(await mint(api_client, "user0@example.com"), SECRET, algorithms=["HS256"])
    assert claims["email"] == "user0@example.com"


async def test_grants_are_kept_per_target_as_sent(api_client):
    """A grant is found again by the request target as sent: the same email written two ways
    is two targets and one user, and what a target names is read from its query first."""
    grants = api_client.server.app[GRANTS]
    headers = {"Authorization": f"Bearer {DEV_API_KEY}"}
    claims = []
    for target in (
        "/v1/realtime/client-secrets?email=ada%40example.com",
        "/v1/realtime/client-secrets?email=ada@example.com&x=1",
        "/v1/realtime/client-secrets?email=ada%40example.com",
    ):
        resp = await api_client.post(URL(target, encoded=True), headers=headers)
        assert resp.status == 200, target
        token = (await resp.json())["ephemeral_token"]
        claims.append(jwt.decode(token, SECRET, algorithms=["HS256"]))
    assert len(grants) == 2
    assert {c["email"] for c in claims} == {"ada@example.com"}
    assert len({c["sub"] for c in claims}) == 1 and len({c["jti"] for c in claims}) == 3
    unknown = "/v1/realtime/client-secrets?email=not-an-email"
    for _ in range(2):
        resp = await api_client.post(URL(unknown, encoded=True), headers=headers)
        assert resp.status == 404
    assert len(grants) == 2


@pytest.mark.parametrize("email", [EMAIL, None])
async def test_the_body_is_json_dumps_of_its_fields_byte_for_byte(api_client, email):
    """The handler writes the body out instead of calling json.dumps: the bytes on the wire
    are json.dumps' of the same three fields, in the same order."""
    params = {} if email is None else {"email": email}
    resp = await api_client.post(
        "/v1/realtime/client-secrets",
        params=params,
        headers={"Authorization": f"Bearer {DEV_API_KEY}", "X-Test-Id": "tests/a.py::b[1]"},
    )
    raw = await resp.read()
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    fields = json.loads(raw)
    assert list(fields) == ["ephemeral_token", "token_type", "expires_at"]
    assert raw == json.dumps(fields).encode()
