"""The `orga-emulator` command as users and CI run it: flags, environment, signals, exit codes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from emulator.config import DEV_API_KEY, OPTIONS, load_settings


def _get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_starts_serves_and_exits_zero_on_sigterm(emulator_process, tmp_path):
    port_file = tmp_path / "port"
    emu = emulator_process("--port-file", str(port_file), "--turn-port", "0")
    assert DEV_API_KEY in emu.startup_line and "README" in emu.startup_line
    port = int(port_file.read_text())
    assert emu.base_url.endswith(f":{port}")
    status, ready = _get(f"{emu.base_url}/readyz")
    assert (status, ready["status"], ready["components"]["turn"]) == (200, "ready", True)
    # The WebRTC code loads in the background: reported until it is in, then ready too.
    deadline = time.monotonic() + 10
    while ready["loading"]:
        assert ready["loading"] == ["rtc"] and time.monotonic() < deadline, ready
        time.sleep(0.05)
        ready = _get(f"{emu.base_url}/readyz")[1]
    assert ready["components"] == {"turn": True, "rtc": True}
    status, body = _get(
        f"{emu.base_url}/v1/realtime/client-secrets?email=a%40example.com",
        {"Authorization": f"Bearer {DEV_API_KEY}"},
        "POST",
    )
    assert status == 200 and body["token_type"] == "bearer"
    assert emu.stop(signal.SIGTERM, timeout=5) == 0


@pytest.mark.slow
def test_sigint_also_exits_zero(emulator_process):
    emu = emulator_process("--no-turn")
    assert emu.stop(signal.SIGINT, timeout=5) == 0


@pytest.mark.slow
def test_environment_configures_it_and_flags_win(emulator_process):
    emu = emulator_process(
        "--no-turn",
        env={
            "ORGA_EMULATOR_API_KEY": "sk_orga_ai_env_one,sk_orga_ai_env_two",
            "ORGA_EMULATOR_TOKEN_TTL": "60",
        },
    )
    assert DEV_API_KEY not in emu.startup_line and "sk_orga_ai_env_one" not in emu.startup_line
    url = f"{emu.base_url}/v1/realtime/client-secrets?email=a%40example.com"
    assert _get(url, {"Authorization": "Bearer sk_orga_ai_env_two"}, "POST")[0] == 200
    assert _get(url, {"Authorization": f"Bearer {DEV_API_KEY}"}, "POST")[0] == 401


@pytest.mark.slow
def test_a_busy_port_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "emulator", "--no-turn", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert result.returncode == 2
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_bad_flag_values_are_refused():
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2 and "--port" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "emulator"],
        capture_output=True,
        text=True,
        timeout=20,
        env={"ORGA_EMULATOR_TOKEN_TTL": "soon", "PATH": ""},
    )
    assert result.returncode != 0 and "ORGA_EMULATOR_TOKEN_TTL" in result.stderr


def test_every_option_has_a_flag_and_an_env_var():
    flags = {o.cli_flag for o in OPTIONS}
    assert len(flags) == len(OPTIONS)
    for opt in OPTIONS:
        assert opt.env_var.startswith("ORGA_EMULATOR_")
    settings = load_settings(
        ["--echo-mode", "live", "--no-turn"],
        {"ORGA_EMULATOR_ECHO_MODE": "turn", "ORGA_EMULATOR_MAX_SESSIONS": "7"},
    )
    assert settings.echo_mode == "live" and settings.turn is False and settings.max_sessions == 7
    assert load_settings([], {"ORGA_EMULATOR_TURN": "false"}).turn is False


@pytest.mark.slow
def test_a_bad_scenario_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "scenario.json"
    bad.write_text('{"turns": [{"delay": "soon"}]}')
    for args in (["--scenario", str(bad)], ["--scenario", str(tmp_path / "missing.json")]):
        result = subprocess.run(
            [sys.executable, "-m", "emulator", "--no-turn", "--port", "0", *args],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert result.returncode == 2
        assert "--scenario" in result.stderr and "Traceback" not in result.stderr
