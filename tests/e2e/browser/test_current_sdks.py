"""The CURRENT Orga client SDKs, built from source, unmodified, in real browsers (issue 10).

tests/js/current/build.mjs builds @orga-ai/react and @orga-ai/core 1.1.1, @orga-ai/node 1.0.1 and
the @orga-ai/widget 0.1.1 CDN bundle from the SDK sources (tests/kit/sdk_sources.py finds them, or
every case here skips; ORGA_SDK_REQUIRED=1 makes that a failure). The page's backend
(tests/js/current/backend.mjs) gets sessions with the node SDK 1.0.1, which sends no email.

- React 1.1.1 (tests/js/current/app.jsx) in Chromium and Firefox, each with a WAV microphone
  (the speech fixture once) and with the browser's own fake microphone (Chromium's beeps,
  Firefox's endless tone). The app passes the emulator as `baseUrl` (plain HTTP, cross-origin)
  and sets no voice: the SDK's default, "Sofía", goes on the wire. One more case sets a current
  voice with an accent ("Álvaro").
- The widget 0.1.1 on a plain page, in Chromium, driven by clicks. It has no `baseUrl` option
  (initWidget passes none to OrgaAI.init), so it reaches the emulator as a real deployment would
  reach Orga: api.orga-ai.com mapped to the emulator in TLS mode (README, "TLS mode").
"""

from __future__ import annotations

import json
import subprocess
import unicodedata
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from emulator.config import DEV_API_KEY
from tests.e2e.browser.driver import Browser, start_page_backend, wait_closed, wait_connected

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(90)]

# The current SDKs' default voice (core DEFAULT_ORGAAI_VOICE), precomposed as they send it.
DEFAULT_VOICE = "Sof\u00eda"
ACCENTED_VOICE = "\u00c1lvaro"
# RMS of the AI's audio in WebAudio: an echo peaks well above it, the AI's silence is exactly 0.
AUDIBLE_RMS = 0.01
# With the browser's own fake microphone the AI must take its turn within this many seconds of
# enableMic(): the user's transcript arrives and the AI's voice is heard. (Its reply's text item,
# response.output_item.done, comes once that voice has played: it only has to arrive.)
DEFAULT_MIC_TURN_WITHIN = 5.0

ASSISTANT_ITEMS = "orgaTest.callbacks.messages.filter(m => m.sender === 'assistant')"


def get_json(base_url: str, path: str, context: Any = None) -> Any:
    """GET from the emulator (its /_emulator control plane needs no token on loopback)."""
    with urllib.request.urlopen(base_url + path, timeout=5, context=context) as response:
        return json.load(response)


@pytest.fixture
def current_backend(current_build: Path) -> Iterator[Callable[..., str]]:
    """Starts backend.mjs against an emulator; returns the page's base URL (ends with /)."""
    procs: list[subprocess.Popen] = []

    def start(emulator_url: str, env: dict[str, str] | None = None) -> str:
        argv = ["node", "current/backend.mjs", str(current_build), emulator_url, DEV_API_KEY]
        proc, url = start_page_backend(argv, "the current-SDK backend", env)
        procs.append(proc)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def open_react_app(
    browser_factory, emulator_process, current_backend, engine: str, mic: str, voice: str | None
) -> tuple[Browser, str]:
    """An emulator in plain HTTP, the backend, and the React app open in `engine`."""
    emu = emulator_process("--turn-port", "0")
    page = current_backend(emu.base_url)
    query = {}
    if voice:
        query["voice"] = voice
    if engine == "firefox":
        # Firefox's fake microphone is an endless tone; ?mic=wav has the page play the fixture.
        browser = browser_factory(engine="firefox")
        if mic == "wav":
            query["mic"] = "wav"
    else:
        browser = browser_factory(fake_audio_file=(mic == "wav"))
    browser.goto(page + "?" + urllib.parse.urlencode(query))
    browser.wait_for("window.orgaTest && window.orgaTest.hook", timeout=10)
    assert browser.evaluate("orgaTest.config.baseUrl") == emu.base_url
    return browser, emu.base_url


def assert_a_whole_call(browser: Browser, base_url: str, *, voice: str, mic: str) -> None:
    """Session config, connect, session.created, a turn answered and heard, endSession."""
    assert browser.evaluate("orgaTest.hook.connectionState") == "closed"
    browser.evaluate("orgaTest.hook.startSession().then(() => 'started')", timeout=20)
    conversation_id = wait_connected(browser)

    # The backend's session config (node SDK 1.0.1): a token and ICE servers, STUN and TURN.
    fetched = browser.wait_for("orgaTest.sessionConfigs.length === 1 && orgaTest.sessionConfigs")
    assert fetched[0]["status"] == 200, fetched
    config = fetched[0]["body"]
    claims = jwt.decode(config["ephemeralToken"], options={"verify_signature": False})
    schemes = [server["urls"][0].split(":")[0] for server in config["iceServers"]]
    assert schemes == ["stun", "turn"]
    assert config["iceServers"][1]["username"] and config["iceServers"][1]["credential"]
    # ... minted without an email, fetched ICE servers with, and consumed by this call.
    token = next(
        t for t in get_json(base_url, "/_emulator/tokens")["tokens"] if t["jti"] == claims["jti"]
    )
    assert token["email"] is None
    assert token["status"] == "consumed" and token["conversation_id"] == conversation_id
    paths = [
        (r["method"], r["path"], r["status"])
        for r in get_json(base_url, "/_emulator/requests")["requests"]
        if r["path"].startswith("/v1/")
    ]
    assert [p for p in paths if p[0] != "OPTIONS"] == [
        ("POST", "/v1/realtime/client-secrets", 200),
        ("GET", "/v1/realtime/ice-config", 200),
        ("POST", "/v1/realtime/calls", 200),
    ]

    # session.created, through the SDK's own callback, with the voice as the SDK sent it.
    created = browser.wait_for("orgaTest.callbacks.sessionCreated[0]", timeout=5)
    session = created["session"]
    assert session["voice"] == voice and unicodedata.is_normalized("NFC", session["voice"])
    assert session["model"] == "orga-1-beta"
    assert session["temperature"] == 0.5  # the SDK's default
    assert session["return_transcription"] is True
    conversation = browser.wait_for("orgaTest.callbacks.conversationCreated[0]", timeout=5)
    assert conversation["conversation"]["id"] == conversation_id
    state = get_json(base_url, f"/_emulator/sessions/{conversation_id}")
    assert state["state"] == "connected" and state["params"]["voice"] == voice
    assert state["token"]["jti"] == claims["jti"]

    # The AI is silent until the user has spoken: the energy measured later is its answer.
    assert browser.evaluate("orgaTest.energy.measuring") is True
    assert browser.evaluate("orgaTest.energy.peak") < AUDIBLE_RMS
    assert browser.evaluate("orgaTest.callbacks.messages") == []

    browser.evaluate(f"orgaTest.energy.threshold = {AUDIBLE_RMS}")
    browser.evaluate("orgaTest.micAt = performance.now(); orgaTest.hook.enableMic().then(() => 1)")
    browser.wait_for(f"{ASSISTANT_ITEMS}.length >= 1", timeout=20)
    items = browser.evaluate("orgaTest.callbacks.messages")
    times = browser.evaluate("orgaTest.callbacks.messageTimes")
    mic_at = browser.evaluate("orgaTest.micAt")
    # A transcript of the user's turn first, then the assistant's reply, both through
    # onConversationMessageCreated and into the hook's conversationItems. (A browser's own fake
    # microphone never stops: its next turn's transcript may come before the first reply.)
    senders = [item["sender"] for item in items]
    reply = senders.index("assistant")
    assert senders[0] == "user", items
    if mic == "wav":
        assert senders == ["user", "assistant"], items
    assert all(item["conversationId"] == conversation_id for item in items)
    assert items[0]["content"]["message"].strip() and items[reply]["content"]["message"].strip()
    assert items[reply]["voiceType"] == voice
    hook_items = browser.evaluate("orgaTest.hook.conversationItems")
    assert hook_items[: reply + 1] == items[: reply + 1]

    # The AI's audio is heard: WebAudio energy and RTP packets on the inbound audio track.
    peak = browser.wait_for(
        f"orgaTest.energy.peak > {AUDIBLE_RMS} && orgaTest.energy.peak", timeout=10
    )
    assert peak > AUDIBLE_RMS
    loud_at = browser.evaluate("orgaTest.energy.loudAt")
    taken, heard, replied = ((at - mic_at) / 1000 for at in (times[0], loud_at, times[reply]))
    print(
        f"{browser.engine} mic={mic}: transcript {taken:.2f} s, voice {heard:.2f} s,"
        f" item {replied:.2f} s"
    )
    if mic == "default":
        assert max(taken, heard) < DEFAULT_MIC_TURN_WITHIN, (
            f"the AI did not take its turn within {DEFAULT_MIC_TURN_WITHIN} s of enableMic with"
            f" the browser's fake microphone: transcript after {taken:.2f} s, its voice heard"
            f" after {heard:.2f} s (its reply's item after {replied:.2f} s)"
        )
    stats = browser.evaluate("orgaTest.stats()")
    assert stats["inboundAudio"]["packetsReceived"] > 0
    assert stats["outboundAudio"]["packetsSent"] > 0
    turns = get_json(base_url, f"/_emulator/sessions/{conversation_id}")["turns"]
    if mic == "wav":
        # The fixture is one utterance: one turn, one transcript and one reply.
        assert turns == 1
        assert browser.evaluate("orgaTest.callbacks.messages.length") == 2
    else:
        assert turns >= 1

    browser.evaluate("orgaTest.hook.endSession().then(() => 'ended')")
    final = wait_closed(
        lambda: get_json(base_url, f"/_emulator/sessions/{conversation_id}"),
        within=3,
        what="the server closed the session after endSession()",
    )
    assert final["end_reason"] == "peer_closed"
    assert browser.evaluate("orgaTest.hook.connectionState") == "closed"
    assert browser.evaluate("orgaTest.callbacks.ended") == 1
    assert browser.evaluate("orgaTest.callbacks.errors") == []


@pytest.mark.parametrize("mic", ["wav", "default"])
@pytest.mark.parametrize("engine", ["chromium", "firefox"])
def test_react_1_1_a_whole_call_with_the_default_voice(
    browser_factory, emulator_process, current_backend, engine, mic
) -> None:
    browser, base_url = open_react_app(
        browser_factory, emulator_process, current_backend, engine, mic, voice=None
    )
    assert_a_whole_call(browser, base_url, voice=DEFAULT_VOICE, mic=mic)
    browser.screenshot(f"current_react_{engine}_{mic}.png")


def test_react_1_1_a_current_voice_with_an_accent(
    browser_factory, emulator_process, current_backend
) -> None:
    browser, base_url = open_react_app(
        browser_factory, emulator_process, current_backend, "chromium", "wav", ACCENTED_VOICE
    )
    assert_a_whole_call(browser, base_url, voice=ACCENTED_VOICE, mic="wav")


WIDGET = "document.querySelector('.orga-widget-shell')"
WIDGET_STATUS = "document.querySelector('.orga-widget__status')"
BUBBLES = "[...document.querySelectorAll('.orga-widget__bubble')]"


def test_the_widget_on_a_plain_page_calls_answers_and_hangs_up(
    browser_factory, tls_emulator, current_backend
) -> None:
    page = current_backend(
        tls_emulator.base_url, env={"NODE_EXTRA_CA_CERTS": str(tls_emulator.ca_path)}
    )
    browser = browser_factory(*tls_emulator.chromium_args())
    browser.goto(page + "widget")
    # The floating badge (the default theme): a user opens it, then starts a session.
    browser.wait_for(f"{WIDGET} && {WIDGET}.dataset.open === 'false'", timeout=10)
    browser.click(".orga-widget__badge-button")
    browser.wait_for(f"{WIDGET}.dataset.open === 'true'", timeout=5)
    assert browser.evaluate(f"{WIDGET_STATUS}.textContent") == "Closed"
    browser.click("button:has-text('Start session')")
    browser.wait_for(f"{WIDGET_STATUS}.textContent === 'Connected'", timeout=20)
    assert browser.evaluate("document.querySelector('.orga-widget__error')") is None

    _, live = tls_emulator.get_json("/_emulator/sessions?state=live")
    assert len(live["sessions"]) == 1
    conversation_id = live["sessions"][0]["conversation_id"]
    _, session = tls_emulator.get_json(f"/_emulator/sessions/{conversation_id}")
    assert session["state"] == "connected"
    assert session["params"]["voice"] == DEFAULT_VOICE  # the widget's default
    assert session["params"]["return_transcription"] is True  # transcript: "panel"
    assert session["token"]["email"] is None  # the backend's node SDK 1.0.1

    # The mic (Chromium's WAV fake: the speech fixture once): one turn, shown in the panel.
    browser.click("button:has-text('Enable mic')")
    browser.wait_for(f"{BUBBLES}.length >= 2", timeout=20)
    bubbles = browser.evaluate(
        f"{BUBBLES}.map(b => [b.className, b.querySelector('p').textContent])"
    )
    assert [cls.rsplit("--", 1)[1] for cls, _ in bubbles] == ["user", "assistant"]
    assert all(text.strip() for _, text in bubbles)
    assert (
        browser.evaluate(
            "document.querySelector('button.orga-widget__button--outline').textContent"
        )
        == "Mute mic"
    )
    _, session = tls_emulator.get_json(f"/_emulator/sessions/{conversation_id}")
    assert session["turns"] == 1
    assert session["counters"]["audio_out_speech"] > 0  # the reply went out as audio
    browser.screenshot("current_widget_chromium.png")

    browser.click("button:has-text('Disconnect')")
    final = wait_closed(
        lambda: tls_emulator.get_json(f"/_emulator/sessions/{conversation_id}")[1],
        within=3,
        what="the server closed the session after the widget's Disconnect",
    )
    assert final["end_reason"] == "peer_closed"
    browser.wait_for(f"{WIDGET_STATUS}.textContent === 'Closed'", timeout=5)
    assert browser.evaluate("document.querySelector('.orga-widget__error')") is None
