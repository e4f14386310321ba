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
from collections.abc import Iterator

import pytest

from emulator.net import primary_address
from tests.e2e.browser.driver import Browser
from tests.e2e.browser.relay import (
    RELAY_PAGE,
    relay_only_call,
    request_json,
    selected_pair,
    session_config,
    turn_entry,
)
from turn_stub.credentials import rest_password, rest_username

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(60)]

TURN_SECRET = "browser-suite-turn-secret"
ADMIN = "browser-suite-admin-token"


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


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_the_browser_connects_through_turn(wide_emulator, relay_browser, transport) -> None:
    browser, base_url = relay_browser, wide_emulator.base_url
    browser.goto(RELAY_PAGE)
    token, ice_servers = session_config(base_url, "relay@example.com")
    # ice-config lists TURN over UDP before TCP (the fallback order).
    turn_urls = next(s["urls"] for s in ice_servers if "username" in s)
    assert [u.rsplit("=", 1)[1] for u in turn_urls] == ["udp", "tcp"]

    turn = turn_entry(ice_servers, transport)
    call = relay_only_call(browser, base_url, token, turn, _source(browser))

    pair = selected_pair(browser)
    assert pair["local"]["candidateType"] == "relay", pair
    assert pair["local"]["relayProtocol"] == transport
    if browser.engine == "chromium":  # Firefox's stats have no `url`
        assert pair["local"]["url"] == turn["urls"][0]

    created = browser.wait_for(
        "relay.events.find(e => e.type === 'conversation.created')", timeout=5
    )
    assert created["conversation"]["id"] == call["conversation_id"]
    # The fake mic's words go up through the relay and come back as the echo.
    browser.wait_for("relay.events.find(e => e.type === 'response.output_item.done')", 20)
    assert browser.evaluate("relay.stats().then(s => s.inboundAudioPackets)") > 0
    # Off loopback the control plane wants its admin token.
    session = request_json("GET", f"{base_url}/_emulator/sessions/{call['conversation_id']}", ADMIN)
    assert session["state"] == "connected"
    assert session["counters"]["audio_in_packets"] > 0, session["counters"]
    browser.evaluate("relay.pc.close()")


def test_expired_turn_credentials_allocate_nothing(wide_emulator, relay_browser) -> None:
    browser = relay_browser
    browser.goto(RELAY_PAGE)
    host_port = wide_emulator.base_url  # the TURN server: same host, port from ice-config
    _, ice_servers = session_config(host_port, "relay@example.com")
    turn = turn_entry(ice_servers, "udp")
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
