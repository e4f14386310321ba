"""The demo page's routes: the page itself, its dev session-config helper, session inspection."""

from __future__ import annotations

import pytest

from emulator.config import Settings
from emulator.demo.app import dev_endpoints_enabled
from tests.api.helpers import SECRET, bearer

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_a_browser_gets_the_demo_page_and_its_files(api_client):
    resp = await api_client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert 'id="start"' in page and "/_emulator/demo/demo.js" in page
    for name, content_type in (("demo.js", "text/javascript"), ("demo.css", "text/css")):
        file = await api_client.get(f"/_emulator/demo/{name}")
        assert file.status == 200 and file.content_type == content_type
        assert len(await file.read()) > 500
    curl = await api_client.get("/", headers={"Accept": "*/*"})
    assert curl.content_type == "text/html"


async def test_only_the_pages_own_files_are_served(api_client):
    for name in ("__init__.py", "..%2Fapi.py", "nope.js"):
        resp = await api_client.get(f"/_emulator/demo/{name}")
        assert resp.status == 404
        assert (await resp.json())["error"]["type"] == "not_found_error"


async def test_dev_session_config_returns_what_getSessionConfig_returns(api_client):
    for method in ("POST", "GET"):  # GET: what @orga-ai/core's sessionConfigEndpoint does
        resp = await api_client.request(method, "/_emulator/dev/session-config")
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert set(body) == {"ephemeralToken", "iceServers", "expiresAt"}
        ice = await api_client.get(
            "/v1/realtime/ice-config", headers=bearer(body["ephemeralToken"])
        )
        assert ice.status == 200  # a real token of the first API key
    resp = await api_client.put("/_emulator/dev/session-config")
    assert resp.status == 405


async def test_dev_session_config_respects_the_user_directory(make_api_client):
    client = await make_api_client(
        Settings(signing_secret=SECRET, turn=False, users=("only@example.com",))
    )
    assert (await client.post("/_emulator/dev/session-config")).status == 404
    resp = await client.post("/_emulator/dev/session-config?email=only@example.com")
    assert resp.status == 200


@pytest.mark.parametrize(
    ("host", "mode", "enabled"),
    [
        ("127.0.0.1", "auto", True),
        ("127.0.0.2", "auto", True),
        ("localhost", "auto", True),
        ("::1", "auto", True),
        ("0.0.0.0", "auto", False),
        ("192.0.2.10", "auto", False),
        ("0.0.0.0", "on", True),
        ("127.0.0.1", "off", False),
    ],
)
def test_dev_endpoints_are_on_by_default_only_on_loopback(host, mode, enabled):
    assert dev_endpoints_enabled(Settings(host=host, dev_endpoints=mode)) is enabled


async def test_disabled_dev_endpoints_say_how_to_enable_them(make_api_client):
    client = await make_api_client(Settings(signing_secret=SECRET, turn=False, host="0.0.0.0"))
    resp = await client.post("/_emulator/dev/session-config")
    assert resp.status == 403
    error = (await resp.json())["error"]
    assert error["code"] == "dev_endpoints_disabled" and "--dev-endpoints on" in error["message"]


async def test_inspecting_an_unknown_session_is_a_404(api_client):
    resp = await api_client.get("/_emulator/sessions/conv_nope")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "session_not_found"
