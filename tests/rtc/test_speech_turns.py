"""The speech fixtures, spoken into a call: one user turn per utterance, each answered."""

from __future__ import annotations

import asyncio

import pytest

from emulator.config import Settings
from emulator.testing.client import SAMPLE_RATE, wav_pcm
from tests.kit.paths import SPEECH

UTTERANCES = ("hello", "weather")


def test_each_fixture_has_its_transcript_and_is_short_speech():
    for name in UTTERANCES:
        assert (SPEECH / f"{name}.txt").read_text().strip()
        pcm = wav_pcm(SPEECH / f"{name}.wav")
        seconds = len(pcm) / 2 / SAMPLE_RATE
        assert 1.0 < seconds < 5.0


@pytest.fixture
def orga_emulator_settings() -> Settings:
    return Settings(port=0, turn_port=0, echo_mode="turn")


@pytest.mark.slow
async def test_two_utterances_make_two_turns_each_answered(orga_emulator, orga_client):
    await orga_client.connect(return_transcription=True)
    await orga_client.next_event("conversation.created")
    loop = asyncio.get_running_loop()
    for name in UTTERANCES:
        said = loop.time()
        orga_client.say(wav_pcm(SPEECH / f"{name}.wav"))
        heard = await orga_client.next_event(
            "conversation.item.input_audio_transcription.completed", timeout=15
        )
        assert heard["transcript"]
        reply = await orga_client.next_event("response.output_item.done", timeout=15)
        assert reply["text"]
        # In turn mode the AI replays the utterance: its voice comes back after the words.
        replayed = await orga_client.received_audio.wait_for_loud(after=said, timeout=15)
        assert replayed - orga_client.mic.said_at > 1.0
    # Exactly one turn per utterance: nothing more arrives.
    transcripts = [
        e
        for e in orga_client.events
        if e.get("type") == "conversation.item.input_audio_transcription.completed"
    ]
    assert len(transcripts) == len(UTTERANCES)
