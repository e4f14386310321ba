"""The published @orga-ai/node package, unmodified, against a running emulator."""

from __future__ import annotations

import jwt
import pytest

from emulator.config import DEV_API_KEY
from emulator.testing.process import start_emulator
from tests.kit.tools import node_json, require_node_module

pytestmark = [pytest.mark.node, pytest.mark.slow]


def _session_config(base_url: str, api_key: str, email: str) -> dict:
    require_node_module("@orga-ai/node")
    return node_json("session_config.mjs", "@orga-ai/node", base_url, api_key, email)


def test_get_session_config_returns_a_token_and_ice_servers(module_emulator):
    result = _session_config(module_emulator.base_url, DEV_API_KEY, "sdk-author@example.com")
    assert result["ok"], result
    config = result["config"]
    claims = jwt.decode(config["ephemeralToken"], options={"verify_signature": False})
    assert claims["email"] == "sdk-author@example.com" and claims["scope"] == "api"
    kinds = [server["urls"][0].split(":")[0] for server in config["iceServers"]]
    assert kinds == ["stun", "turn"]
    assert config["iceServers"][1]["username"].startswith(f"{claims['exp']}:")


def test_a_wrong_key_raises_the_authentication_error(module_emulator):
    result = _session_config(module_emulator.base_url, "sk_orga_ai_wrong", "sdk-author@example.com")
    assert not result["ok"]
    error = result["error"]
    assert error["isAuthError"] and error["class"] == "OrgaAIAuthenticationError"
    assert error["status"] == 401 and error["code"] == "AUTHENTICATION_ERROR"


def test_an_unknown_user_is_a_server_error_with_the_status(module_emulator):
    # The SDK validates the email's shape itself; ours 404s emails that are not users.
    result = _session_config(module_emulator.base_url, DEV_API_KEY, "x@y.z")
    assert result["ok"]  # the open directory: every valid email is a user
    closed = start_emulator("--no-turn", "--users", "only@example.com")
    try:
        result = _session_config(closed.base_url, DEV_API_KEY, "someone@example.com")
    finally:
        closed.stop()
    assert not result["ok"]
    assert result["error"]["isServerError"] and result["error"]["status"] == 404
    assert "Not Found" in result["error"]["message"]
