"""Scripted scenarios (a Responder), observed from the SDK-like client."""

from __future__ import annotations

import asyncio
import time

import pytest

from emulator.control.scenarios import load_file
from emulator.testing.client import SessionConfig, tone_pcm
from tests.kit.paths import SCENARIOS

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("path", sorted(SCENARIOS.iterdir()), ids=lambda p: p.name)
def test_the_shipped_examples_load(path):
    scenario = load_file(path)
    assert scenario.turns and scenario.name == path.stem


def test_reply_audio_is_encoded_once_in_20ms_opus_frames():
    scenario = load_file(SCENARIOS / "greeting.yaml")
    wav, tone = scenario.turns[0].audio, scenario.turns[1].audio
    assert isinstance(wav, tuple) and len(wav) > 50  # hello.wav lasts seconds
    assert 25 <= len(tone) <= 27  # 0.5 s of 20 ms frames (plus the encoder's tail)
    assert all(p[0] >> 3 >= 16 and p[0] & 0x3 == 0 for p in tone)  # CELT 20 ms, one frame


@pytest.mark.slow
async def test_a_scripted_conversation(emulator, make_sdk_client):
    posted = await emulator.control(
        "POST",
        "/scenarios?test_id=script-1",
        data=(SCENARIOS / "greeting.yaml").read_text().replace("../speech/", "fixtures/speech/"),
        headers={"Content-Type": "application/yaml"},
        expect=201,
    )
    assert posted["name"] == "greeting" and posted["test_id"] == "script-1"
    client = make_sdk_client(emulator)
    token = await emulator.mint(client.email, test_id="script-1")
    client.config = SessionConfig(token, [])  # as minted by a backend under the test id
    conversation_id = await client.connect(return_transcription=True)

    said_at = asyncio.get_running_loop().time()
    client.say(tone_pcm(440, seconds=0.6))
    heard = await client.next_event("conversation.item.input_audio_transcription.completed")
    reply = await client.next_event("response.output_item.done")
    assert heard["transcript"] == "Hello, can you hear me?"
    assert reply["text"] == "Hello! Yes, I can hear you."
    await client.received_audio.wait_for_loud(after=said_at, timeout=10)  # hello.wav, spoken

    asked = time.monotonic()
    client.send_text("and the weather?")
    second = await client.next_event("response.output_item.done")
    assert second["text"] == "Sunny, with a light breeze."
    assert time.monotonic() - asked >= 0.4  # delay_ms
    # hang_up after_turns: 2
    assert await client.wait_for_state({"closed", "failed", "disconnected"}, 15)
    ended = await emulator.ended(conversation_id)
    assert ended["end_reason"] == "server_hangup"
    assert ended["responder"] == "scenario:greeting"


async def test_an_error_event_then_a_reply_and_scoping_by_email(emulator, make_sdk_client):
    text = (SCENARIOS / "error-then-recover.json").read_text()
    await emulator.control(
        "POST",
        "/scenarios?email=scripted@example.com",
        data=text,
        headers={"Content-Type": "application/json"},
        expect=201,
    )
    scripted = make_sdk_client(emulator, "scripted@example.com")
    plain = make_sdk_client(emulator, "plain@example.com")
    await scripted.connect()
    await plain.connect()
    scripted.send_text("hi")
    error = await scripted.next_event("error")
    assert error["error"]["code"] == "rate_limit_exceeded"
    scripted.send_text("hi again")
    assert (await scripted.next_event("response.output_item.done"))["text"] == "All good now."
    plain.send_text("hi")
    assert (await plain.next_event("response.output_item.done"))["text"] == "hi"  # echo
    assert scripted.conversation_id in emulator.registry.sessions  # no hang-up scripted
    await emulator.control("DELETE", "/scenarios")
    assert (await emulator.control("GET", "/scenarios"))["posted"] == []


@pytest.mark.slow
async def test_a_scenario_file_given_at_startup_hangs_up_after_seconds(
    make_emulator, make_sdk_client
):
    emulator = await make_emulator(scenario=str(SCENARIOS / "hang-up-after-seconds.yaml"))
    assert (await emulator.control("GET", "/scenarios"))["configured"]["name"] == (
        "hang-up-after-seconds"
    )
    client = make_sdk_client(emulator)
    conversation_id = await client.connect()
    started = time.monotonic()
    ended = await emulator.ended(conversation_id, timeout=10)
    assert ended["end_reason"] == "server_hangup"
    assert time.monotonic() - started >= 2.5


async def test_invalid_scenarios_are_refused_naming_the_field(emulator):
    for body, param in (
        ('{"turns": [{"reply": 3}]}', "turns[0].reply"),
        ('{"turns": [{"audio": {"wav": "/nope.wav"}}]}', "turns[0].audio.wav"),
        ("turns: [{colour: red}]", "turns[0]"),
        ('{"turns": [], "hang_up": {"after_turns": 0}}', "hang_up.after_turns"),
    ):
        media_type = "application/json" if body.startswith("{") else "application/yaml"
        headers = {"Content-Type": media_type}
        error = (
            await emulator.control("POST", "/scenarios", data=body, headers=headers, expect=400)
        )["error"]
        assert error["param"] == param, (body, error)
