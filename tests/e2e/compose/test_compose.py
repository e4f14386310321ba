"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

No engine runs here, so the test checks what breaks silently: every service's command is a real
CLI invocation, its environment variables are ones the CLI reads, published ports and
healthchecks agree with the configuration. Then it starts both services exactly as compose would
(same command, same environment) inside a network namespace of its own, where their fixed ports
are free, waits for their healthchecks, and makes a real TURN allocation with the credentials the
emulator hands out: the shared secret really is shared.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import yaml

from emulator.config import OPTIONS as EMULATOR_OPTIONS
from emulator.config import build_parser as emulator_parser
from tests.kit.paths import ROOT
from tests.kit.tools import require_program
from turn_stub.cli import OPTIONS as TURN_OPTIONS
from turn_stub.cli import build_parser as turn_parser

BIN = Path(sys.executable).parent

PARSERS = {
    "orga-emulator": (lambda env: emulator_parser(), {o.env_var for o in EMULATOR_OPTIONS}),
    "orga-turn-stub": (lambda env: turn_parser(), {o.env_var for o in TURN_OPTIONS}),
}
HEALTHCHECK_MODULES = {
    "orga-emulator": "emulator.process.healthcheck",
    "orga-turn-stub": "turn_stub.healthcheck",
}


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's ${NAME} and ${NAME:-default}."""

    def sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(3)
        return environ.get(name) or (default if default is not None else "")

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", sub, value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def service_env(service: dict) -> dict[str, str]:
    return {k: interpolate(str(v), {}) for k, v in (service.get("environment") or {}).items()}


def test_every_command_is_a_real_invocation_with_known_variables(compose):
    assert set(compose["services"]) == {"emulator", "turn"}
    for name, service in compose["services"].items():
        program, *args = service["command"]
        assert program in PARSERS, f"{name}: unknown program {program}"
        make_parser, known_vars = PARSERS[program]
        env = service_env(service)
        make_parser(env).parse_args(args)  # exits (fails the test) on a bad flag
        unknown = set(env) - known_vars
        assert not unknown, f"{name}: variables the CLI does not read: {unknown}"
        assert shutil.which(program, path=str(BIN)), f"{program} is not an installed console script"


def _published(service: dict) -> set[tuple[int, str]]:
    """(container port, protocol) for every published port, ranges expanded."""
    ports = set()
    for spec in service.get("ports", []):
        mapping, _, proto = spec.partition("/")
        host, container = mapping.rsplit(":", 1)
        low, _, high = container.partition("-")
        assert host == container, f"{spec}: the host side must match the container side"
        ports |= {(p, proto or "tcp") for p in range(int(low), int(high or low) + 1)}
    return ports


def test_ports_and_healthchecks_agree_with_the_configuration(compose):
    emulator, turn = compose["services"]["emulator"], compose["services"]["turn"]
    emu_env, turn_env = service_env(emulator), service_env(turn)
    low, high = map(int, emu_env["ORGA_EMULATOR_RTC_PORTS"].split("-"))
    rtc = {(p, "udp") for p in range(low, high + 1)}
    assert _published(emulator) == {(int(emu_env["ORGA_EMULATOR_PORT"]), "tcp")} | rtc
    turn_port = int(turn_env["ORGA_TURN_STUB_PORT"])
    assert _published(turn) == {(turn_port, "udp"), (turn_port, "tcp")}
    assert int(emu_env["ORGA_EMULATOR_TURN_PORT"]) == turn_port
    assert emu_env["ORGA_EMULATOR_TURN_SECRET"] == turn_env["ORGA_TURN_STUB_SECRET"]
    assert emulator["depends_on"] == {"turn": {"condition": "service_healthy"}}
    for service in (emulator, turn):
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1:3] == ["python", "-m"]
        assert test[3] == HEALTHCHECK_MODULES[service["command"][0]]


def test_dockerfile_is_slim_non_root_and_checks_readyz_on_the_configured_port():
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    directives = {}
    for line in lines:
        word, _, rest = line.partition(" ")
        directives.setdefault(word.upper(), []).append(rest.strip())
    assert re.fullmatch(r"python:3\.1[1-9]-slim", directives["FROM"][0])
    user = directives["USER"][-1]
    assert user not in ("root", "0")
    assert "emulator.process.healthcheck" in directives["HEALTHCHECK"][0]
    assert directives["CMD"][-1] == '["orga-emulator"]'
    env = " ".join(directives["ENV"])
    assert "ORGA_EMULATOR_PORT=8787" in env and "ORGA_EMULATOR_HOST=0.0.0.0" in env
    assert "8787" in directives["EXPOSE"][0].split()
    copied = " ".join(directives["COPY"])
    assert "emulator" in copied and "turn_stub" in copied and "pyproject.toml" in copied


PROBE = textwrap.dedent(
    """
    import asyncio, json, urllib.request
    from aioice.turn import TurnClientUdpProtocol
    base = "http://127.0.0.1:{port}"
    req = urllib.request.Request(base + "/v1/realtime/client-secrets?email=dev%40example.com",
        method="POST", headers={{"Authorization": "Bearer sk_orga_ai_emulator_dev_key"}})
    token = json.loads(urllib.request.urlopen(req).read())["ephemeral_token"]
    req = urllib.request.Request(base + "/v1/realtime/ice-config",
        headers={{"Authorization": "Bearer " + token}})
    turn = json.loads(urllib.request.urlopen(req).read())["iceServers"][1]
    host, port = turn["urls"][0].split("?")[0].split(":")[1:]
    async def allocate():
        loop = asyncio.get_running_loop()
        server = ("127.0.0.1" if host == "localhost" else host, int(port))
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: TurnClientUdpProtocol(server, turn["username"], turn["credential"],
                                          lifetime=600, channel_refresh_time=500),
            remote_addr=server)
        try:
            return await asyncio.wait_for(protocol.connect(), 5)
        finally:
            transport.close()
    print("relayed", asyncio.run(allocate()))
    """
)


class Namespace:
    def __init__(self) -> None:
        self.name = f"orga-compose-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run(["ip", "link", "set", "lo", "up"], check=True)

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], **kwargs)

    def popen(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.name, *argv],
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def _healthy(ns: Namespace, service: dict, env: dict[str, str], timeout: float = 20) -> None:
    """Run the service's healthcheck the way Docker does: repeatedly until it passes."""
    argv = [sys.executable if a == "python" else a for a in service["healthcheck"]["test"][1:]]
    deadline = time.monotonic() + timeout
    while ns.run(argv, env=env, capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, f"healthcheck {argv} never passed"
        time.sleep(0.1)


@pytest.mark.slow
def test_the_stack_starts_as_compose_would_and_the_secret_is_shared(compose, tmp_path):
    assert os.geteuid() == 0, "creating a network namespace needs root (CI runs as root)"
    require_program("ip")
    ns = Namespace()
    processes = []
    try:
        base_env = {"PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(tmp_path)}
        envs = {}
        for name in ("turn", "emulator"):  # the order depends_on imposes
            service = compose["services"][name]
            envs[name] = {**base_env, **service_env(service)}
            argv = [str(BIN / service["command"][0]), *service["command"][1:]]
            processes.append(ns.popen(argv, envs[name], tmp_path / f"{name}.log"))
            _healthy(ns, service, envs[name])
        port = envs["emulator"]["ORGA_EMULATOR_PORT"]
        result = ns.run(
            [sys.executable, "-c", PROBE.format(port=port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr + (tmp_path / "turn.log").read_text()
        assert result.stdout.startswith("relayed")
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            assert proc.wait(10) == 0
        ns.delete()
