"""coturn's turnutils_uclient and turnutils_peer, driven against turn_stub (TURN REST credentials,
-W): the echo peer's pieces and one uclient run."""

from __future__ import annotations

import asyncio
import socket

from tests.kit.tools import require_program
from tests.turn.raw import SECRET

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
