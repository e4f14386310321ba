"""TURN faults (turn_stub's fault hook) and TURN-credential expiry on the controlled clock,
observed by aiortc gathering relay candidates the way a relay-only browser does."""

from __future__ import annotations

import pytest
from aiortc import RTCConfiguration, RTCIceTransportPolicy, RTCPeerConnection

from emulator.testing.client import ice_server

pytestmark = pytest.mark.timeout(60)


async def relay_candidates(ice_servers: list[dict]) -> list[str]:
    pc = RTCPeerConnection(
        RTCConfiguration(
            iceServers=[ice_server(s) for s in ice_servers],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY,
        )
    )
    try:
        pc.createDataChannel("probe")
        await pc.setLocalDescription(await pc.createOffer())
        return [line for line in pc.localDescription.sdp.splitlines() if " typ relay" in line]
    finally:
        await pc.close()


@pytest.fixture
async def turn_emulator(make_emulator):
    return await make_emulator(turn=True, turn_port=0)


@pytest.mark.parametrize(
    ("fault", "code"), [("turn_unauthorized", 401), ("turn_no_relay", 508), ("turn_quota", 486)]
)
async def test_turn_faults_leave_the_client_without_a_relay(
    turn_emulator, make_sdk_client, fault, code
):
    emulator = turn_emulator
    client = make_sdk_client(emulator, "relay@example.com")
    config = await client.get_session_config()
    assert await relay_candidates(config.ice_servers)  # works before the fault
    await emulator.control(
        "POST", "/faults", json={"fault": fault, "email": "relay@example.com"}, expect=201
    )
    assert await relay_candidates(config.ice_servers) == []
    applied = (await emulator.control("GET", "/faults"))["applied"]
    assert {(a["fault"], a["target"], a["code"]) for a in applied} == {(fault, "turn", code)}
    # Someone else still gets a relay; and after clearing, so does this user, for a real call.
    other = make_sdk_client(emulator, "other@example.com")
    assert await relay_candidates((await other.get_session_config()).ice_servers)
    await emulator.control("DELETE", "/faults")
    assert await relay_candidates(config.ice_servers)
    conversation_id = await client.connect(relay_only=True)
    local, _ = client.selected_candidate_pair()
    assert local.type == "relay"
    await client.hangup()
    await emulator.ended(conversation_id)


async def test_turn_credentials_expire_with_the_token_on_the_controlled_clock(
    make_emulator, make_sdk_client
):
    emulator = await make_emulator(turn=True, turn_port=0, token_ttl=120)
    client = make_sdk_client(emulator)
    config = await client.get_session_config()
    assert await relay_candidates(config.ice_servers)
    await emulator.control("POST", "/clock", json={"advance": 121})
    assert await relay_candidates(config.ice_servers) == []
