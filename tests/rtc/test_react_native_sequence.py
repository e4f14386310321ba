"""The call as @orga-ai/react-native 1.1.x makes it: a session.update the moment the data channel
opens, before the user does anything.

React Native attaches the live microphone before the offer, and its data channel's `open`
handler sends `{"event": "session.update", "data": {model, voice, temperature, instructions,
modalities}}` at once, with "audio" in `modalities` while the mic is on ("Without this, the
backend may not process audio until the user toggles mic"). The Python client reproduces that
order: its `on_channel_open` hook sends the update when the data channel opens, before the
client's own handling. CONTRACT 5, "What modalities means (revised)": `modalities` says what
the user sends, so an update without "audio" (mic off) means no turns from the user's audio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from emulator.config import Settings
from emulator.testing.client import DEFAULT_PARAMS, SAMPLE_RATE, OrgaClient, wav_pcm
from tests.kit.paths import SPEECH

pytestmark = pytest.mark.slow  # seconds of speech per case

TRANSCRIPT = "conversation.item.input_audio_transcription.completed"
REPLY = "response.output_item.done"
# What RN 1.1.x sends on open with the mic on: the app's params, and "audio" for the live mic.
# They differ from the /calls params (emulator.testing.client.DEFAULT_PARAMS, what core 1.1.x
# sends by default: "Sofía", 0.5, no instructions, audio+video), so the update's effect shows.
MIC_ON = {
    "model": "orga-1-beta",
    "voice": "Victoria",
    "temperature": 0.8,
    "instructions": "Answer in one short sentence.",
    "modalities": ["audio"],
}
# The same with the mic off and the camera on.
MIC_OFF = {**MIC_ON, "modalities": ["video"]}
# After the user's audio stops, a turn from it would have ended within the hangover (default
# 600 ms); this much more is allowed for delivery before "no turn" is concluded.
SETTLE_SECONDS = 1.0


@dataclass
class RNClient:
    client: OrgaClient
    sent_on_open: list[dict[str, Any]]


@pytest.fixture
def react_native(orga_emulator) -> Callable[[dict[str, Any]], RNClient]:
    """Clients whose data channel sends `update` from its `open` event, before anything else."""

    def make(update: dict[str, Any]) -> RNClient:
        sent: list[dict[str, Any]] = []

        def on_channel_open(client: OrgaClient) -> None:
            message = {"event": "session.update", "data": update}
            client.send(message)
            sent.append(message)

        client = OrgaClient(
            orga_emulator.base_url, orga_emulator.api_key, on_channel_open=on_channel_open
        )
        return RNClient(client, sent)

    return make


@pytest.fixture
def orga_emulator_settings() -> Settings:
    return Settings(port=0, turn_port=0)  # the defaults: turn echo mode, 600 ms hangover


async def describe(client: OrgaClient, conversation_id: str) -> dict[str, Any]:
    """GET /_emulator/sessions/{id}: the server's view of the session."""
    async with client.http.get(f"{client.base_url}/_emulator/sessions/{conversation_id}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def connect_like_react_native(rn: RNClient, update: dict[str, Any]) -> str:
    """Connect; check the update went first and the session follows it, on both sides."""
    client = rn.client
    conversation_id = await client.connect(return_transcription=True)
    assert rn.sent_on_open == [{"event": "session.update", "data": update}]
    created = await client.next_event("session.created")
    assert created["session"]["voice"] == DEFAULT_PARAMS["voice"] != update["voice"]
    await client.next_event("conversation.created")
    updated = await client.next_event("session.updated")
    assert updated["session"]["id"] == created["session"]["id"]
    for key, value in update.items():
        assert updated["session"][key] == value, key
    assert updated["session"]["return_transcription"] is True  # untouched by the update

    session = await describe(client, conversation_id)
    for key, value in update.items():
        assert session["params"][key] == value, key
    sources = [entry["source"] for entry in session["params_history"]]
    assert sources == ["calls", "session.update"]
    received = [entry["event"] for entry in session["events"] if entry["direction"] == "in"]
    assert received[0] == {"event": "session.update", "data": update}  # nothing came before it
    return conversation_id


async def test_the_update_on_open_applies_and_a_spoken_turn_is_answered(react_native):
    rn = react_native(MIC_ON)
    client = rn.client
    try:
        conversation_id = await connect_like_react_native(rn, MIC_ON)

        said = asyncio.get_running_loop().time()
        client.say(wav_pcm(SPEECH / "hello.wav"))
        heard = await client.next_event(TRANSCRIPT, timeout=15)
        assert heard["transcript"].strip()
        reply = await client.next_event(REPLY, timeout=15)
        assert reply["text"].strip()
        assert await client.received_audio.wait_for_loud(after=said, timeout=15) > said
        session = await describe(client, conversation_id)
        assert session["turns"] == 1
        assert session["params"]["voice"] == MIC_ON["voice"]  # the turn did not undo the update
    finally:
        await client.hangup()


async def test_an_update_without_audio_on_open_takes_no_turns_from_the_mic(react_native):
    """Mic off from the start: the user's audio arrives but makes no turn, until the mic is
    switched on (the update with "audio" that RN sends then), after which it does.

    Depends on the CONTRACT's revised meaning of `modalities` (the emulator's EchoAssistant
    ignoring the user's audio without "audio"); before that, the first phase sees a turn."""
    rn = react_native(MIC_OFF)
    client = rn.client
    try:
        conversation_id = await connect_like_react_native(rn, MIC_OFF)
        loop = asyncio.get_running_loop()
        before = (await describe(client, conversation_id))["counters"]["audio_in_packets"]

        speech = wav_pcm(SPEECH / "hello.wav")
        said = loop.time()
        client.say(speech)
        quiet_until = said + len(speech) / 2 / SAMPLE_RATE + 0.6 + SETTLE_SECONDS
        for kind in (TRANSCRIPT, REPLY):
            with pytest.raises(TimeoutError):
                await client.next_event(kind, timeout=max(0.0, quiet_until - loop.time()))
        session = await describe(client, conversation_id)
        assert session["counters"]["audio_in_packets"] > before  # the mic's packets did arrive
        assert session["turns"] == 0

        # The mic goes on: RN sends the update with "audio", and the same mic is heard.
        client.update_session(modalities=["audio", "video"])
        updated = await client.next_event("session.updated")
        assert updated["session"]["modalities"] == ["audio", "video"]
        said = loop.time()
        client.say(speech)
        heard = await client.next_event(TRANSCRIPT, timeout=15)
        assert heard["transcript"].strip()
        assert (await client.next_event(REPLY, timeout=15))["text"].strip()
        assert await client.received_audio.wait_for_loud(after=said, timeout=15) > said
        assert (await describe(client, conversation_id))["turns"] == 1
    finally:
        await client.hangup()
