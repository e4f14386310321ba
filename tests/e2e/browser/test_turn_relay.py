"""TURN-first fallback in real browsers, relay only, through the emulator's turn_stub.

A plain RTCPeerConnection (tests/js/browser/relay_page.html) with `iceTransportPolicy: "relay"`
and the iceServers of ice-config connects to the emulator through TURN over UDP, then over TCP;
the selected pair is a relay candidate of that protocol; the AI's audio and the data-channel
events arrive. Expired TURN credentials allocate nothing.

Each test runs in Chromium and in Firefox (Debian's firefox-esr over WebDriver BiDi; Firefox
relays with Send/Data indications where Chromium binds channels). Browsers gather no candidates
where only loopback exists, so the emulator binds 0.0.0.0 and hands out this machine's
interface address (its default --turn-host for a wildcard bind).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.config import DEV_API_KEY
from emulator.net import primary_address
from tests.e2e.browser.driver import JS_DIR, Browser
from turn_stub.credentials import rest_password, rest_username

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(60)]

TURN_SECRET = "browser-suite-turn-secret"
ADMIN = "browser-suite-admin-token"
RELAY_PAGE = (JS_DIR / "browser" / "relay_page.html").as_uri()


@pytest.fixture
def wide_emulator(emulator_process):
    address = primary_address()
    assert address, "this machine has no non-loopback interface address for Chromium to use"
    emu = emulator_process(
        "--host",
        "0.0.0.0",
        "--turn-port",
        "0",
        "--turn-secret",
        TURN_SECRET,
        "--admin-token",
        ADMIN,
    )
    assert address in emu.base_url
    return emu


@pytest.fixture(scope="module", params=["chromium", "firefox"])
def relay_browser(request) -> Iterator[Browser]:
    browser = Browser(engine=request.param)
    yield browser
    browser.close()


def _source(browser: Browser) -> str:
    # Chromium's fake mic plays the speech fixture once; Firefox's is an endless tone, so its
    # page makes one burst of tone instead.
    return "tone" if browser.engine == "firefox" else "mic"


def _request(method: str, url: str, token: str, body: Any = None) -> Any:
    data = b"" if method == "POST" and body is None else None
    if body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=15) as resp:
        return json.load(resp)


def _session_config(base_url: str) -> tuple[str, list[dict[str, Any]]]:
    """What an app's backend does: a token, then the ICE servers for it."""
    secret = _request(
        "POST", f"{base_url}/v1/realtime/client-secrets?email=relay%40example.com", DEV_API_KEY
    )
    token = secret["ephemeral_token"]
    return token, _request("GET", f"{base_url}/v1/realtime/ice-config", token)["iceServers"]


def _turn_only(ice_servers: list[dict[str, Any]], transport: str) -> list[dict[str, Any]]:
    """The TURN entry of ice-config, keeping only the URL of one transport."""
    turn = [s for s in ice_servers if any(u.startswith("turn:") for u in s["urls"])]
    assert len(turn) == 1, ice_servers
    urls = [u for u in turn[0]["urls"] if u.endswith(f"?transport={transport}")]
    assert len(urls) == 1, turn
    return [{**turn[0], "urls": urls}]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_the_browser_connects_through_turn(wide_emulator, relay_browser, transport) -> None:
    browser, base_url = relay_browser, wide_emulator.base_url
    browser.goto(RELAY_PAGE)
    token, ice_servers = _session_config(base_url)
    # ice-config lists TURN over UDP before TCP (the fallback order).
    turn_urls = next(s["urls"] for s in ice_servers if "username" in s)
    assert [u.rsplit("=", 1)[1] for u in turn_urls] == ["udp", "tcp"]

    servers = json.dumps(_turn_only(ice_servers, transport))
    offer = browser.evaluate(f"relay.offer({servers}, 'relay', '{_source(browser)}')", timeout=20)
    # Firefox lists its end-of-candidates as "" (and so does the SDK's body): not a candidate.
    candidates = [c["candidate"] for c in offer["candidates"] if c["candidate"]]
    assert candidates, browser.evaluate("relay.gatheringErrors")
    assert all(" typ relay" in c for c in candidates)
    call = _request(
        "POST",
        f"{base_url}/v1/realtime/calls",
        token,
        {"offer": offer, "params": {"modalities": ["audio"], "return_transcription": True}},
    )
    browser.evaluate(f"relay.answer({json.dumps(call['answer']['sdp'])})")
    browser.wait_for("relay.pc.connectionState === 'connected'", timeout=15)

    pair = browser.wait_for(
        "relay.stats().then(s => s.pair && s.pair.state === 'succeeded' && s.pair)", timeout=5
    )
    assert pair["local"]["candidateType"] == "relay"
    assert pair["local"]["relayProtocol"] == transport
    if browser.engine == "chromium":  # Firefox's stats have no `url`
        assert pair["local"]["url"] == _turn_only(ice_servers, transport)[0]["urls"][0]

    created = browser.wait_for(
        "relay.events.find(e => e.type === 'conversation.created')", timeout=5
    )
    assert created["conversation"]["id"] == call["conversation_id"]
    # The fake mic's words go up through the relay and come back as the echo.
    browser.wait_for("relay.events.find(e => e.type === 'response.output_item.done')", 20)
    assert browser.evaluate("relay.stats().then(s => s.inboundAudioPackets)") > 0
    # Off loopback the control plane wants its admin token.
    session = _request("GET", f"{base_url}/_emulator/sessions/{call['conversation_id']}", ADMIN)
    assert session["state"] == "connected"
    assert session["counters"]["audio_in_packets"] > 0, session["counters"]
    browser.evaluate("relay.pc.close()")


def test_expired_turn_credentials_allocate_nothing(wide_emulator, relay_browser) -> None:
    browser = relay_browser
    browser.goto(RELAY_PAGE)
    host_port = wide_emulator.base_url  # the TURN server: same host, port from ice-config
    _, ice_servers = _session_config(host_port)
    turn = _turn_only(ice_servers, "udp")[0]
    expired = rest_username(int(time.time()) - 60, "relay-user")
    stale = [
        {
            "urls": turn["urls"],
            "username": expired,
            "credential": rest_password(TURN_SECRET, expired),
        }
    ]

    offer = browser.evaluate(f"relay.offer({json.dumps(stale)}, 'relay', 'tone')", timeout=20)
    assert [c for c in offer["candidates"] if c["candidate"]] == []
    errors = browser.evaluate("relay.gatheringErrors")
    # Chromium reports the URL as given, Firefox without its `?transport=` part.
    server = turn["urls"][0].split("?")[0]
    assert errors and all(e["url"].split("?")[0] == server for e in errors), errors
    assert any(e["errorCode"] == 401 for e in errors), errors
