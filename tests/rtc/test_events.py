"""The data channel: the events the SDK sees, and how the emulator answers client events."""

from __future__ import annotations

import json

import pytest

from emulator.testing.tracks import ToneBurstTrack

pytestmark = pytest.mark.timeout(60)

SESSION_FIELDS = {
    "id",
    "object",
    "model",
    "voice",
    "temperature",
    "instructions",
    "modalities",
    "return_transcription",
}


async def test_session_and_conversation_created_on_open(emulator, sdk_client):
    conversation_id = await sdk_client.connect(
        voice="coral", temperature=0.2, instructions="Be brief."
    )
    created = await sdk_client.event("session.created")
    conversation = await sdk_client.event("conversation.created")

    assert [e["type"] for e in sdk_client.events[:2]] == ["session.created", "conversation.created"]
    session = created["session"]
    assert SESSION_FIELDS <= session.keys()
    assert session["object"] == "realtime.session"
    assert session["id"].startswith("sess_")
    assert (session["voice"], session["temperature"], session["instructions"]) == (
        "coral",
        0.2,
        "Be brief.",
    )
    # Defaults fill in what was not given.
    assert session["model"] == "orga-1-beta"
    assert session["modalities"] == ["audio", "video"]
    assert session["return_transcription"] is False
    assert conversation["conversation"]["id"] == conversation_id
    assert all(e["event_id"].startswith("event_") for e in sdk_client.events)
    assert len({e["event_id"] for e in sdk_client.events}) == len(sdk_client.events)


async def test_defaults_when_params_are_absent(emulator, sdk_client):
    status, body = await sdk_client.post_call(
        await sdk_client.mint_token(), await sdk_client.offer(), {}
    )
    assert status == 200
    await sdk_client.apply_answer(body)
    session = (await sdk_client.event("session.created"))["session"]
    assert (session["voice"], session["temperature"], session["instructions"]) == (
        "Sofía",
        0.5,
        None,
    )


async def test_session_update_applies_valid_values(emulator, sdk_client):
    await sdk_client.connect()
    await sdk_client.event("conversation.created")
    sdk_client.send({"event": "session.update", "data": {"voice": "sage", "modalities": ["audio"]}})
    updated = (await sdk_client.event("session.updated"))["session"]
    assert updated["voice"] == "sage" and updated["modalities"] == ["audio"]
    assert updated["id"] == (await sdk_client.event("session.created"))["session"]["id"]
    session = emulator.registry.sessions[sdk_client.conversation_id]
    assert session.params.voice == "sage"


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"voice": "robot"}, "data.voice"),
        ({"temperature": 7}, "data.temperature"),
        ({"model": "gpt-4"}, "data.model"),
        ({"modalities": ["smell"]}, "data.modalities"),
    ],
)
async def test_session_update_refuses_invalid_values_and_keeps_the_old(
    emulator, sdk_client, data, param
):
    await sdk_client.connect(voice="echo")
    await sdk_client.event("conversation.created")
    sdk_client.send({"event": "session.update", "data": {"voice": "nova", **data}})
    error = await sdk_client.event("error")
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["code"] == "invalid_value"
    assert error["error"]["param"] == param
    assert error["error"]["message"]
    assert not sdk_client.events_of("session.updated")
    # Nothing of the refused update applies, not even its valid part.
    assert emulator.registry.sessions[sdk_client.conversation_id].params.voice == "echo"
    # And the channel still works.
    sdk_client.send({"event": "session.update", "data": {"voice": "nova"}})
    assert (await sdk_client.event("session.updated"))["session"]["voice"] == "nova"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_event"),
        (json.dumps({"type": "session.update"}), "invalid_event"),
        (json.dumps({"event": "response.create"}), "unknown_event"),
        (json.dumps({"event": "session.update", "data": [1]}), "invalid_event"),
        (json.dumps({"event": "conversation.item.create", "data": {"text": ""}}), "invalid_value"),
        (b"\x00\x01binary", "invalid_event"),
        (json.dumps({"event": "session.update", "pad": "x" * 70_000}), "message_too_large"),
    ],
)
async def test_bad_messages_get_an_error_and_the_channel_stays_open(
    emulator, sdk_client, message, code
):
    await sdk_client.connect()
    await sdk_client.event("conversation.created")
    sdk_client.send(message)
    error = await sdk_client.event("error")
    assert error["error"]["code"] == code
    assert error["event_id"]
    assert sdk_client.channel.readyState == "open"
    sdk_client.send({"event": "conversation.item.create", "data": {"text": "still there?"}})
    assert (await sdk_client.event("response.output_item.done"))["text"] == "still there?"


async def test_text_input_is_echoed_as_a_response(emulator, sdk_client):
    await sdk_client.connect()
    await sdk_client.event("conversation.created")
    sdk_client.send({"event": "conversation.item.create", "data": {"text": "Hello, emulator"}})
    done = await sdk_client.event("response.output_item.done")
    assert done["text"] == "Hello, emulator"
    assert done["item"]["role"] == "assistant"
    assert not sdk_client.events_of("conversation.item.input_audio_transcription.completed")


@pytest.mark.parametrize("transcripts", [True, False])
async def test_a_user_turn_gives_a_transcript_when_asked_then_the_reply(
    emulator, sdk_client, transcripts
):
    mic = ToneBurstTrack()
    sdk_client.attach_microphone(mic)
    await sdk_client.connect(return_transcription=transcripts)
    await sdk_client.event("conversation.created")
    mic.burst(15)
    done = await sdk_client.event("response.output_item.done")
    assert isinstance(done["text"], str) and done["text"]
    transcriptions = sdk_client.events_of("conversation.item.input_audio_transcription.completed")
    if transcripts:
        assert len(transcriptions) == 1 and transcriptions[0]["transcript"]
        assert sdk_client.events.index(transcriptions[0]) < sdk_client.events.index(done)
    else:
        assert transcriptions == []


async def test_replies_are_deterministic_per_conversation_and_turn(emulator):
    from emulator.ai.responder import EchoResponder, UserTurn
    from emulator.ai.vad import Utterance

    sentences = emulator.registry._sentences
    one = EchoResponder("conv_a", sentences)
    again = EchoResponder("conv_a", sentences)
    other = EchoResponder("conv_b", sentences)
    turn = UserTurn(index=1, utterance=Utterance())
    assert one.respond(turn) == again.respond(turn)
    assert one.respond(turn).text != other.respond(turn).text
    assert one.respond(turn).text != one.respond(UserTurn(2, Utterance())).text


async def test_the_event_log_records_both_directions_bounded(emulator, sdk_client):
    await sdk_client.connect()
    await sdk_client.event("conversation.created")
    for i in range(300):
        sdk_client.send({"event": "conversation.item.create", "data": {"text": f"n{i}"}})
    await sdk_client.event("response.output_item.done", index=299)
    session = emulator.registry.sessions[sdk_client.conversation_id]
    log = session.describe()["events"]
    assert len(log) == 256
    assert {e["direction"] for e in log} == {"in", "out"}
    assert session.channel.messages_in == 300 and session.channel.messages_out == 302
