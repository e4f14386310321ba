"""A whole WebRTC call between two aiortc peers, relayed through turn_stub.

aioice never gathers 127.0.0.1, so the server listens on this machine's own
interface address. Both peers use iceTransportPolicy "relay": only relayed
candidates are gathered, so the call works only if the relay does.
"""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from tests.turn.raw import rest_credentials
from turn_stub.policy import primary_address

CALL_TIMEOUT = 30


def relay_only(turn_server, turn_clock, transport: str) -> RTCConfiguration:
    host, port = turn_server.udp_address
    username, password = rest_credentials(turn_clock() + 600, "aiortc")
    # Explicit servers only: without any, aiortc falls back to a public STUN server.
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=f"turn:{host}:{port}?transport={transport}",
                username=username,
                credential=password,
            )
        ],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


def selected_pair(pc: RTCPeerConnection):
    connection = pc.sctp.transport.transport._connection
    return connection._nominated[1]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_data_channel_call_over_relay(make_turn_server, turn_clock, transport):
    address = primary_address()
    assert address, "this machine has no non-loopback interface address for aioice to use"
    server = await make_turn_server(host=address)
    caller = RTCPeerConnection(relay_only(server, turn_clock, transport))
    callee = RTCPeerConnection(relay_only(server, turn_clock, transport))
    try:
        channel = caller.createDataChannel("orga-realtime-client-events")
        opened = asyncio.Event()
        replies: asyncio.Queue[str] = asyncio.Queue()
        channel.on("open", opened.set)
        channel.on("message", replies.put_nowait)

        @callee.on("datachannel")
        def on_datachannel(remote_channel) -> None:
            @remote_channel.on("message")
            def on_message(message: str) -> None:
                remote_channel.send(f"echo: {message}")

        await caller.setLocalDescription(await caller.createOffer())
        assert " typ relay " in caller.localDescription.sdp
        assert " typ host " not in caller.localDescription.sdp
        await callee.setRemoteDescription(caller.localDescription)
        await callee.setLocalDescription(await callee.createAnswer())
        await caller.setRemoteDescription(callee.localDescription)

        await asyncio.wait_for(opened.wait(), CALL_TIMEOUT)
        channel.send("hello through the relay")
        assert await asyncio.wait_for(replies.get(), CALL_TIMEOUT) == (
            "echo: hello through the relay"
        )

        for pc in (caller, callee):
            pair = selected_pair(pc)
            assert pair.local_candidate.type == "relay"
            assert pair.remote_candidate.type == "relay"
            assert pair.local_candidate.host == address
        assert server.allocation_count == 2
    finally:
        await caller.close()
        await callee.close()
    # Closing the peer connections deletes their allocations (Refresh with LIFETIME 0).
    for _ in range(300):
        if server.allocation_count == 0:
            break
        await asyncio.sleep(0.01)
    assert server.allocation_count == 0
