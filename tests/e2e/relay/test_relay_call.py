"""A whole call through turn_stub with relay-only ICE, as a client behind a UDP-blocking firewall
makes it: the selected pair is a relay, and audio echo and data-channel events arrive."""

from __future__ import annotations

import asyncio

import pytest

from emulator.config import Settings
from emulator.testing.client import OrgaClient, tone_pcm


@pytest.fixture
def orga_emulator_settings() -> Settings:
    return Settings(port=0, turn_port=0, echo_mode="live")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_relay_only_call_echoes_over_turn(orga_emulator, transport):
    async with OrgaClient(orga_emulator.base_url, orga_emulator.api_key) as client:
        config = await client.get_session_config()
        turn = next(s for s in config.ice_servers if s["urls"][0].startswith("turn:"))
        url = next(u for u in turn["urls"] if u.endswith(f"transport={transport}"))
        conversation_id = await client.connect(
            relay_only=True, ice_servers=[{**turn, "urls": [url]}], return_transcription=True
        )
        local, remote = client.selected_candidate_pair()
        assert local.type == "relay", (local, remote)
        created = await client.next_event("session.created")
        assert created["session"]["id"]
        conversation = await client.next_event("conversation.created")
        assert conversation["conversation"]["id"] == conversation_id

        loop = asyncio.get_running_loop()
        said = loop.time()
        client.say(tone_pcm(880, seconds=0.6))
        heard = await client.received_audio.wait_for_loud(after=said)
        assert heard - client.mic.said_at < 1.0  # live echo, through the relay both ways

        client.send_text("through the relay")
        reply = await client.next_event("response.output_item.done")
        assert reply["text"] == "through the relay"
        assert orga_emulator.server.app  # still serving
