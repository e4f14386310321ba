"""--rtc-ports and --advertised-ip: what a peer in a container needs (published ports, 1:1 NAT)."""

from __future__ import annotations

import asyncio

import pytest
from aiortc.sdp import SessionDescription

from emulator.config import Settings, load_settings
from emulator.net import primary_address
from emulator.testing.client import OrgaClient, tone_pcm

PORTS = (41000, 41009)


def _candidates(sdp: str) -> list[tuple[str, int]]:
    parsed = SessionDescription.parse(sdp)
    return [(c.ip, c.port) for m in parsed.media for c in m.ice_candidates]


@pytest.fixture
def orga_emulator_settings() -> Settings:
    address = primary_address()
    assert address, "this test needs a non-loopback interface address"
    return Settings(
        port=0,
        turn_port=0,
        echo_mode="live",
        rtc_ports=f"{PORTS[0]}-{PORTS[1]}",
        advertised_ip=address,
    )


async def test_candidates_use_the_range_and_the_advertised_address(orga_emulator):
    address = orga_emulator.settings.advertised_ip
    clients = [OrgaClient(orga_emulator.base_url, orga_emulator.api_key) for _ in range(3)]
    try:
        ports = set()
        for client in clients:
            await client.connect()
            answer = client.pc.remoteDescription.sdp
            found = _candidates(answer)
            assert found and all(host == address for host, _ in found)
            ports |= {port for _, port in found}
            said = asyncio.get_running_loop().time()
            client.say(tone_pcm(660, seconds=0.4))
            await client.received_audio.wait_for_loud(after=said)  # media really flows
        assert all(PORTS[0] <= p <= PORTS[1] for p in ports)
        assert len(ports) >= 3  # each session got its own port
    finally:
        for client in clients:
            await client.hangup()


async def test_the_advertised_address_replaces_the_bound_one(make_emulator, make_sdk_client):
    emulator = await make_emulator(advertised_ip="203.0.113.7", rtc_ports="41010-41019")
    client = make_sdk_client(emulator)
    # The answer only: the client never applies it, so nothing is sent to 203.0.113.7.
    status, body = await client.post_call(await client.mint_token(), await client.offer())
    assert status == 200, body
    found = _candidates(body["answer"]["sdp"])
    assert found and {h for h, _ in found} == {"203.0.113.7"}
    assert all(41010 <= p <= 41019 for _, p in found)


def test_bad_values_and_combinations_are_refused():
    with pytest.raises(SystemExit):
        load_settings(["--rtc-ports", "50000"])
    with pytest.raises(SystemExit):
        load_settings(["--rtc-ports", "5-3"])
    with pytest.raises(SystemExit):
        load_settings(["--advertised-ip", "not-an-ip"])
    with pytest.raises(SystemExit, match="cannot be combined"):
        load_settings(["--rtc-ports", "40000-40010", "--ice-server", "stun:127.0.0.1:3478"], {})
