"""turn_stub's pure pieces: REST credentials, nonces, peer policy, CLI option table."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from tests.turn.raw import ManualClock
from turn_stub.cli import OPTIONS, build_parser, config_from_args
from turn_stub.credentials import parse_rest_username, rest_password, rest_username
from turn_stub.nonce import NonceIssuer
from turn_stub.policy import PeerPolicy


def test_rest_credentials_match_the_published_scheme():
    username = rest_username(1700000000, "user-42")
    assert username == "1700000000:user-42"
    expected = base64.b64encode(
        hmac.new(b"secret", username.encode(), hashlib.sha1).digest()
    ).decode()
    assert rest_password("secret", username) == expected
    assert parse_rest_username(username) == (1700000000, "user-42")
    assert parse_rest_username("1:a:b") == (1, "a:b")  # the user part may hold colons


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
        ("127.0.0.1", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("192.168.1.1", True),
        ("8.8.8.8", True),  # public addresses: allowed by default (documented choice)
        ("0.0.0.0", False),
        ("::", False),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("224.0.0.251", False),
        ("ff02::1", False),
        ("255.255.255.255", False),
        ("::ffff:169.254.169.254", False),  # IPv4-mapped addresses are unwrapped first
        ("not an address", False),
    ],
)
def test_default_policy(address, allowed):
    assert PeerPolicy().permits(address) is allowed


def test_policy_rules_layer_over_defaults():
    policy = PeerPolicy(deny=["127.0.0.0/8", "10.0.0.0/8"], allow=["10.9.0.0/16"])
    assert not policy.permits("127.0.0.1")
    assert not policy.permits("::ffff:127.0.0.1")
    assert not policy.permits("10.1.1.1")
    assert policy.permits("10.9.1.1")  # the more specific rule wins
    assert PeerPolicy(deny=["::ffff:127.0.0.0/104"]).permits("127.0.0.1") is False
    # Link-local is denied by default, but not the host's own address, nor an allowed one.
    assert PeerPolicy(local_addresses=["169.254.3.4"]).permits("169.254.3.4")
    assert PeerPolicy(allow=["169.254.169.254/32"]).permits("169.254.169.254")
    private_only = PeerPolicy(deny=["0.0.0.0/0"], allow=["10.0.0.0/8"])
    assert not private_only.permits("8.8.8.8") and private_only.permits("10.0.0.1")


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
