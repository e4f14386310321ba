"""The orga-turn-stub command: startup line, a served Binding, clean exit on signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
from aioice import stun

from tests.kit.paths import ROOT
from tests.turn.raw import ALLOCATE_REQUEST, BINDING_REQUEST, encode, tid


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "turn_stub", "--port", "0", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()  # the startup line, or "" if it died
    if not line:
        process.kill()
        raise AssertionError(process.communicate(timeout=10))  # closes the pipes too
    return process, line


def udp_request(address: tuple[str, int], data: bytes) -> stun.Message:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(data, address)
        return stun.parse_message(sock.recv(2048))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_exits_cleanly(signum):
    process, line = start(env={"ORGA_TURN_STUB_SECRET": "cli-secret"})
    try:
        assert line.startswith("orga-turn-stub listening on udp 127.0.0.1:")
        assert "secret" not in line  # only a generated secret is printed
        port = int(line.split("udp 127.0.0.1:")[1].split()[0])
        assert f"tcp 127.0.0.1:{port}" in line
        response = udp_request(("127.0.0.1", port), encode(BINDING_REQUEST, tid(), []))
        assert response.message_class == stun.Class.RESPONSE
        response = udp_request(("127.0.0.1", port), encode(ALLOCATE_REQUEST, tid(), []))
        assert response.error_code == 401
        with socket.create_connection(("127.0.0.1", port), timeout=3) as tcp:
            tcp.sendall(encode(BINDING_REQUEST, tid(), []))
            assert stun.parse_message(tcp.recv(2048)).message_class == stun.Class.RESPONSE
    finally:
        process.send_signal(signum)
        _, errors = process.communicate(timeout=10)
        assert process.returncode == 0, errors


@pytest.mark.timeout(30)
def test_cli_generates_and_prints_a_secret_when_none_given():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORGA_TURN_STUB_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "turn_stub", "--port", "0", "--realm", "test-realm"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert " realm test-realm secret " in line
        assert len(line.split(" secret ")[1].strip()) >= 16
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
        assert process.returncode == 0


@pytest.mark.timeout(30)
def test_cli_reports_a_busy_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "turn_stub", "--port", str(port), "--secret", "s"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert result.returncode == 1
    assert "orga-turn-stub:" in result.stderr
