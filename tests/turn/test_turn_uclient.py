"""coturn's turnutils_uclient against turn_stub, with TURN REST credentials (-W)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator

import pytest

from tests.kit.tools import require_program
from tests.turn.raw import SECRET

pytestmark = pytest.mark.slow  # coturn's programs, seconds each

MESSAGES = 10
CLIENTS = 2
RUN_TIMEOUT = 30


def free_port_pair() -> int:
    """An even UDP port p with p + 1 free too (turnutils_peer echoes RTP on p, RTCP on p + 1)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port % 2 or port > 65000:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free UDP port pair")


class Probe(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.echoed = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.echoed.set()


class UclientPeer:
    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address


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


async def run_uclient(
    turn_server, coturn_peer, *flags: str, secret: str = SECRET
) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        require_program("turnutils_uclient"),
        *flags,
        "-W",
        secret,
        "-u",
        "uclient",
        "-p",
        str(turn_server.udp_address[1]),
        "-e",
        coturn_peer.address[0],
        "-r",
        str(coturn_peer.address[1]),
        "-n",
        str(MESSAGES),
        "-m",
        str(CLIENTS),
        "-z",
        "5",
        turn_server.udp_address[0],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode, output.decode(errors="replace")


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(["-c"], id="channel-data"),
        pytest.param(["-c", "-s"], id="send-indications"),
        pytest.param(["-c", "-t"], id="tcp"),
        pytest.param(["-c", "-t", "-s"], id="tcp-send-indications"),
        pytest.param(["-c", "-D", "-l", "101"], id="padding"),
        pytest.param(["-c", "-t", "-D", "-l", "101"], id="tcp-padding"),
        pytest.param(["-c", "-g"], id="dont-fragment"),
        pytest.param(["-c", "-y"], id="client-to-client"),
        pytest.param([], id="rtp-rtcp-even-port"),
    ],
)
async def test_uclient_relays_without_loss(turn_server, coturn_peer, flags):
    code, output = await run_uclient(turn_server, coturn_peer, *flags)
    assert code == 0, output
    sent = re.search(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$", output, re.MULTILINE)
    lost = re.search(r"Total lost packets (\d+) \(([\d.]+)%\)", output)
    assert sent and lost, output
    assert int(sent.group(1)) == MESSAGES * CLIENTS
    assert int(sent.group(2)) == MESSAGES * CLIENTS
    assert int(lost.group(1)) == 0 and float(lost.group(2)) == 0.0


async def test_uclient_with_wrong_secret_fails(turn_server, coturn_peer):
    code, output = await run_uclient(turn_server, coturn_peer, "-c", secret="wrong secret")
    assert code != 0
    assert "Cannot complete Allocation" in output
    assert turn_server.allocation_count == 0
