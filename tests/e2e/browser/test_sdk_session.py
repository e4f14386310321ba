"""One session of the published @orga-ai/react in headless Chromium, against the emulator.

The page is a React app on the unmodified SDKs (tests/js/browser/sdk_app.jsx); its session
endpoint is a Node backend on @orga-ai/node (tests/js/browser/backend.mjs). @orga-ai/core posts
to the hard-coded https://api.orga-ai.com/v1/realtime/calls: Chromium maps that host to the
emulator in TLS mode and accepts its certificate by SPKI, as the emulator's startup hints say.
The mic plays fixtures/speech/hello.wav once.

The same session runs in Firefox (Debian's firefox-esr over WebDriver BiDi): there the host is
mapped by prefs (network.dns.localDomains, network.socket.forcePort) and the page feeds the
speech fixture to getUserMedia.
"""

from __future__ import annotations

import pytest

from tests.e2e.browser.driver import wait_closed, wait_connected, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(90)]

# RMS of the AI's audio in WebAudio: the echo of the speech fixture peaks well above 0.01,
# the silence the AI sends while the user talks is exactly 0.
AUDIBLE_RMS = 0.01


@pytest.mark.parametrize("engine", ["chromium", "firefox"])
def test_a_react_sdk_session_connects_hears_answers_updates_and_ends(
    browser_factory, tls_emulator, sdk_backend, engine
) -> None:
    if engine == "firefox":
        # Firefox's fake mic is an endless tone: the page plays the speech fixture instead.
        browser = browser_factory(engine="firefox", **tls_emulator.firefox_options())
        browser.goto(sdk_backend + "?voice=coral&temperature=0.3&mic=wav")
    else:
        browser = browser_factory(*tls_emulator.chromium_args())
        browser.goto(sdk_backend + "?voice=coral&temperature=0.3")
    browser.wait_for("window.orgaTest && window.orgaTest.hook")

    # `modalities` as an app passes it: without it the SDK 1.0.5 tells the server [] when the
    # mic goes on (enableMic sends the state of the render before), and the echo stays silent.
    browser.evaluate(
        "orgaTest.hook.startSession({modalities: ['audio']}).then(() => 'started')", timeout=20
    )
    conversation_id = wait_connected(browser)

    created = browser.wait_for("orgaTest.callbacks.sessionCreated[0]", timeout=5)
    session = created["session"]
    assert session["voice"] == "coral"
    assert session["model"] == "orga-1-beta"
    assert session["temperature"] == 0.3
    assert session["return_transcription"] is True
    conversation = browser.wait_for("orgaTest.callbacks.conversationCreated[0]", timeout=5)
    assert conversation["conversation"]["id"] == conversation_id
    status, state = tls_emulator.get_json(f"/_emulator/sessions/{conversation_id}")
    assert status == 200 and state["state"] == "connected"

    # Silence from the AI until the user has spoken: the energy measured later is the echo.
    assert browser.evaluate("orgaTest.energy.measuring") is True
    assert browser.evaluate("orgaTest.energy.peak") < AUDIBLE_RMS

    browser.evaluate("orgaTest.hook.enableMic().then(() => 'on')")
    items = browser.wait_for(
        "orgaTest.hook.conversationItems.length >= 2 && orgaTest.hook.conversationItems",
        timeout=20,
    )
    assert [item["sender"] for item in items] == ["user", "assistant"]
    assert all(item["conversationId"] == conversation_id for item in items)
    assert items[0]["content"]["message"] and items[1]["content"]["message"]
    peak = browser.wait_for(
        f"orgaTest.energy.peak > {AUDIBLE_RMS} && orgaTest.energy.peak", timeout=10
    )
    assert peak > AUDIBLE_RMS
    stats = browser.evaluate("orgaTest.stats()")
    assert stats["inboundAudio"]["packetsReceived"] > 0
    # One turn: exactly one transcript and one reply reached the SDK.
    assert browser.evaluate("orgaTest.hook.conversationItems.length") == 2

    # updateParams sends the hook's state of the render before the call (SDK 1.0.5), so the new
    # voice leaves with the next update, once React has re-rendered with it. (The provider's
    # `voice` is its own state, so the re-render shows as a new updateParams function.)
    browser.evaluate(
        "orgaTest.before = orgaTest.hook.updateParams; orgaTest.before({voice: 'ash'})"
    )
    browser.wait_for("orgaTest.hook.updateParams !== orgaTest.before", timeout=5)
    browser.evaluate("orgaTest.hook.updateParams({voice: 'ash'})")
    wait_until(
        lambda: (
            tls_emulator.get_json(f"/_emulator/sessions/{conversation_id}")[1]["params"]["voice"]
            == "ash"
        ),
        timeout=3,
        what="the server's session has voice ash",
    )
    acked = browser.wait_for(
        "orgaTest.events.find(e => e.type === 'session.updated' && e.session.voice === 'ash')",
        timeout=5,
    )
    assert acked["session"]["id"] == session["id"]

    browser.screenshot(f"sdk_session_{engine}.png")
    browser.evaluate("orgaTest.hook.endSession().then(() => 'ended')")
    final = wait_closed(
        lambda: tls_emulator.get_json(f"/_emulator/sessions/{conversation_id}")[1],
        within=2,
        what="the server closed the session after endSession()",
    )
    assert final["end_reason"] == "peer_closed"
    assert browser.evaluate("orgaTest.hook.connectionState") == "closed"
    assert browser.evaluate("orgaTest.callbacks.errors") == []
