"""A relay-only call from a browser page (relay_page.html), as the browser suite and the
compose suite both make one: the backend's session config over plain HTTP, the TURN entry of
ice-config narrowed to one transport, the offer, /calls and the answer."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

from emulator.config import DEV_API_KEY
from tests.e2e.browser.driver import JS_DIR, Browser

RELAY_PAGE = (JS_DIR / "browser" / "relay_page.html").as_uri()


def request_json(method: str, url: str, token: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=15) as resp:
        return json.load(resp)


def session_config(base_url: str, email: str) -> tuple[str, list[dict[str, Any]]]:
    """What an app's backend does: a token, then the ICE servers for it."""
    query = urllib.parse.urlencode({"email": email})
    secret = request_json("POST", f"{base_url}/v1/realtime/client-secrets?{query}", DEV_API_KEY)
    token = secret["ephemeral_token"]
    return token, request_json("GET", f"{base_url}/v1/realtime/ice-config", token)["iceServers"]


def turn_entry(ice_servers: list[dict[str, Any]], transport: str) -> dict[str, Any]:
    """The TURN entry of ice-config, with only its URL for `transport`."""
    turn = [s for s in ice_servers if any(u.startswith("turn:") for u in s["urls"])]
    assert len(turn) == 1, ice_servers
    urls = [u for u in turn[0]["urls"] if u.endswith(f"?transport={transport}")]
    assert len(urls) == 1, turn
    return {**turn[0], "urls": urls}


def relay_only_call(
    browser: Browser, base_url: str, token: str, turn: dict[str, Any], source: str
) -> dict[str, Any]:
    """Offer with relay candidates only, post it to /calls, apply the answer and wait until
    connected; the /calls answer."""
    offer = browser.evaluate(f"relay.offer({json.dumps([turn])}, 'relay', '{source}')", timeout=20)
    # Firefox lists its end-of-candidates as "" (and so does the SDK's body): not a candidate.
    candidates = [c["candidate"] for c in offer["candidates"] if c["candidate"]]
    assert candidates, browser.evaluate("relay.gatheringErrors")
    assert all(" typ relay" in c for c in candidates)
    call = request_json(
        "POST",
        f"{base_url}/v1/realtime/calls",
        token,
        {"offer": offer, "params": {"modalities": ["audio"], "return_transcription": True}},
    )
    browser.evaluate(f"relay.answer({json.dumps(call['answer']['sdp'])})")
    browser.wait_for("relay.pc.connectionState === 'connected'", timeout=15)
    return call


def selected_pair(browser: Browser, timeout: float = 5) -> dict[str, Any]:
    """The page's selected candidate pair once it has succeeded (evaluate awaits the stats'
    promise; waitForFunction may hand back the promise itself)."""
    deadline = time.monotonic() + timeout
    while True:
        pair = browser.evaluate("relay.stats()")["pair"]
        if pair and pair["state"] == "succeeded":
            return pair
        assert time.monotonic() < deadline, pair
        time.sleep(0.1)
