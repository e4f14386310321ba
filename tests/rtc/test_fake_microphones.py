"""Fake microphones get answers: with DEFAULT settings the AI takes its turn within 5 s, every time.

Test rigs and CI browsers feed synthetic audio that never pauses for the 600 ms hangover:
Firefox's fake device plays an endless tone, Chromium's beeps every half second, a looped
recording has short gaps. A user of such a rig must still see the AI answer promptly.

What is measured, for each input fed through the Python client (aiortc, which puts the RFC 6464
audio level on every packet, as browsers do):

- the microphone "goes live" when the client starts sending the input (`say()`; the mic sent
  digital silence before, like a quiet room);
- the AI "takes its turn" when the user's turn ends: the emulator then sends the transcript
  (`conversation.item.input_audio_transcription.completed`, asked for with
  return_transcription) and starts replaying the utterance as its voice. The reply's
  `response.output_item.done` is sent once that audio has been played out, so its time
  measures the reply's length, not the turn taking: it is only required to arrive;
- "every time": the input keeps going and the AI takes TURNS turns in a row, the first within
  TURN_DEADLINE of the mic going live, each next one within TURN_DEADLINE of the previous one,
  and the AI's voice is heard within TURN_DEADLINE of the mic going live. A user talking
  (or a rig playing) is never left more than TURN_DEADLINE without an answer.

And the other side of the bargain: each speech fixture, said once, is still exactly one turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc.rtp import compute_audio_level_dbov

from emulator.config import Settings
from emulator.rtc.audio import FRAME_BYTES, pcm_frame
from emulator.testing.client import SAMPLE_RATE, OrgaClient, tone_pcm, wav_pcm
from tests.kit.paths import SPEECH

pytestmark = pytest.mark.slow  # seconds of speech and tone, several turns each

UTTERANCES = ("hello", "weather")
TRANSCRIPT = "conversation.item.input_audio_transcription.completed"
REPLY = "response.output_item.done"
DEFAULTS = Settings()

# The promise: at most this long between the mic going live (or the previous turn) and a turn.
TURN_DEADLINE = 5.0
# Turns in a row each input must get.
TURNS = 3
# Long enough for TURNS turns at TURN_DEADLINE each, with room to spare.
INPUT_SECONDS = 20.0

# (a) A continuous tone, like Firefox's fake microphone.
TONE_HZ = 440.0
# (b) Chromium's default fake microphone (--use-fake-device-for-media-stream without a file,
# media/audio/fake_audio_input_stream.cc): a 20 ms beep at 400 Hz every 500 ms, digital silence
# between. Each beep fills exactly one 20 ms frame, so one voiced packet in every 25.
BEEP_HZ = 400.0
BEEP_MS = 20
BEEP_PERIOD_MS = 500
# (c) A speech fixture cut to its voiced part and looped with gaps this long: shorter than the
# default hangover, so silence alone never ends the turn.
LOOP_GAP_MS = 300

# After speech stops, a turn from it ends within the hangover; this much more is allowed for
# delivery before concluding that no further turn comes.
SETTLE_SECONDS = 1.0


def silence(ms: int) -> bytes:
    return bytes(2 * SAMPLE_RATE * ms // 1000)


def beep_pattern(seconds: float) -> bytes:
    beep = tone_pcm(BEEP_HZ, seconds=BEEP_MS / 1000)
    period = beep + silence(BEEP_PERIOD_MS - BEEP_MS)
    return period * int(seconds * 1000 / BEEP_PERIOD_MS)


def voiced_part(pcm: bytes) -> bytes:
    """`pcm` without its leading and trailing silence, as the emulator's VAD sees it: whole
    20 ms frames whose RFC 6464 level (computed as aiortc's sender does) reaches the default
    threshold."""
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    voiced = [
        index
        for index, chunk in enumerate(frames)
        if compute_audio_level_dbov(pcm_frame(chunk, 0)) >= DEFAULTS.vad_threshold_dbov
    ]
    assert voiced, "no voiced frame"
    return b"".join(frames[voiced[0] : voiced[-1] + 1])


def looped_speech(name: str, seconds: float) -> bytes:
    assert LOOP_GAP_MS < DEFAULTS.vad_hangover_ms  # else the gaps alone would end turns
    once = voiced_part(wav_pcm(SPEECH / f"{name}.wav")) + silence(LOOP_GAP_MS)
    return once * (int(seconds * SAMPLE_RATE * 2 / len(once)) + 1)


INPUTS = {
    "continuous-tone": lambda: tone_pcm(TONE_HZ, seconds=INPUT_SECONDS),
    "chromium-fake-mic-beeps": lambda: beep_pattern(INPUT_SECONDS),
    "speech-looped-with-short-gaps": lambda: looped_speech("hello", INPUT_SECONDS),
}


@pytest.fixture
def orga_emulator_settings() -> Settings:
    return Settings(port=0, turn_port=0)  # free ports; everything else as shipped


async def session_turns(client: OrgaClient, conversation_id: str) -> int:
    async with client.http.get(f"{client.base_url}/_emulator/sessions/{conversation_id}") as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["turns"]


async def connected(client: OrgaClient) -> str:
    conversation_id = await client.connect(return_transcription=True)
    await client.next_event("conversation.created")
    return conversation_id


@pytest.mark.parametrize("name", list(INPUTS))
async def test_the_ai_answers_a_fake_microphone_within_5_s_every_time(orga_client, name):
    pcm = INPUTS[name]()
    assert len(pcm) / 2 / SAMPLE_RATE >= INPUT_SECONDS  # the input outlasts the turns awaited
    await connected(orga_client)
    loop = asyncio.get_running_loop()

    live = loop.time()
    orga_client.say(pcm)
    taken: list[float] = []  # seconds after the mic went live
    previous = live
    for turn in range(1, TURNS + 1):
        since = "the mic going live" if turn == 1 else f"turn {turn - 1}"
        try:
            heard = await orga_client.next_event(
                TRANSCRIPT, timeout=max(0.0, previous + TURN_DEADLINE - loop.time())
            )
        except TimeoutError:
            pytest.fail(
                f"{name}: turn {turn} not taken within {TURN_DEADLINE} s of {since} "
                f"(turns so far at {taken} s)",
                pytrace=False,
            )
        previous = loop.time()
        taken.append(round(previous - live, 2))
        assert heard["transcript"].strip()
        if turn == 1:
            try:
                voice = await orga_client.received_audio.wait_for_loud(
                    after=live, timeout=max(0.01, live + TURN_DEADLINE - loop.time())
                )
            except TimeoutError:
                pytest.fail(
                    f"{name}: the AI's voice not heard within {TURN_DEADLINE} s of the mic "
                    f"going live (turn 1 at {taken[0]} s)",
                    pytrace=False,
                )
            assert voice - live < TURN_DEADLINE

    # Every turn taken is answered, text and all (each reply after its audio has played).
    for turn in range(1, TURNS + 1):
        reply: dict[str, Any] = await orga_client.next_event(REPLY, timeout=2 * INPUT_SECONDS)
        assert reply["text"].strip(), turn


@pytest.mark.parametrize("name", UTTERANCES)
async def test_each_speech_fixture_is_still_one_turn(orga_client, name):
    pcm = wav_pcm(SPEECH / f"{name}.wav")
    conversation_id = await connected(orga_client)
    loop = asyncio.get_running_loop()

    live = loop.time()
    orga_client.say(pcm)
    heard = await orga_client.next_event(TRANSCRIPT, timeout=TURN_DEADLINE)
    assert heard["transcript"].strip()
    assert (await orga_client.next_event(REPLY, timeout=15))["text"].strip()
    # Any turn cut from this speech ends within the hangover of its last sound.
    quiet_until = live + len(pcm) / 2 / SAMPLE_RATE + DEFAULTS.vad_hangover_ms / 1000
    with pytest.raises(TimeoutError):
        await orga_client.next_event(
            TRANSCRIPT, timeout=max(0.0, quiet_until + SETTLE_SECONDS - loop.time())
        )
    assert await session_turns(orga_client, conversation_id) == 1
