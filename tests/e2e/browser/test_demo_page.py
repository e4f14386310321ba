"""The demo page at / in headless Chromium: Start, talk (the speech fixture), events, End."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from emulator.ai import voices
from tests.e2e.browser.driver import wait_closed

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(60)]

EVENT_TYPES = "[...document.querySelectorAll('#events li')].map(li => li.dataset.type)"


def _session(base_url: str, conversation_id: str) -> dict:
    with urllib.request.urlopen(
        f"{base_url}/_emulator/sessions/{conversation_id}", timeout=5
    ) as resp:
        return json.load(resp)


def test_the_demo_page_starts_a_call_lists_events_and_ends_it(
    emulator_process, browser_factory
) -> None:
    emu = emulator_process("--turn-port", "0")
    browser = browser_factory()
    started = time.monotonic()
    browser.goto(emu.base_url + "/")
    assert browser.evaluate("document.querySelector('#state').textContent") == "idle"

    browser.click("#start")
    browser.wait_for("document.querySelector('#state').dataset.state === 'connected'", 10)
    assert time.monotonic() - started < 10  # what a newcomer sees within ten seconds
    browser.wait_for(f"{EVENT_TYPES}.includes('conversation.created')", 5)
    conversation_id = browser.evaluate("document.querySelector('#conversation-id').textContent")
    assert conversation_id.startswith("conv_")
    assert _session(emu.base_url, conversation_id)["state"] == "connected"
    session_text = browser.evaluate("document.querySelector('#session-params').textContent")
    # The voice list is the catalogue, the current SDKs' default selected.
    assert "voice Sofía" in session_text and "model orga-1-beta" in session_text
    # Grouped by language, the 1.0.x names last: every catalogue voice once.
    options = browser.evaluate("[...document.querySelectorAll('#voice option')].map(o => o.value)")
    assert sorted(options) == sorted(voice.name for voice in voices.CATALOGUE)
    groups = browser.evaluate("[...document.querySelectorAll('#voice optgroup')].map(g => g.label)")
    assert groups[-1] == "1.0.x SDK names" and "Español" in groups

    # The fake mic says the fixture once: one turn, transcribed and answered.
    browser.wait_for("document.querySelectorAll('#items li').length >= 2", 20)
    senders = browser.evaluate(
        "[...document.querySelectorAll('#items li')].map(li => li.dataset.sender)"
    )
    assert senders == ["user", "assistant"]
    assert browser.evaluate(EVENT_TYPES)[::-1] == [
        "session.created",
        "conversation.created",
        "conversation.item.input_audio_transcription.completed",
        "response.output_item.done",
    ]
    assert browser.evaluate("document.querySelector('#note').hidden") is True
    # ... and the echo is heard: the page's level meter saw the AI's audio.
    browser.wait_for("Number(document.querySelector('#level').dataset.peak) > 0.01", 10)

    # The voice control sends session.update; the server acknowledges and applies it.
    browser.evaluate(
        "const v = document.querySelector('#voice'); v.value = 'Élise';"
        " v.dispatchEvent(new Event('change'))"
    )
    browser.wait_for(f"{EVENT_TYPES}.includes('session.updated')", 5)
    assert "voice Élise" in browser.evaluate(
        "document.querySelector('#session-params').textContent"
    )
    assert _session(emu.base_url, conversation_id)["params"]["voice"] == "Élise"
    browser.screenshot("demo_page.png")

    browser.click("#end")
    assert browser.evaluate("document.querySelector('#state').textContent") == "closed"
    wait_closed(
        lambda: _session(emu.base_url, conversation_id),
        within=2,
        what="the server closed the session after End",
    )
