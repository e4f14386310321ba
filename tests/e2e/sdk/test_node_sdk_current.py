"""The current @orga-ai/node (1.0.1), built from source, unmodified, against a running emulator.

The npm registry here serves only 1.0.0-beta.1 (tests/e2e/sdk/test_node_sdk.py); 1.0.1 is built by
tests/js/current/build.mjs from the SDK sources (tests/kit/sdk_sources.py finds them, or the cases
skip). 1.0.1 takes no user email: client-secrets is called without one.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import jwt
import pytest

from emulator.config import DEV_API_KEY
from emulator.testing.process import start_emulator
from tests.kit.tools import node_json

# The build first: without the SDK sources, the module skips before any emulator starts.
pytestmark = [pytest.mark.node, pytest.mark.slow, pytest.mark.usefixtures("current_build")]


def _session_config(build: Path, base_url: str, api_key: str) -> dict:
    return node_json("session_config.mjs", str(build / "node-sdk.cjs"), base_url, api_key)


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _post_json(url: str, body: object) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def test_get_session_config_returns_a_token_and_ice_servers(current_build, module_emulator):
    result = _session_config(current_build, module_emulator.base_url, DEV_API_KEY)
    assert result["ok"], result
    config = result["config"]
    claims = jwt.decode(config["ephemeralToken"], options={"verify_signature": False})
    assert claims["scope"] == "api" and claims["exp"] - claims["iat"] == 900
    # 1.0.1 sends no email: the token is the API key's own account's.
    assert claims.get("email") is None and claims["sub"]
    kinds = [server["urls"][0].split(":")[0] for server in config["iceServers"]]
    assert kinds == ["stun", "turn"]
    assert config["iceServers"][1]["username"].startswith(f"{claims['exp']}:")
    assert config["iceServers"][1]["credential"]

    # The emulator saw it as the SDK sent it: client-secrets without ?email, then ice-config
    # with that token, which stays live (fetching ICE servers does not consume it).
    requests = _get_json(module_emulator.base_url + "/_emulator/requests?limit=2")["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("POST", "/v1/realtime/client-secrets", 200),
        ("GET", "/v1/realtime/ice-config", 200),
    ]
    tokens = _get_json(module_emulator.base_url + "/_emulator/tokens")["tokens"]
    token = next(t for t in tokens if t["jti"] == claims["jti"])
    assert token["email"] is None and token["status"] == "live"


def test_a_wrong_key_raises_the_authentication_error(current_build, module_emulator):
    result = _session_config(current_build, module_emulator.base_url, "sk_orga_ai_wrong")
    assert not result["ok"]
    error = result["error"]
    assert error["isAuthError"] and error["class"] == "OrgaAIAuthenticationError"
    assert error["status"] == 401 and error["code"] == "AUTHENTICATION_ERROR"
    assert error["message"] == "Invalid API key"


def test_a_route_that_is_not_there_is_a_server_error_with_its_status(
    current_build, module_emulator
):
    # A baseUrl with a wrong path prefix: the emulator answers 404 on client-secrets.
    result = _session_config(current_build, module_emulator.base_url + "/nope", DEV_API_KEY)
    assert not result["ok"]
    error = result["error"]
    assert error["isServerError"] and not error["isAuthError"]
    assert error["class"] == "OrgaAIServerError" and error["code"] == "SERVER_ERROR"
    assert error["status"] == 404
    assert error["message"] == "Failed to fetch ephemeral token: Not Found"


def test_an_ice_config_failure_is_a_server_error_with_its_status(current_build, module_emulator):
    # The control plane makes the next ice-config answer 503: the SDK has its token already.
    _post_json(
        module_emulator.base_url + "/_emulator/faults",
        {"fault": "http_status", "endpoint": "ice-config", "status": 503, "times": 1},
    )
    result = _session_config(current_build, module_emulator.base_url, DEV_API_KEY)
    assert not result["ok"]
    error = result["error"]
    assert error["isServerError"] and error["class"] == "OrgaAIServerError"
    assert error["status"] == 503
    assert error["message"] == "Failed to fetch ICE servers: Service Unavailable"
    # The rule was for one request only: the next call succeeds.
    assert _session_config(current_build, module_emulator.base_url, DEV_API_KEY)["ok"]


def test_an_unreachable_emulator_is_a_server_error(current_build):
    # Nothing listens there any more: fetch itself fails, and the SDK wraps that too.
    gone = start_emulator("--no-turn")
    base_url = gone.base_url
    assert gone.stop() == 0
    result = _session_config(current_build, base_url, DEV_API_KEY)
    assert not result["ok"]
    error = result["error"]
    assert error["isServerError"] and error["status"] == 500
    assert error["message"].startswith("Failed to get session config: ")
