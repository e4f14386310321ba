"""turn_stub's pure pieces: REST credentials, nonces, peer policy, CLI option table."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from tests.turn.raw import ManualClock
from turn_stub.cli import OPTIONS, build_parser, config_from_args
from turn_stub.credentials import (
    RestUsername,
    parse_rest_username,
    parse_username,
    rest_password,
    rest_username,
)
from turn_stub.nonce import NonceIssuer
from turn_stub.policy import PeerPolicy, PeerRule


def test_rest_credentials_match_the_published_scheme():
    username = rest_username(1700000000, "user-42")
    assert username == "1700000000:user-42"
    expected = base64.b64encode(
        hmac.new(b"secret", username.encode(), hashlib.sha1).digest()
    ).decode()
    assert rest_password("secret", username) == expected
    assert parse_rest_username(username) == (1700000000, "user-42")
    assert parse_rest_username("1:a:b") == (1, "a:b")  # the user part may hold colons


def test_rest_usernames_may_name_their_api_key():
    username = rest_username(1700000000, "user-42", "key_0123")
    assert username == "1700000000:user-42:key=key_0123"
    assert parse_username(username) == RestUsername(1700000000, "user-42", "key_0123")
    assert parse_rest_username(username) == (1700000000, "user-42")
    # The old format counts under its user alone, colons and all.
    assert parse_username("1:a:b") == RestUsername(1, "a:b", None)
    assert parse_username("1:key=x") == RestUsername(1, "key=x", None)  # no user: no key
    assert parse_username("1:a:key=x:y") == RestUsername(1, "a:key=x:y", None)
    with pytest.raises(ValueError):
        rest_username(1, "a", "b:c")


@pytest.mark.parametrize("bad", ["alice", ":alice", "soon:alice", "-5:alice", ""])
def test_parse_rest_username_rejects(bad):
    with pytest.raises(ValueError):
        parse_rest_username(bad)


def test_nonce_lifetime_and_binding():
    clock = ManualClock()
    nonces = NonceIssuer(lifetime=60, clock=clock)
    nonce = nonces.issue("192.0.2.7")
    assert len(nonce) < 128 and nonce.isascii()
    assert nonces.is_valid(nonce, "192.0.2.7")
    assert not nonces.is_valid(nonce, "192.0.2.8")  # bound to the client's address
    assert not NonceIssuer(60, clock).is_valid(nonce, "192.0.2.7")  # another server's key
    tampered = nonce[:-1] + (b"0" if nonce[-1:] != b"0" else b"1")
    assert not nonces.is_valid(tampered, "192.0.2.7")
    clock.advance(59)
    assert nonces.is_valid(nonce, "192.0.2.7")
    clock.advance(1)
    assert not nonces.is_valid(nonce, "192.0.2.7")
    assert not nonces.is_valid(b"\xff" * 32, "192.0.2.7")


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.1.2.3", True),
        ("192.168.1.1", True),
        ("8.8.8.8", True),  # public addresses: allowed by default (documented choice)
        ("127.0.0.1", False),  # loopback: the host's own services, as coturn refuses them
        ("127.9.9.9", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped addresses are unwrapped first
        ("0.0.0.0", False),
        ("0.1.2.3", False),  # 0.0.0.0/8 reaches this host on Linux
        ("::", False),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("224.0.0.251", False),
        ("ff02::1", False),
        ("255.255.255.255", False),
        ("::ffff:169.254.169.254", False),
        ("not an address", False),
    ],
)
def test_default_policy(address, allowed):
    assert PeerPolicy().permits((address, 5000)) is allowed


def test_policy_rules_layer_over_defaults():
    policy = PeerPolicy(deny=["10.0.0.0/8"], allow=["10.9.0.0/16", "127.0.0.1"])
    assert not policy.permits(("10.1.1.1", 1))
    assert policy.permits(("10.9.1.1", 1))  # the more specific rule wins
    assert policy.permits(("127.0.0.1", 9)) and not policy.permits(("127.0.0.2", 9))
    assert not PeerPolicy(deny=["::ffff:10.0.0.0/104"]).permits(("10.0.0.1", 1))
    assert PeerPolicy(allow=["169.254.169.254/32"]).permits(("169.254.169.254", 80))
    private_only = PeerPolicy(deny=["0.0.0.0/0"], allow=["10.0.0.0/8"])
    assert not private_only.permits(("8.8.8.8", 1)) and private_only.permits(("10.0.0.1", 1))
    # Never a unicast peer, whatever the rules say.
    assert not PeerPolicy(allow=["0.0.0.0/0"]).permits(("0.0.0.0", 1))
    assert not PeerPolicy(allow=["224.0.0.0/4"]).permits(("224.0.0.1", 1))


def test_policy_ports():
    policy = PeerPolicy(allow=["127.0.0.1:5000-5009"], deny=["10.0.0.1:53"])
    assert policy.permits(("127.0.0.1", 5000)) and policy.permits(("127.0.0.1", 5009))
    assert not policy.permits(("127.0.0.1", 5010))
    assert not policy.permits(("10.0.0.1", 53)) and policy.permits(("10.0.0.1", 54))
    assert PeerPolicy(allow=["[::1]:7"]).permits(("::1", 7))
    narrow = PeerPolicy(allow=["10.0.0.0/8"], deny=["10.0.0.0/8:1-1023"])
    assert not narrow.permits(("10.0.0.5", 22)) and narrow.permits(("10.0.0.5", 5000))


def test_policy_refuses_the_servers_own_ports():
    own = PeerPolicy(
        allow=["127.0.0.0/8"], own_ports=[("0.0.0.0", 3478)], local_addresses=["192.0.2.2"]
    )
    assert own.refusal(("127.0.0.1", 3478)) == "the TURN server's own port"
    assert not own.permits(("192.0.2.2", 3478)) and own.permits(("192.0.2.3", 3478))
    assert own.permits(("127.0.0.1", 3479))
    # Only a rule that names the port admits it.
    named = PeerPolicy(allow=["127.0.0.1:3478"], own_ports=[("127.0.0.1", 3478)])
    assert named.permits(("127.0.0.1", 3478))


def test_closed_policy_reaches_only_its_peers():
    policy = PeerPolicy(
        only=["192.0.2.2:40000-40099", "198.51.100.7"],
        allow=["127.0.0.1:9"],
        own_ports=[("198.51.100.7", 3478)],
    )
    assert policy.permits(("192.0.2.2", 40000)) and not policy.permits(("192.0.2.2", 39999))
    assert policy.permits(("198.51.100.7", 5)) and not policy.permits(("198.51.100.7", 3478))
    assert not policy.permits(("10.0.0.1", 5)) and not policy.permits(("127.0.0.1", 5))
    assert policy.permits(("127.0.0.1", 9))
    assert policy.refusal(("10.0.0.1", 5)) == "not one of the emulator's WebRTC peers"


@pytest.mark.parametrize(
    "bad", ["", "nonsense", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:70000", "10.0.0.1:9-8", "[::1"]
)
def test_peer_rules_are_checked(bad):
    with pytest.raises(ValueError):
        PeerRule.parse(bad)


def test_cli_options_table_and_environment():
    flags = {option.cli_flag for option in OPTIONS}
    for flag in (
        "--host",
        "--port",
        "--realm",
        "--secret",
        "--relay-address",
        "--advertised-address",
        "--max-allocations",
        "--max-allocations-per-user",
        "--allow-peer",
        "--deny-peer",
        "--log-level",
    ):
        assert flag in flags
    environ = {"ORGA_TURN_STUB_SECRET": "from-env", "ORGA_TURN_STUB_DENY_PEER": "10.0.0.0/8,::/0"}
    args = build_parser().parse_args(["--port", "0", "--allow-peer", "10.1.0.0/16"])
    config, _, generated = config_from_args(args, environ)
    assert (config.secret, generated, config.port) == ("from-env", False, 0)
    assert config.deny_peers == ["10.0.0.0/8", "::/0"]
    assert config.allow_peers == ["10.1.0.0/16"]
    args = build_parser().parse_args(["--deny-peer", "1.0.0.0/8", "--deny-peer", "2.0.0.0/8"])
    config, _, generated = config_from_args(args, {})
    assert generated and config.secret
    assert config.deny_peers == ["1.0.0.0/8", "2.0.0.0/8"]
    assert config.host == "127.0.0.1"  # safe default
