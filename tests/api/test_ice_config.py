"""GET /v1/realtime/ice-config: STUN/TURN servers whose credentials live as long as the token."""

from __future__ import annotations

import asyncio

import jwt
import pytest
from aioice.turn import TurnClientUdpProtocol

from emulator.config import Settings
from emulator.rtc.relay import RELAY
from tests.api.helpers import SECRET, bearer, call_body, mint
from turn_stub.credentials import parse_rest_username, rest_password

TURN_SECRET = "shared-turn-secret"


@pytest.fixture
async def api_client_with_turn(make_api_client):
    return await make_api_client(
        Settings(signing_secret=SECRET, turn=True, turn_port=0, turn_secret=TURN_SECRET)
    )


async def test_returns_stun_then_turn_with_rest_credentials(api_client_with_turn):
    token = await mint(api_client_with_turn)
    resp = await api_client_with_turn.get("/v1/realtime/ice-config", headers=bearer(token))
    assert resp.status == 200
    servers = (await resp.json())["iceServers"]
    host, port = api_client_with_turn.app[RELAY].client_address
    assert servers[0] == {"urls": [f"stun:{host}:{port}"]}
    turn = servers[1]
    # aiortc uses only the first TURN URL: UDP must come first.
    assert turn["urls"] == [
        f"turn:{host}:{port}?transport=udp",
        f"turn:{host}:{port}?transport=tcp",
    ]
    expiry, user = parse_rest_username(turn["username"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert expiry == claims["exp"] and user == claims["sub"]
    assert turn["credential"] == rest_password(TURN_SECRET, turn["username"])


async def test_does_not_consume_the_token(api_client_with_turn, offer_sdp):
    token = await mint(api_client_with_turn)
    for _ in range(3):
        assert (
            await api_client_with_turn.get("/v1/realtime/ice-config", headers=bearer(token))
        ).status == 200
    resp = await api_client_with_turn.post(
        "/v1/realtime/calls", json=call_body(offer_sdp), headers=bearer(token)
    )
    assert resp.status == 200


async def test_no_turn_means_no_servers(api_client):
    token = await mint(api_client)
    resp = await api_client.get("/v1/realtime/ice-config", headers=bearer(token))
    assert await resp.json() == {"iceServers": []}


async def test_turn_host_is_configurable(make_api_client):
    client = await make_api_client(
        Settings(signing_secret=SECRET, turn=True, turn_port=0, turn_host="turn.example.test")
    )
    token = await mint(client)
    servers = (await (await client.get("/v1/realtime/ice-config", headers=bearer(token))).json())[
        "iceServers"
    ]
    assert servers[1]["urls"][0].startswith("turn:turn.example.test:")


@pytest.mark.parametrize(
    "headers,status,message",
    [
        ({}, 403, "Not authenticated"),
        ({"Authorization": "Basic abc"}, 403, "Invalid authentication credentials"),
        ({"Authorization": "Bearer"}, 403, "Invalid authentication credentials"),
        ({"Authorization": "Bearer not.a.token"}, 401, "Invalid ephemeral token"),
    ],
)
async def test_auth_errors(api_client, headers, status, message):
    resp = await api_client.get("/v1/realtime/ice-config", headers=headers)
    assert resp.status == status
    body = await resp.json()
    assert body["error"]["message"] == message
    assert body["error"]["type"] == "invalid_request_error"


async def _allocate(server: tuple[str, int], username: str, password: str) -> tuple[str, int]:
    """One real TURN Allocate (the 401 challenge, then the authenticated request)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(
            server, username, password, lifetime=600, channel_refresh_time=500
        ),
        remote_addr=server,
    )
    try:
        return await asyncio.wait_for(protocol.connect(), 5)
    finally:
        transport.close()


async def test_turn_credentials_work_until_the_token_expires(api_client_with_turn, frozen_clock):
    token = await mint(api_client_with_turn)
    turn = (
        await (
            await api_client_with_turn.get("/v1/realtime/ice-config", headers=bearer(token))
        ).json()
    )["iceServers"][1]
    server = api_client_with_turn.app[RELAY].server.udp_address
    relayed = await _allocate(server, turn["username"], turn["credential"])
    assert relayed[1] > 0
    frozen_clock.advance(
        jwt.decode(token, options={"verify_signature": False})["exp"] - frozen_clock.time() + 1
    )
    with pytest.raises(Exception, match="401|Unauthorized"):
        await _allocate(server, turn["username"], turn["credential"])


async def test_an_external_turn_server_is_advertised_with_no_turn(make_api_client):
    client = await make_api_client(
        Settings(
            signing_secret=SECRET,
            turn=False,
            turn_host="turn",
            turn_port=3478,
            turn_secret=TURN_SECRET,
        )
    )
    token = await mint(client)
    body = await (await client.get("/v1/realtime/ice-config", headers=bearer(token))).json()
    turn = body["iceServers"][1]
    assert turn["urls"] == ["turn:turn:3478?transport=udp", "turn:turn:3478?transport=tcp"]
    assert turn["credential"] == rest_password(TURN_SECRET, turn["username"])
    assert (await client.get("/readyz")).status == 200
