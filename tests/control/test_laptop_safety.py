"""A web page open on the developer's laptop cannot drive the control plane (issue 13, finding 2).

The emulator here listens on a real loopback port. A browser reaches it too, so:
- /_emulator/ sends no CORS headers and answers no preflight (/v1/ keeps `*`);
- open without an admin token, it answers only a Host naming this emulator (DNS rebinding);
- its POSTs take JSON only (a page may send text/plain or a form anywhere without a preflight);
- the dev helper, which mints tokens, answers only the emulator's own pages.
Forged Host headers go over a raw socket, so nothing in a client library second-guesses them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from emulator.net import host_name
from tests.kit.local import LocalEmulator

EVIL = "https://evil.example"
JSON_HEADERS = {"Content-Type": "application/json"}
FAULT = {"fault": "http_status", "endpoint": "calls", "status": 503}


async def raw_request(
    emulator: LocalEmulator,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[int, dict[str, str], Any]:
    """One HTTP/1.1 request written byte for byte (Host included); status, headers, JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.http.port)
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, content = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    received = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        received[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), received, json.loads(content) if content else None


def assert_envelope(body: Any, code: str, *fragments: str) -> None:
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code
    for fragment in fragments:
        assert fragment in error["message"], (fragment, error["message"])


def no_cors(headers: Any) -> bool:
    return not [name for name in headers if name.lower().startswith("access-control-")]


# --- CORS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/_emulator/sessions", "/_emulator/tokens", "/_emulator/", "/_emulator/openapi.json"]
)
async def test_control_plane_answers_carry_no_cors_headers(emulator, path):
    resp = await emulator.http.get(path, headers={"Origin": EVIL})
    assert resp.status == 200
    assert no_cors(resp.headers), dict(resp.headers)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/_emulator/reset", 405, "method_not_allowed"),
        ("/_emulator/faults", 405, "method_not_allowed"),
        ("/_emulator/dev/session-config", 403, "cross_origin_refused"),
    ],
)
async def test_a_preflight_to_the_control_plane_gets_no_approval(emulator, path, status, code):
    resp = await emulator.http.options(
        path,
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert resp.status == status
    assert no_cors(resp.headers), dict(resp.headers)
    assert_envelope(await resp.json(), code)


async def test_the_public_api_keeps_cors_for_any_origin(emulator):
    preflight = await emulator.http.options(
        "/v1/realtime/calls",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    token = await emulator.mint()
    resp = await emulator.http.get(
        "/v1/realtime/ice-config", headers={"Origin": EVIL, "Authorization": f"Bearer {token}"}
    )
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


# --- Host -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_emulator/sessions"),
        ("GET", "/_emulator/tokens"),
        ("GET", "/_emulator/"),
        ("POST", "/_emulator/reset"),
        ("POST", "/_emulator/dev/session-config"),
    ],
)
async def test_a_forged_host_is_refused(emulator, method, path):
    await emulator.control("POST", "/faults", json=FAULT, expect=201)
    host = f"evil.example:{emulator.http.port}"
    status, headers, body = await raw_request(
        emulator, method, path, {"Host": host, **JSON_HEADERS}, b"{}" if method == "POST" else b""
    )
    assert status == 403, body
    assert_envelope(body, "host_not_allowed", repr(host), "--tls-name")
    assert no_cors(headers)
    # Nothing happened: the rule is still there, no token was minted.
    assert len((await emulator.control("GET", "/faults"))["rules"]) == 1
    assert (await emulator.control("GET", "/tokens"))["tokens"] == []


async def test_dns_rebinding_to_the_dev_helper_is_refused_though_it_looks_same_origin(emulator):
    # After rebinding, the page's origin is its own name, on our port: Origin matches Host.
    host = f"evil.example:{emulator.http.port}"
    status, _, body = await raw_request(
        emulator,
        "POST",
        "/_emulator/dev/session-config",
        {"Host": host, "Origin": f"http://{host}"},
    )
    assert status == 403
    assert_envelope(body, "host_not_allowed")
    assert (await emulator.control("GET", "/tokens"))["tokens"] == []


@pytest.mark.parametrize(
    "host",
    ["localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "LocalHost.", "api.orga-ai.com"],
)
async def test_the_names_the_emulator_serves_are_answered(emulator, host):
    status, _, body = await raw_request(
        emulator, "GET", "/_emulator/sessions", {"Host": host.format(port=emulator.http.port)}
    )
    assert status == 200, body
    assert body == {"sessions": []}


async def test_tls_names_and_the_advertised_address_are_served_names(make_emulator):
    emulator = await make_emulator(tls_names=("dev.internal",), advertised_ip="10.1.2.3")
    for host in ("dev.internal:8443", "10.1.2.3:8787", "evil.example"):
        status, _, body = await raw_request(emulator, "GET", "/_emulator/tokens", {"Host": host})
        assert status == (403 if host == "evil.example" else 200), (host, body)


async def test_with_an_admin_token_the_token_protects_it_whatever_the_host(make_emulator):
    emulator = await make_emulator(admin_token="s3cret")
    host = {"Host": "emulator.compose.internal"}
    status, _, body = await raw_request(emulator, "GET", "/_emulator/sessions", host)
    assert status == 401
    assert_envelope(body, "invalid_admin_token")
    auth = {**host, "Authorization": "Bearer s3cret"}
    status, _, body = await raw_request(emulator, "GET", "/_emulator/sessions", auth)
    assert (status, body) == (200, {"sessions": []})
    status, _, body = await raw_request(
        emulator, "POST", "/_emulator/reset", {**auth, **JSON_HEADERS}, b"{}"
    )
    assert status == 200, body


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8787", "localhost"),
        ("[::1]:8787", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("EXAMPLE.com.", "example.com"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_host_name_drops_the_port_brackets_case_and_trailing_dot(header, name):
    assert host_name(header) == name


# --- POSTs take JSON --------------------------------------------------------------------------


SIMPLE_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x", None]


@pytest.mark.parametrize("content_type", SIMPLE_TYPES)
async def test_a_reset_without_json_is_refused_and_resets_nothing(emulator, content_type):
    await emulator.control("POST", "/faults", json=FAULT, expect=201)
    headers = {"Origin": EVIL} | ({"Content-Type": content_type} if content_type else {})
    resp = await emulator.http.post("/_emulator/reset", data=b"{}", headers=headers)
    assert resp.status == 415
    assert_envelope(await resp.json(), "unsupported_media_type", "application/json")
    assert no_cors(resp.headers)
    assert len((await emulator.control("GET", "/faults"))["rules"]) == 1
    await emulator.control("POST", "/reset", json={})
    assert (await emulator.control("GET", "/faults"))["rules"] == []


@pytest.mark.parametrize("content_type", SIMPLE_TYPES)
async def test_a_fault_rule_without_json_is_refused_and_not_added(emulator, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    resp = await emulator.http.post(
        "/_emulator/faults", data=json.dumps(FAULT).encode(), headers=headers
    )
    assert resp.status == 415
    body = await resp.json()
    assert_envelope(body, "unsupported_media_type", "application/json")
    assert body["error"]["param"] == "Content-Type"
    assert (await emulator.control("GET", "/faults"))["rules"] == []


@pytest.mark.parametrize("content_type", SIMPLE_TYPES)
async def test_a_clock_change_without_json_is_refused_and_the_clock_runs_on(emulator, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    resp = await emulator.http.post(
        "/_emulator/clock", data=b'{"freeze": true, "advance": 3600}', headers=headers
    )
    assert resp.status == 415
    assert_envelope(await resp.json(), "unsupported_media_type")
    before = await emulator.control("GET", "/clock")
    assert before["frozen"] is False
    # The same body as JSON (a charset is fine) does what it says.
    after = await emulator.control(
        "POST",
        "/clock",
        data=b'{"freeze": true, "advance": 3600}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert after["frozen"] is True and after["now"] >= before["now"] + 3600


async def test_a_scenario_may_be_yaml_but_not_plain_text(emulator):
    yaml = "name: hello\nturns: [{reply: Hi}]\n"
    resp = await emulator.http.post(
        "/_emulator/scenarios", data=yaml, headers={"Content-Type": "text/plain"}
    )
    assert resp.status == 415
    assert_envelope(await resp.json(), "unsupported_media_type", "application/yaml")
    assert (await emulator.control("GET", "/scenarios"))["posted"] == []
    for media_type in ("application/yaml", "text/yaml", "application/json"):
        body = (
            json.dumps({"name": "hello", "turns": [{"reply": "Hi"}]})
            if "json" in media_type
            else yaml
        )
        await emulator.control(
            "POST", "/scenarios", data=body, headers={"Content-Type": media_type}, expect=201
        )


async def test_a_delete_needs_no_content_type_since_browsers_always_preflight_it(emulator):
    await emulator.control("POST", "/faults", json=FAULT, expect=201)
    resp = await emulator.http.delete("/_emulator/faults")
    assert resp.status == 200
    assert (await emulator.control("GET", "/faults"))["rules"] == []


# --- the dev helper ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": "http://localhost:3000"},  # another app on this machine: another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_the_dev_helper_refuses_other_origins(emulator, headers):
    for method in ("GET", "POST"):
        resp = await emulator.http.request(method, "/_emulator/dev/session-config", headers=headers)
        assert resp.status == 403
        assert_envelope(await resp.json(), "cross_origin_refused", "own pages")
        assert no_cors(resp.headers)
    assert (await emulator.control("GET", "/tokens"))["tokens"] == []


async def test_the_dev_helper_answers_its_own_page_and_curl(emulator):
    own = emulator.base_url  # http://127.0.0.1:PORT, the Host the client sends
    for headers in (
        {"Origin": own, "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {},
    ):
        resp = await emulator.http.post("/_emulator/dev/session-config", headers=headers)
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["ephemeralToken"].count(".") == 2
    assert len((await emulator.control("GET", "/tokens"))["tokens"]) == 3
    voices = await emulator.http.get("/_emulator/demo/voices.json", headers={"Origin": own})
    assert voices.status == 200
