"""`orga-emulator exec -- CMD`: the emulator around a command, as a CI job runs it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.slow  # an emulator process per case

PROBE = textwrap.dedent(
    """
    import json, os, urllib.request
    base = os.environ["ORGA_BASE_URL"]
    req = urllib.request.Request(
        base + "/v1/realtime/client-secrets?email=ci%40example.com", method="POST",
        headers={"Authorization": "Bearer " + os.environ["ORGA_API_KEY"]})
    token = json.loads(urllib.request.urlopen(req).read())["ephemeral_token"]
    print(json.dumps({"base": base, "token": bool(token),
                      "ice": json.loads(os.environ["ORGA_ICE_SERVERS"])}))
    raise SystemExit(int(os.environ.get("EXIT_WITH", "0")))
    """
)


def _exec(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "emulator", "exec", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_runs_the_command_with_the_emulator_up_and_stops_it():
    result = _exec("--", sys.executable, "-c", PROBE)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["token"]
    assert [s["urls"][0].split(":")[0] for s in seen["ice"]] == ["stun", "turn"]
    assert seen["ice"][1]["username"] and seen["ice"][1]["credential"]
    port = urlparse(seen["base"]).port
    with socket.socket() as probe:  # everything was closed on the way out
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_passes_the_command_status_through():
    result = _exec("--no-turn", "--", sys.executable, "-c", PROBE, env={"EXIT_WITH": "3"})
    assert result.returncode == 3
    assert json.loads(result.stdout)["ice"] == []


def test_a_missing_command_is_127_and_usage_errors_are_2():
    assert _exec("--no-turn", "--", "no-such-command-here").returncode == 127
    result = _exec("--no-turn")
    assert result.returncode == 2 and "usage" in result.stderr
