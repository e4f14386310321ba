"""Fixtures for the turn_stub tests: servers on free ports with a manual clock, a UDP echo peer,
coturn's turnutils_peer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.kit.tools import require_program
from tests.turn.raw import SECRET, ManualClock, RawClient
from tests.turn.uclient import Probe, UclientPeer, free_port_pair
from turn_stub.server import TurnConfig, TurnServer


@pytest.fixture
def turn_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def make_turn_server(
    turn_clock: ManualClock,
) -> AsyncIterator[Callable[..., Awaitable[TurnServer]]]:
    """A factory of started servers; each is closed, and must hold no allocation, afterwards."""
    servers: list[TurnServer] = []

    async def make(**overrides: object) -> TurnServer:
        # The tests' peers live on loopback, which the default policy refuses: admit it (the
        # server's own port stays refused). test_peer_policy.py tests the default itself.
        defaults = {"port": 0, "secret": SECRET, "allow_peers": ["127.0.0.0/8"]}
        config = TurnConfig(**{**defaults, **overrides})  # type: ignore[arg-type]
        server = TurnServer(config, clock=turn_clock)
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close()
        assert server.allocation_count == 0


@pytest.fixture
async def turn_server(make_turn_server: Callable[..., Awaitable[TurnServer]]) -> TurnServer:
    return await make_turn_server()


class EchoPeer(asyncio.DatagramProtocol):
    """A UDP peer that echoes every datagram and records who sent it."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr))
        assert self.transport is not None
        self.transport.sendto(data, addr)

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[:2]


@pytest.fixture
async def make_peer() -> AsyncIterator[Callable[..., Awaitable[EchoPeer]]]:
    peers: list[EchoPeer] = []

    async def make(host: str = "127.0.0.1") -> EchoPeer:
        loop = asyncio.get_running_loop()
        _, peer = await loop.create_datagram_endpoint(EchoPeer, local_addr=(host, 0))
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        assert peer.transport is not None
        peer.transport.close()


@pytest.fixture
async def echo_peer(make_peer: Callable[..., Awaitable[EchoPeer]]) -> EchoPeer:
    return await make_peer()


@pytest.fixture
async def make_turn_client() -> AsyncIterator[Callable[..., Awaitable[RawClient]]]:
    clients: list[RawClient] = []

    async def make(address: tuple[str, int], protocol: str = "udp") -> RawClient:
        client = await RawClient.connect(address, protocol)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    for client in clients:
        await asyncio.wait_for(client.closed.wait(), 5)


@pytest.fixture
async def coturn_peer() -> AsyncIterator[UclientPeer]:
    """coturn's turnutils_peer, an echo on two ports, up once it has echoed a probe."""
    program = require_program("turnutils_peer")  # coturn's, like turnutils_uclient
    port = free_port_pair()
    process = await asyncio.create_subprocess_exec(
        program,
        "-L",
        "127.0.0.1",
        "-p",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    loop = asyncio.get_running_loop()
    transport, probe = await loop.create_datagram_endpoint(Probe, remote_addr=("127.0.0.1", port))
    try:
        for _ in range(50):
            transport.sendto(b"probe")
            try:
                await asyncio.wait_for(probe.echoed.wait(), 0.1)
                break
            except TimeoutError:
                continue
        assert probe.echoed.is_set(), "turnutils_peer did not start"
        yield UclientPeer(("127.0.0.1", port))
    finally:
        transport.close()
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
