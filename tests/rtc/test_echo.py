"""The echo AI's audio: present from the start, replaying turns, looping live, honouring
modalities, and counting video without decoding it."""

from __future__ import annotations

import pytest
from aiortc import VideoStreamTrack

from emulator.rtc.media import OPUS_SILENCE
from emulator.testing.tracks import PacketTrack, ToneBurstTrack, encode_opus, tone_samples

pytestmark = pytest.mark.timeout(60)

BURST_FRAMES = 15  # 300 ms of tone


async def test_the_ai_track_plays_silence_from_the_start(emulator, sdk_client):
    await sdk_client.connect()
    assert "a=sendrecv" in sdk_client.pc.remoteDescription.sdp.split("m=video")[0]
    await sdk_client.connected()
    # ontrack fired for the AI's audio, with a stream the SDK can play.
    assert [t.kind for t in sdk_client.tracks] == ["audio"]
    # 25 frames is half a second of silence, sent although the user never spoke.
    await sdk_client.until(lambda: sdk_client.received_audio.silence() >= 25, 10, "silence frames")
    assert sdk_client.received_audio.speech() == []
    payloads = {p for _, p in sdk_client.received_audio.packets}
    assert payloads == {OPUS_SILENCE}


async def _first_echo_delay(sdk_client, mic: ToneBurstTrack) -> float:
    await sdk_client.event("conversation.created")
    mic.burst(BURST_FRAMES)
    await sdk_client.until(
        lambda: len(sdk_client.received_audio.speech()) >= BURST_FRAMES, 15, "the echo"
    )
    return sdk_client.received_audio.speech()[0][0] - mic.burst_started[0]


async def test_turn_mode_replays_the_utterance_after_the_hangover(make_emulator, make_sdk_client):
    emulator = await make_emulator(echo_mode="turn", vad_hangover_ms=400)
    client = make_sdk_client(emulator)
    mic = ToneBurstTrack()
    client.attach_microphone(mic)
    await client.connect()
    delay = await _first_echo_delay(client, mic)
    # The reply starts once the user has spoken (0.3 s) and been silent for the hang-over.
    assert 0.3 + 0.4 - 0.1 < delay < 3.0, delay
    # The whole utterance comes back, give or take pre-roll and tail frames.
    await client.event("response.output_item.done")
    assert BURST_FRAMES <= len(client.received_audio.speech()) <= BURST_FRAMES + 12
    session = emulator.registry.sessions[client.conversation_id]
    assert session.counters.audio_in_voiced >= BURST_FRAMES - 2
    assert session.assistant.turns_taken == 1


async def test_live_mode_loops_the_audio_straight_back(make_emulator, make_sdk_client):
    emulator = await make_emulator(echo_mode="live")
    client = make_sdk_client(emulator)
    mic = ToneBurstTrack()
    client.attach_microphone(mic)
    await client.connect()
    delay = await _first_echo_delay(client, mic)
    # Loosely: well under a turn's hang-over. aiortc's encoder delays its first frames ~40 ms.
    assert delay < 0.3, delay


@pytest.mark.slow
async def test_live_mode_forwards_the_encoded_packets_unchanged(make_emulator, make_sdk_client):
    emulator = await make_emulator(echo_mode="live")
    client = make_sdk_client(emulator)
    payloads = encode_opus([tone_samples(300 + 20 * i) for i in range(50)])
    sent: list[bytes] = []
    client.attach_microphone(PacketTrack(payloads, lambda p, _t: sent.append(p)))
    await client.connect()
    await client.until(lambda: len(client.received_audio.speech()) >= 100, 15, "100 echoed packets")
    echoed = [p for _, p in client.received_audio.speech()]
    assert set(echoed) <= set(payloads)
    # In order, none lost or duplicated: the echo is the sent sequence, shifted.
    start = sent.index(echoed[0])
    assert echoed == sent[start : start + len(echoed)]


async def test_a_microphone_attached_after_connecting_is_heard(emulator, sdk_client):
    await sdk_client.connect()
    await sdk_client.connected()
    mic = ToneBurstTrack()
    sdk_client.attach_microphone(mic)  # replaceTrack on a live transceiver, as enableMic does
    delay = await _first_echo_delay(sdk_client, mic)
    assert delay < 5


@pytest.mark.parametrize("mode", ["turn", "live"])
async def test_without_audio_modality_the_users_audio_is_not_taken_in(
    make_emulator, make_sdk_client, mode
):
    # CONTRACT §5 (revised): `modalities` says what the user sends. Without "audio" the
    # service does not take the user's audio in: no voice counted, no turn, no echo.
    emulator = await make_emulator(echo_mode=mode, vad_hangover_ms=300)
    client = make_sdk_client(emulator)
    mic = ToneBurstTrack()
    client.attach_microphone(mic)
    await client.connect(modalities=["video"], return_transcription=True)
    await client.event("conversation.created")
    session = emulator.registry.sessions[client.conversation_id]
    mic.burst(BURST_FRAMES)
    # Packets are counted (and dropped) as they arrive, so once the burst is in, any turn it
    # started would show: a voiced count, a detector out of LISTENING.
    received = session.counters.audio_in_packets + BURST_FRAMES
    await client.until(lambda: session.counters.audio_in_packets >= received, 15, "the burst")
    assert session.counters.audio_in_voiced == 0
    assert session.assistant.turns_taken == 0
    assert client.received_audio.speech() == []
    assert not [e for e in client.events if e.get("type") == "response.output_item.done"]


async def test_a_reply_under_way_keeps_its_voice_when_the_mic_goes_off(
    make_emulator, make_sdk_client
):
    emulator = await make_emulator(echo_mode="turn", vad_hangover_ms=300)
    client = make_sdk_client(emulator)
    mic = ToneBurstTrack()
    client.attach_microphone(mic)
    await client.connect(modalities=["audio"])
    await client.event("conversation.created")
    mic.burst(BURST_FRAMES)
    # The turn ends; as its reply starts playing, the user turns the mic off.
    await client.until(lambda: client.received_audio.speech(), 15, "the reply's first packets")
    client.send({"event": "session.update", "data": {"modalities": ["video"]}})
    await client.event("response.output_item.done")
    assert BURST_FRAMES <= len(client.received_audio.speech()) <= BURST_FRAMES + 12


async def test_session_update_can_turn_audio_back_on(make_emulator, make_sdk_client):
    emulator = await make_emulator(vad_hangover_ms=300)
    client = make_sdk_client(emulator)
    mic = ToneBurstTrack()
    client.attach_microphone(mic)
    await client.connect(modalities=["video"])
    await client.event("conversation.created")
    client.send({"event": "session.update", "data": {"modalities": ["audio"]}})
    await client.event("session.updated")
    delay = await _first_echo_delay(client, mic)
    assert delay < 3


async def test_video_is_counted_and_dropped_without_decoding(emulator, sdk_client):
    sdk_client.attach_camera(VideoStreamTrack())
    await sdk_client.connect()
    await sdk_client.connected()
    session = emulator.registry.sessions[sdk_client.conversation_id]
    counters = session.counters
    await sdk_client.until(lambda: counters.video_in_frames >= 10, 15, "10 video frames")
    assert counters.video_in_keyframes >= 1
    assert counters.video_in_bytes > counters.video_in_packets > 0
    # Nothing waits in a remote track's queue: received media never reaches a decoder.
    for transceiver in session.pc.getTransceivers():
        assert transceiver.receiver.track._queue.qsize() == 0


async def test_an_empty_modalities_list_keeps_the_voice(make_emulator, make_sdk_client):
    """@orga-ai/react 1.0.5 sends `modalities: []` on its first mic toggle (a stale closure):
    the AI must keep speaking, or the SDK's default flow is silent."""
    emulator = await make_emulator(vad_hangover_ms=300)
    client = make_sdk_client(emulator)
    mic = ToneBurstTrack()
    client.attach_microphone(mic)
    await client.connect()
    await client.event("conversation.created")
    client.send({"event": "session.update", "data": {"modalities": []}})
    updated = await client.event("session.updated")
    assert updated["session"]["modalities"] == []
    delay = await _first_echo_delay(client, mic)
    assert delay < 3
