"""What every endpoint shares: JSON errors, CORS, health probes, request ids, redacted logs."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from yarl import URL

from emulator.config import DEV_API_KEY, Settings
from tests.api.helpers import EMAIL, bearer, call_body, mint


def _is_envelope(body: dict) -> bool:
    return set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/nope"), ("POST", "/v1/realtime/unknown"), ("GET", "/v2/realtime/calls")],
)
async def test_unknown_paths_are_json_404(api_client, method, path):
    resp = await api_client.request(method, path)
    assert resp.status == 404
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert _is_envelope(body) and body["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v1/realtime/client-secrets"),
        ("POST", "/v1/realtime/ice-config"),
        ("GET", "/v1/realtime/calls"),
        ("PUT", "/v1/realtime/calls"),
    ],
)
async def test_wrong_methods_are_json_405(api_client, method, path):
    resp = await api_client.request(method, path)
    assert resp.status == 405
    assert resp.content_type == "application/json"
    assert _is_envelope(await resp.json())
    assert resp.headers["Allow"]


async def test_bodies_over_the_limit_are_413_and_keep_the_token(make_api_client, offer_sdp):
    client = await make_api_client(Settings(max_body_bytes=64 * 1024, turn=False))
    token = await mint(client)
    big = b'{"offer": {"sdp": "' + b"a" * (70 * 1024) + b'", "type": "offer"}}'
    resp = await client.post("/v1/realtime/calls", data=big, headers=bearer(token))
    assert resp.status == 413
    assert _is_envelope(await resp.json())

    async def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(80):
            yield b"a" * 1024

    resp = await client.post("/v1/realtime/calls", data=chunks(), headers=bearer(token))
    assert resp.status == 413
    assert _is_envelope(await resp.json())
    assert (
        await client.post("/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(token))
    ).status == 200


async def test_a_crash_is_a_json_500_with_a_request_id_in_the_log(make_api_client, caplog):
    async def boom(request):
        raise RuntimeError("kaboom")

    client = await make_api_client(app_setup=lambda app: app.router.add_get("/boom", boom))
    with caplog.at_level(logging.ERROR):
        resp = await client.get("/boom")
    assert resp.status == 500
    body = await resp.json()
    assert _is_envelope(body) and body["error"]["type"] == "server_error"
    request_id = resp.headers["X-Request-Id"]
    assert body["error"]["code"] == request_id
    assert "Traceback" not in await resp.text()
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)


async def test_cors_preflight_passes_for_the_sdk_headers(api_client):
    resp = await api_client.options(
        "/v1/realtime/calls",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    allowed = resp.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


async def test_cors_headers_on_actual_responses_including_errors(api_client):
    resp = await api_client.post("/v1/realtime/calls", headers={"Origin": "http://app.test"})
    assert resp.status == 403
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_a_configured_origin_is_the_only_one_allowed(make_api_client):
    client = await make_api_client(Settings(cors_origin="http://app.test", turn=False))
    ok = await client.options(
        "/v1/realtime/calls",
        headers={"Origin": "http://app.test", "Access-Control-Request-Method": "POST"},
    )
    assert ok.headers["Access-Control-Allow-Origin"] == "http://app.test"
    other = await client.options(
        "/v1/realtime/calls",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_health_and_readiness(api_client):
    assert (await api_client.get("/healthz")).status == 200
    resp = await api_client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ready"


async def test_readyz_is_503_until_every_component_is_up(make_api_client):
    from emulator.http.health import READINESS

    client = await make_api_client()
    client.app[READINESS].expect("late-part")
    resp = await client.get("/readyz")
    assert resp.status == 503
    # The WebRTC code loads in the background (nothing started it here): reported, not awaited.
    assert (await resp.json())["components"] == {"rtc": False, "late-part": False}
    client.app[READINESS].mark_ready("late-part")
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["loading"] == ["rtc"]


async def test_readyz_reports_the_webrtc_code_once_loaded(make_api_client):
    from emulator.rtc.registry import SESSIONS

    client = await make_api_client()
    await client.app[SESSIONS].loader.ready()
    body = await (await client.get("/readyz")).json()
    assert body["components"]["rtc"] is True and body["loading"] == []


async def test_one_access_line_per_request_with_secrets_redacted(api_client, caplog, offer_sdp):
    with caplog.at_level(logging.INFO, logger="emulator.access"):
        token = await mint(api_client)
        resp = await api_client.post(
            "/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(token)
        )
        conversation_id = (await resp.json())["conversation_id"]
        await api_client.get("/v1/realtime/ice-config", headers=bearer("forged"))
    lines = [r.getMessage() for r in caplog.records if r.name == "emulator.access"]
    assert len(lines) == 3
    assert lines[0].startswith("POST /v1/realtime/client-secrets 200 ")
    assert (
        lines[1].startswith("POST /v1/realtime/calls 200 ")
        and f"conversation_id={conversation_id}" in lines[1]
    )
    assert lines[2].startswith("GET /v1/realtime/ice-config 401 ")
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in everything and token.split(".")[2] not in everything
    assert DEV_API_KEY not in everything and EMAIL not in everything


async def test_request_ids_are_echoed(api_client):
    resp = await api_client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    ids = {(await api_client.get("/healthz")).headers["X-Request-Id"] for _ in range(50)}
    assert len(ids) == 50 and all(i.startswith("req_") for i in ids)


def test_error_module_owns_the_envelope():
    from emulator.http import errors

    resp = errors.api_error(418, "teapot").to_response()
    assert isinstance(resp, web.Response) and resp.status == 418


async def test_the_index_lists_the_endpoints(api_client):
    # A browser gets the demo page at / (tests/api/test_demo_endpoints.py); JSON on request.
    resp = await api_client.get("/", headers={"Accept": "application/json"})
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["name"] == "orga-emulator"
    assert "POST /v1/realtime/calls" in body["endpoints"]


@pytest.mark.parametrize(
    "path,status", [("/healthz", 200), ("/readyz", 200), ("/v1/realtime/ice-config", 403)]
)
async def test_head_on_a_get_route_answers_as_get_would_without_a_body(api_client, path, status):
    # Issue 13, finding 10: HEAD on a GET route is not a 405.
    got = await api_client.get(path)
    head = await api_client.head(path)
    assert (got.status, head.status) == (status, status)
    assert await head.read() == b""
    assert head.headers["Content-Type"] == got.headers["Content-Type"]


async def test_the_access_line_has_the_path_as_sent_less_its_query(api_client, caplog):
    target = "/v1/realtime/x%0aINFO%20forged%C3%A9?email=ada%40example.com&x=%0a"
    with caplog.at_level(logging.INFO, logger="emulator.access"):
        resp = await api_client.get(URL(target, encoded=True))
    assert resp.status == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "emulator.access"]
    assert len(lines) == 1
    assert lines[0].startswith("GET /v1/realtime/x%0aINFO%20forged%C3%A9 404 "), lines
    assert "email" not in lines[0] and "\n" not in lines[0]
