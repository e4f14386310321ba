"""The relay is not a way in (issue 13, finding 4): which peers turn_stub relays to.

Standalone (`orga-turn-stub`), loopback, link-local and the server's own port are refused, as
coturn refuses them; the emulator's embedded relay reaches only the emulator's own WebRTC peers.
--allow-peer / --turn-allow-peer widen either. Real sockets throughout: a loopback UDP service
must receive nothing, and a server answering a relayed Binding request would be TURN inside TURN.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from types import SimpleNamespace

import pytest
from aioice import stun
from aioice.ice import get_host_addresses

from emulator.config import Settings
from emulator.rtc.relay import RELAY
from tests.api.helpers import bearer, mint
from tests.kit.paths import ROOT
from tests.turn.raw import (
    BINDING_REQUEST,
    SECRET,
    TIMEOUT,
    Session,
    allocate,
    bind,
    encode,
    permit,
    rest_credentials,
    send_indication,
    tid,
)
from tests.turn.uclient import run_uclient
from turn_stub.cli import build_parser, config_from_args

STANDALONE: dict[str, object] = {"allow_peers": []}  # the default policy, nothing admitted


async def session_on(server, make_turn_client, protocol: str = "udp") -> Session:
    client = await make_turn_client(server.udp_address, protocol)
    return Session(client, *rest_credentials(time.time() + 600))


async def nothing_reaches(peer, barrier, session: Session) -> None:
    """Send to `barrier` (an admitted peer) after whatever was sent to `peer`: once the barrier's
    datagram is relayed, the earlier one would have been too."""
    session.client.send(send_indication(barrier.address, b"barrier"))
    data, _ = await asyncio.wait_for(barrier.received.get(), TIMEOUT)
    assert data == b"barrier"
    assert peer.received.empty(), await peer.received.get()


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
async def test_a_loopback_service_receives_nothing(
    make_turn_server, make_turn_client, make_peer, protocol
):
    # The standalone default; 127.0.0.2 admitted only to serve as the barrier.
    server = await make_turn_server(allow_peers=["127.0.0.2"])
    service, barrier = await make_peer("127.0.0.1"), await make_peer("127.0.0.2")
    session = await session_on(server, make_turn_client, protocol)
    await allocate(session)
    assert (await permit(session, service.address)).error_code == 403
    assert (await bind(session, 0x4000, service.address)).error_code == 403
    # All or nothing: the admitted peer in the same request does not get through either.
    assert (await permit(session, barrier.address, service.address)).error_code == 403
    assert (await permit(session, barrier.address)).error_code is None
    session.client.send(send_indication(service.address, b"to a loopback service"))
    await nothing_reaches(service, barrier, session)
    assert server.allocation_count == 1


@pytest.mark.parametrize(
    "peer",
    [
        ("169.254.169.254", 80),  # the cloud metadata address
        ("169.254.1.1", 53),
        ("127.0.0.1", 53),
        ("127.10.0.1", 53),
        ("0.0.0.0", 53),  # reaches this host on Linux
        ("255.255.255.255", 53),
        ("224.0.0.251", 5353),  # mDNS
    ],
)
async def test_coturns_default_denials(make_turn_server, make_turn_client, peer):
    server = await make_turn_server(**STANDALONE)
    session = await session_on(server, make_turn_client)
    await allocate(session)
    response = await permit(session, peer)
    assert response.error_code == 403
    assert response.attributes["ERROR-CODE"][1] == "Forbidden"
    assert response.check_message_integrity(session.key)
    assert (await bind(session, 0x4001, peer)).error_code == 403


async def test_never_unicast_peers_stay_refused_under_allow_peer(
    make_turn_server, make_turn_client
):
    server = await make_turn_server(allow_peers=["0.0.0.0/0"])
    session = await session_on(server, make_turn_client)
    await allocate(session)
    for peer in (("0.0.0.0", 9), ("0.1.2.3", 9), ("255.255.255.255", 9), ("239.1.1.1", 9)):
        assert (await permit(session, peer)).error_code == 403, peer


async def test_turns_own_port_is_refused(make_turn_server, make_turn_client, echo_peer):
    # Loopback admitted (as the other tests' servers do): the server's own port stays refused.
    server = await make_turn_server(allow_peers=["127.0.0.0/8"])
    own = ("127.0.0.1", server.udp_address[1])
    session = await session_on(server, make_turn_client)
    await allocate(session)
    assert (await permit(session, own)).error_code == 403
    assert (await bind(session, 0x4000, own)).error_code == 403
    # A permission for the address (another port) does not open the port: a Binding request
    # sent on to TURN itself gets no answer relayed back.
    assert (await permit(session, echo_peer.address)).error_code is None
    session.client.send(send_indication(own, encode(BINDING_REQUEST, tid(), [])))
    session.client.send(send_indication(echo_peer.address, b"barrier"))
    indication = stun.parse_message(await session.client.receive())
    assert indication.attributes["XOR-PEER-ADDRESS"] == echo_peer.address
    assert indication.attributes["DATA"] == b"barrier"
    assert session.client.other.empty()


async def test_allow_peer_admits_a_loopback_service(make_turn_server, make_turn_client, echo_peer):
    server = await make_turn_server(allow_peers=[f"127.0.0.1:{echo_peer.address[1]}"])
    session = await session_on(server, make_turn_client)
    relayed = (await allocate(session)).attributes["XOR-RELAYED-ADDRESS"]
    assert (await permit(session, echo_peer.address)).error_code is None
    session.client.send(send_indication(echo_peer.address, b"admitted"))
    assert await asyncio.wait_for(echo_peer.received.get(), TIMEOUT) == (b"admitted", relayed)
    echoed = stun.parse_message(await session.client.receive())
    assert echoed.attributes["DATA"] == b"admitted"
    # The rule names one port: the service's neighbour on the same address stays refused.
    assert (await permit(session, ("127.0.0.1", echo_peer.address[1] + 1))).error_code == 403


async def test_allow_peer_naming_the_own_port_admits_it(make_turn_server, make_turn_client):
    with socket.socket() as probe:  # a port free now, for a server that needs it in its rule
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await make_turn_server(port=port, allow_peers=[f"127.0.0.1:{port}"])
    session = await session_on(server, make_turn_client)
    await allocate(session)
    assert (await permit(session, ("127.0.0.1", port))).error_code is None


def test_allow_peer_from_the_environment():
    environ = {"ORGA_TURN_STUB_ALLOW_PEER": "172.18.0.5, 10.0.0.0/8:40000-40099,[::1]:9"}
    config, _, _ = config_from_args(build_parser().parse_args([]), environ)
    assert config.allow_peers == ["172.18.0.5", "10.0.0.0/8:40000-40099", "[::1]:9"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--allow-peer", "10.0.0.1:99999"])
    with pytest.raises(ValueError, match="ORGA_TURN_STUB_ALLOW_PEER"):
        config_from_args(build_parser().parse_args([]), {"ORGA_TURN_STUB_ALLOW_PEER": "x"})


# coturn's own client


@pytest.mark.slow
async def test_uclient_cannot_reach_a_loopback_peer(make_turn_server, coturn_peer):
    server = await make_turn_server(**STANDALONE)
    code, output = await run_uclient(server, coturn_peer, "-c")
    assert "error 403 (Forbidden)" in output, output
    assert "tot_recv_msgs=0" in output or code != 0, output
    admitted = await make_turn_server(allow_peers=[coturn_peer.address[0]])
    code, output = await run_uclient(admitted, coturn_peer, "-c")
    assert code == 0 and "error 403" not in output, output


@pytest.mark.slow
@pytest.mark.parametrize("allow", [None, "10.0.0.0/8, 127.0.0.1"], ids=["default", "allowed"])
async def test_orga_turn_stub_reads_allow_peer_from_its_environment(coturn_peer, allow):
    """As compose runs it: the `turn` service is given its peers in ORGA_TURN_STUB_ALLOW_PEER."""
    env = {**os.environ, "ORGA_TURN_STUB_SECRET": SECRET}
    if allow is not None:
        env["ORGA_TURN_STUB_ALLOW_PEER"] = allow
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "turn_stub", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        port = int(line.split("udp 127.0.0.1:")[1].split()[0])
        server = SimpleNamespace(udp_address=("127.0.0.1", port))
        code, output = await run_uclient(server, coturn_peer, "-c")
        if allow is None:
            assert "error 403 (Forbidden)" in output, output
        else:
            assert code == 0 and "error 403" not in output, output
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0


# The emulator's embedded relay


async def embedded_session(emulator, make_turn_client) -> tuple[Session, tuple[str, int]]:
    """A TURN session with the credentials ice-config hands out, on the emulator's relay."""
    token = await mint(emulator.http)
    resp = await emulator.http.get("/v1/realtime/ice-config", headers=bearer(token))
    turn = (await resp.json())["iceServers"][1]
    server = emulator.app[RELAY].server
    client = await make_turn_client(server.udp_address)
    session = Session(client, turn["username"], turn["credential"], realm="orga-emulator")
    await allocate(session)
    return session, server.udp_address


def host_address() -> str:
    addresses = [a for a in get_host_addresses(use_ipv4=True, use_ipv6=False)]
    if not addresses:
        pytest.skip("no non-loopback IPv4 address: the emulator's peers would have none either")
    return addresses[0]


async def test_embedded_relay_reaches_only_the_emulators_peers(
    make_emulator, make_turn_client, make_peer
):
    emulator = await make_emulator(turn=True, turn_port=0)
    session, turn_address = await embedded_session(emulator, make_turn_client)
    service = await make_peer("127.0.0.1")
    assert (await permit(session, service.address)).error_code == 403
    assert (await permit(session, turn_address)).error_code == 403
    assert (await permit(session, ("192.0.2.200", 5000))).error_code == 403  # another host
    # Where the emulator's WebRTC peers gather their host candidates: any port but TURN's.
    peer = await make_peer(host_address())
    assert (await permit(session, peer.address)).error_code is None
    session.client.send(send_indication(service.address, b"to loopback"))
    await nothing_reaches(service, peer, session)


async def test_embedded_relay_refuses_its_own_port_on_the_host_address(
    make_emulator, make_turn_client
):
    # TURN listening on the host address the emulator's peers use: its port there is refused.
    emulator = await make_emulator(host=host_address(), turn=True, turn_port=0)
    session, turn_address = await embedded_session(emulator, make_turn_client)
    assert turn_address[0] == host_address()
    assert (await permit(session, turn_address)).error_code == 403
    assert (await permit(session, (turn_address[0], turn_address[1] + 1))).error_code is None


async def test_embedded_relay_keeps_to_the_rtc_port_range(make_emulator, make_turn_client):
    emulator = await make_emulator(turn=True, turn_port=0, rtc_ports="40000-40009")
    session, _ = await embedded_session(emulator, make_turn_client)
    address = host_address()
    assert (await permit(session, (address, 40000))).error_code is None
    assert (await permit(session, (address, 40009))).error_code is None
    assert (await permit(session, (address, 40010))).error_code == 403
    assert (await permit(session, (address, 53))).error_code == 403


async def test_turn_allow_peer_widens_the_embedded_relay(
    make_emulator, make_turn_client, echo_peer
):
    settings = Settings(turn=True, turn_port=0, turn_allow_peers=("127.0.0.1",))
    emulator = await make_emulator(settings)
    session, turn_address = await embedded_session(emulator, make_turn_client)
    assert (await permit(session, echo_peer.address)).error_code is None
    session.client.send(send_indication(echo_peer.address, b"widened"))
    data, _ = await asyncio.wait_for(echo_peer.received.get(), TIMEOUT)
    assert data == b"widened"
    assert (await permit(session, turn_address)).error_code == 403  # still not TURN itself
