"""A quota per API key as well as per user (issue 13, finding 4: 20 tokens filled all 1,000
allocations and the next legitimate user got 486).

ice-config's usernames name the token's API key (`<exp>:<sub>:key=<api_key_id>`); turn_stub
counts allocations per key and per user and answers 486 Allocation Quota Reached past either.
Usernames in the old `<exp>:<user>` form still work and count under their user.
"""

from __future__ import annotations

import struct
import time

from aioice import stun

from emulator.config import Settings
from emulator.http.auth import api_key_id
from emulator.rtc.relay import RELAY
from tests.api.helpers import bearer, mint
from tests.turn.raw import (
    ALLOCATE_REQUEST,
    LIFETIME,
    REFRESH_REQUEST,
    REQUESTED_TRANSPORT,
    UDP,
    Session,
    allocate,
    rest_credentials,
)


def credentials(user: str, key_id: str | None = None) -> tuple[str, str]:
    """Written out here, independently of turn_stub.credentials."""
    return rest_credentials(time.time() + 600, user if key_id is None else f"{user}:key={key_id}")


async def try_allocate(server, make_turn_client, username: str, password: str) -> stun.Message:
    session = Session(await make_turn_client(server.udp_address), username, password)
    return await session.call(ALLOCATE_REQUEST, [(REQUESTED_TRANSPORT, UDP)])


async def test_a_key_has_its_own_cap(make_turn_server, make_turn_client):
    server = await make_turn_server(max_allocations_per_key=3, max_allocations_per_user=50)
    sessions = []
    for n in range(3):
        session = Session(
            await make_turn_client(server.udp_address), *credentials(f"user-{n}", "key_a")
        )
        await allocate(session)
        sessions.append(session)
    refused = await try_allocate(server, make_turn_client, *credentials("user-3", "key_a"))
    assert refused.error_code == 486
    assert refused.attributes["ERROR-CODE"][1] == "Allocation Quota Reached"
    assert server.allocation_count == 3
    # Another key, and the old username form (no key), are not held back by key_a.
    assert (
        await try_allocate(server, make_turn_client, *credentials("u", "key_b"))
    ).error_code is None
    assert (await try_allocate(server, make_turn_client, *credentials("old"))).error_code is None
    # A freed allocation gives the key its room back.
    release = await sessions[0].call(REFRESH_REQUEST, [(LIFETIME, struct.pack("!I", 0))])
    assert release.attributes["LIFETIME"] == 0
    assert (
        await try_allocate(server, make_turn_client, *credentials("user-3", "key_a"))
    ).error_code is None


async def test_a_user_has_its_cap_in_either_username_form(make_turn_server, make_turn_client):
    server = await make_turn_server(max_allocations_per_user=2)
    for username, password in (credentials("bob"), credentials("bob", "key_a")):
        assert (await try_allocate(server, make_turn_client, username, password)).error_code is None
    assert (await try_allocate(server, make_turn_client, *credentials("bob"))).error_code == 486
    assert (
        await try_allocate(server, make_turn_client, *credentials("bob", "key_b"))
    ).error_code == 486


async def test_a_forged_key_id_fails_authentication(make_turn_server, make_turn_client):
    """The key id is under the password's HMAC: moving to another key's quota needs the secret."""
    server = await make_turn_server()
    username, password = credentials("eve", "key_a")
    forged = username.replace("key=key_a", "key=key_b")
    response = await try_allocate(server, make_turn_client, forged, password)
    assert response.error_code == 401
    assert server.allocation_count == 0


async def test_twenty_tokens_no_longer_fill_the_relay(make_emulator, make_turn_client):
    """The finding, replayed through ice-config: one API key's tokens for many users stop at
    the key's cap (200 by default), and a user of another key still gets a relay."""
    keys = ("sk_orga_ai_first_key", "sk_orga_ai_second_key")
    emulator = await make_emulator(Settings(turn=True, turn_port=0, api_keys=keys))
    server = emulator.app[RELAY].server
    per_key = server.config.max_allocations_per_key
    assert per_key < server.config.max_allocations
    ice = []
    for n in range(20):
        token = await mint(emulator.http, email=f"user{n}@example.com", key=keys[0])
        resp = await emulator.http.get("/v1/realtime/ice-config", headers=bearer(token))
        ice.append((await resp.json())["iceServers"][1])
    assert ice[0]["username"].endswith(":key=" + api_key_id(keys[0]))
    granted = 0
    for attempt in range(per_key + 1):
        turn = ice[attempt % len(ice)]
        response = await try_allocate(
            server, make_turn_client, turn["username"], turn["credential"]
        )
        if response.error_code == 486:
            break
        assert response.error_code is None, response
        granted += 1
    assert granted == per_key
    token = await mint(emulator.http, email="late@example.com", key=keys[1])
    resp = await emulator.http.get("/v1/realtime/ice-config", headers=bearer(token))
    turn = (await resp.json())["iceServers"][1]
    late = await try_allocate(server, make_turn_client, turn["username"], turn["credential"])
    assert late.error_code is None, late
    assert server.allocation_count == per_key + 1
