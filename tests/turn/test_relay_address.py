"""Where a server bound to every interface relays from: the address of the default route.

The first interface in order is not always the one clients reach the machine by. With docker
installed, docker0 (172.17.0.1) sorts before a LAN address, and docker masquerades what its
bridge's address sends to this host's other addresses: a relay bound there was seen by the
emulator's own peer under another address, and a browser's relayed check came back with a
mapped address it did not know (a "prflx" local candidate instead of "relay").

Inside a namespace of its own, the test gives the machine two interfaces, the one sorting first
without the default route, and allocates over loopback.
"""

from __future__ import annotations

import time

import pytest

from tests.kit.netns import Namespace
from tests.turn.raw import SECRET, RawClient, Session, allocate, rest_credentials
from turn_stub.policy import interface_addresses, primary_address
from turn_stub.server import TurnConfig, TurnServer

FIRST = "10.1.1.1"  # sorts before ROUTED, and has no default route
ROUTED = "198.51.100.7"


def _two_interfaces(namespace: Namespace) -> None:
    namespace.ip("link", "add", "side0", "type", "veth", "peer", "name", "side1")
    namespace.ip("addr", "add", f"{FIRST}/24", "dev", "side0")
    namespace.ip("addr", "add", f"{ROUTED}/24", "dev", "side1")
    for name in ("side0", "side1"):
        namespace.ip("link", "set", name, "up")
    namespace.ip("route", "add", "default", "dev", "side1")


async def _relayed_address(**config: str) -> tuple[list[str], str | None, tuple[str, int]]:
    server = TurnServer(TurnConfig(port=0, secret=SECRET, **config))  # type: ignore[arg-type]
    await server.start()
    client = await RawClient.connect(("127.0.0.1", server.udp_address[1]))
    try:
        session = Session(client, *rest_credentials(time.time() + 600))
        response = await allocate(session)
        return interface_addresses(), primary_address(), response.attributes["XOR-RELAYED-ADDRESS"]
    finally:
        client.close()
        await server.close()


@pytest.mark.parametrize("host", ["0.0.0.0", ""])
def test_a_wildcard_server_relays_from_the_default_routes_address(host: str) -> None:
    with Namespace() as namespace:
        _two_interfaces(namespace)
        addresses, primary, relayed = namespace.run_in(lambda: _relayed_address(host=host))
    # The premise: the address that sorts first is not the routed one.
    assert [a for a in addresses if a in (FIRST, ROUTED)] == [FIRST, ROUTED]
    assert primary == ROUTED
    assert relayed[0] == ROUTED and relayed[1] > 0


def test_a_relay_address_given_is_kept() -> None:
    with Namespace() as namespace:
        _two_interfaces(namespace)
        _, _, relayed = namespace.run_in(
            lambda: _relayed_address(host="0.0.0.0", relay_address=FIRST)
        )
    assert relayed[0] == FIRST


def test_without_a_default_route_the_first_interface_address_is_used() -> None:
    with Namespace() as namespace:
        _two_interfaces(namespace)
        namespace.ip("route", "del", "default")
        _, primary, relayed = namespace.run_in(lambda: _relayed_address(host="0.0.0.0"))
    assert primary is None
    assert relayed[0] == FIRST
