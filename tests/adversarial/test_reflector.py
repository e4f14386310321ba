"""The emulator's peer is not a UDP reflector (issue 13, finding 1).

Its ICE agent sends connectivity checks to the candidates an offer lists, so the offer chooses
where this machine sends datagrams. Everything here runs in a network namespace of the test's
own (tests/kit/netns.py): the emulator process, the clients and UDP listeners standing for the
targets, at foreign addresses (169.254.169.254, the cloud metadata service; 203.0.113.7, a
public one) put on the namespace's loopback. Nothing sent can leave it.

- Candidates the peer must not contact are refused with a 400, and no datagram reaches them.
- An allowed candidate gets a bounded number of small checks over the whole life of the checks.
- A 60,000-character ufrag, which made each check a 60 KB datagram, is refused: no datagram.
- An offer whose candidates are all mDNS names (Chromium's default) connects, through
  peer-reflexive candidates, and the emulator sends no mDNS query.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import pytest
from aiortc.sdp import SessionDescription

from emulator.testing.client import OrgaClient
from emulator.testing.process import EmulatorProcess, start_emulator
from tests.kit.netns import Namespace
from tests.kit.paths import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

METADATA = "169.254.169.254"
PUBLIC = "203.0.113.7"
ICE_TIMEOUT = 4  # seconds the emulator's peer keeps checking an offer that never connects
# aioice sends a check, then retransmits it 6 times (RFC 8489's Rc = 7), per local candidate.
TRANSMISSIONS = 7
MAX_CHECK_BYTES = 600  # a STUN binding request with a 256-character ufrag is about 360 bytes
MULTICAST_GROUPS = ("224.0.0.251", "239.1.2.3")
T = TypeVar("T")


class Listener(asyncio.DatagramProtocol):
    """Counts the datagrams that reach `address:port` (a wildcard address catches them all)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.arrived = asyncio.Event()
        self.transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.sizes.append(len(data))
        self.arrived.set()


@asynccontextmanager
async def listening(
    address: str, port: int = 0, groups: tuple[str, ...] = ()
) -> AsyncIterator[tuple[Listener, int]]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((address, port))
    for group in groups:
        membership = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton("0.0.0.0"))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    loop = asyncio.get_running_loop()
    transport, listener = await loop.create_datagram_endpoint(Listener, sock=sock)
    try:
        yield listener, sock.getsockname()[1]
    finally:
        transport.close()


@dataclass
class Inside:
    """The emulator, running in a namespace of its own."""

    namespace: Namespace
    process: EmulatorProcess

    @property
    def base_url(self) -> str:
        return self.process.base_url

    def run(self, scenario: Callable[[], Awaitable[T]]) -> T:
        return self.namespace.run_in(scenario)


@pytest.fixture
def emulator() -> Iterator[Inside]:
    with Namespace([METADATA, PUBLIC]) as namespace:
        process = start_emulator(
            "--host", "127.0.0.1", "--no-turn", "--ice-timeout", str(ICE_TIMEOUT),
            "--log-level", "info", cwd=ROOT, preexec_fn=namespace.enter,
        )  # fmt: skip
        try:
            yield Inside(namespace, process)
        finally:
            process.kill()


async def offer_with(candidates: list[str], **replace: str) -> dict[str, Any]:
    """A real offer (an aiortc client's, made inside the namespace) whose candidates are
    `candidates` only, each in every section; `replace` rewrites attributes (ice_ufrag=...)."""
    client = OrgaClient("http://unused")
    try:
        sdp = (await client.offer())["sdp"]
    finally:
        await client.hangup()
    sdp = re.sub(r"a=candidate:[^\r]*\r\n", "", sdp)
    lines = "".join(f"a={c}\r\n" for c in candidates)
    sdp = sdp.replace("a=end-of-candidates\r\n", lines + "a=end-of-candidates\r\n")
    for name, value in replace.items():
        sdp = re.sub(
            rf"a={name.replace('_', '-')}:[^\r]*", f"a={name.replace('_', '-')}:{value}", sdp
        )
    return {"sdp": sdp, "type": "offer", "candidates": []}


def candidate(address: str, port: int) -> str:
    return f"candidate:1 1 udp 2130706431 {address} {port} typ host"


async def post_call(client: OrgaClient, offer: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return await client.post_call(await client.mint_token(), offer)


async def session_ended(feed: aiohttp.ClientResponse, conversation_id: str) -> dict[str, Any]:
    """The live feed's session.ended of `conversation_id`."""
    async for raw in feed.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("data: "):
            data = json.loads(line[6:])
            if data["type"] == "session.ended" and data["conversation_id"] == conversation_id:
                return data
    raise AssertionError("the live feed ended first")


def test_refused_candidates_and_a_huge_ufrag_get_no_datagram(emulator):
    refused = [
        "0.0.0.0",
        "255.255.255.255",
        *MULTICAST_GROUPS,
        METADATA,
        "::",
        "::ffff:" + METADATA,
    ]

    async def scenario() -> dict[str, Any]:
        async with (
            listening("0.0.0.0", groups=MULTICAST_GROUPS) as (targets, port),
            listening("::", port) as (targets6, _),
            listening(PUBLIC) as (barrier, barrier_port),
            OrgaClient(emulator.base_url) as client,
        ):
            statuses = {}
            for address in refused:
                status, body = await post_call(client, await offer_with([candidate(address, port)]))
                statuses[address] = (status, body["error"]["message"] if status != 200 else "")
            for name, address, at in (("port 0", "127.0.0.1", 0), ("port 70000", PUBLIC, 70000)):
                status, body = await post_call(client, await offer_with([candidate(address, at)]))
                statuses[name] = (status, body.get("error", {}).get("message"))
            # The ufrag that made each check a 60 KB datagram, at an address that is allowed.
            huge = await offer_with([candidate(PUBLIC, port)], ice_ufrag="u" * 60_000)
            status, body = await post_call(client, huge)
            statuses["60000-character ufrag"] = (status, body.get("error", {}).get("message"))
            # A barrier, not a sleep: once the checks of an offer posted after those reach their
            # target, the checks of any session those opened would have arrived too.
            status, body = await post_call(
                client, await offer_with([candidate(PUBLIC, barrier_port)])
            )
            assert status == 200, body
            async with asyncio.timeout(10):
                await barrier.arrived.wait()
            return {"statuses": statuses, "datagrams": targets.sizes + targets6.sizes}

    result = emulator.run(scenario)
    for target, (status, message) in result["statuses"].items():
        assert status == 400, (target, message)
        assert message, target
    for address in refused:
        assert address in result["statuses"][address][1]
    assert "a=ice-ufrag" in result["statuses"]["60000-character ufrag"][1]
    assert result["datagrams"] == []


def test_an_allowed_candidate_gets_a_bounded_number_of_small_checks(emulator):
    async def scenario() -> dict[str, Any]:
        async with (
            listening(PUBLIC) as (target, port),
            OrgaClient(emulator.base_url) as client,
            client.http.get(emulator.base_url + "/_emulator/events") as feed,
        ):
            # Nobody answers the checks: the peer checks until --ice-timeout ends the session.
            offer = await offer_with([candidate(PUBLIC, port)], ice_ufrag="u" * 256)
            status, body = await post_call(client, offer)
            assert status == 200, body
            async with asyncio.timeout(ICE_TIMEOUT + 10):
                ended = await session_ended(feed, body["conversation_id"])
            answer = SessionDescription.parse(body["answer"]["sdp"])
            local = [c for c in answer.media[0].ice_candidates if ":" not in c.ip]
            return {"ended": ended, "sizes": list(target.sizes), "local": len(local)}

    result = emulator.run(scenario)
    assert result["ended"]["end_reason"] == "ice_timeout"
    sizes, local = result["sizes"], result["local"]
    print(f"checks to one candidate: {len(sizes)} datagrams, {sum(sizes)} bytes, largest "
          f"{max(sizes, default=0)}; {local} local IPv4 candidates")  # fmt: skip
    assert sizes, "the peer sent no check at all: the test would prove nothing"
    assert len(sizes) <= TRANSMISSIONS * local <= 20
    assert max(sizes) <= MAX_CHECK_BYTES


def test_an_offer_of_mdns_candidates_connects_without_an_mdns_query(emulator):
    async def scenario() -> dict[str, Any]:
        async with (
            listening("0.0.0.0", 5353, groups=("224.0.0.251",)) as (mdns, _),
            OrgaClient(emulator.base_url) as client,
        ):
            offer = await client.offer()
            # Chromium's way: each host address hidden behind a random name.
            names: dict[str, str] = {}

            def hide(match: re.Match[str]) -> str:
                name = names.setdefault(match.group(2), f"{uuid.uuid4()}.local")
                return match.group(1) + name + match.group(3)

            offer["sdp"] = re.sub(
                r"(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host)", hide, offer["sdp"]
            )
            offer["candidates"] = []
            assert names and all(a in (METADATA, PUBLIC) for a in names), names
            status, body = await post_call(client, offer)
            assert status == 200, body
            await client.apply_answer(body)
            created = await client.event("session.created")
            return {"created": created, "mdns": list(mdns.sizes), "names": len(names)}

    result = emulator.run(scenario)
    assert result["created"]["type"] == "session.created"
    assert result["mdns"] == []
