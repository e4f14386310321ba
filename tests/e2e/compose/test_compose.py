"""docker-compose.yml and the Dockerfile, checked without a Docker engine (the fast tier;
test_engine.py runs them in a real one).

The checks catch what breaks silently: every service's command is a real CLI invocation behind
the secret wrapper, its environment variables are ones the CLI reads, published ports and
healthchecks agree with the configuration whatever ports are chosen, and the services share a
network namespace (turn's) and a secret volume. Then it starts both services exactly as compose
would (same command, same environment, one network namespace as network_mode gives them),
waits for their healthchecks, and makes a real TURN allocation with the credentials the
emulator hands out: the generated secret really is shared.
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
SECRET_VARS = {
    "orga-emulator": "ORGA_EMULATOR_TURN_SECRET",
    "orga-turn-stub": "ORGA_TURN_STUB_SECRET",
}
HEALTHCHECK_MODULES = {
    "orga-emulator": "emulator.process.healthcheck",
    "orga-turn-stub": "turn_stub.healthcheck",
}
WRAPPER = "orga-turn-secret"  # SECRET_WRAPPER, copied into the image by the Dockerfile
SECRET_WRAPPER = ROOT / "deploy" / "compose" / "turn-secret.sh"
SECRET_DIR = "/var/lib/orga-emulator/secret"  # the wrapper's default
PORT_OVERRIDES = {
    "ORGA_HTTP_PORT": "18787",
    "ORGA_TURN_PORT": "13478",
    "ORGA_RTC_PORTS": "45000-45019",
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


def service_env(service: dict, environ: dict[str, str] | None = None) -> dict[str, str]:
    values = (service.get("environment") or {}).items()
    return {k: interpolate(str(v), environ or {}) for k, v in values}


def program_of(service: dict) -> tuple[str, list[str]]:
    """The CLI program a service runs behind the secret wrapper, and its arguments."""
    wrapper, secret_var, program, *args = service["command"]
    assert wrapper == WRAPPER
    assert secret_var == SECRET_VARS[program]
    return program, args


def test_every_command_is_a_real_invocation_with_known_variables(compose):
    assert set(compose["services"]) == {"emulator", "turn"}
    for name, service in compose["services"].items():
        program, args = program_of(service)
        assert program in PARSERS, f"{name}: unknown program {program}"
        make_parser, known_vars = PARSERS[program]
        env = service_env(service)
        make_parser(env).parse_args(args)  # exits (fails the test) on a bad flag
        unknown = set(env) - known_vars - {"ORGA_TURN_SECRET"}  # the wrapper reads that one
        assert not unknown, f"{name}: variables the CLI does not read: {unknown}"
        assert SECRET_VARS[program] not in env, f"{name}: the secret comes from the wrapper"
        assert env["ORGA_TURN_SECRET"] == "", f"{name}: no default secret in the file"
        assert shutil.which(program, path=str(BIN)), f"{program} is not an installed console script"


def _published(service: dict, environ: dict[str, str]) -> set[tuple[int, str]]:
    """(container port, protocol) for every published port, ranges expanded."""
    ports = set()
    for spec in service.get("ports", []):
        mapping, _, proto = interpolate(spec, environ).partition("/")
        host, container = mapping.rsplit(":", 1)
        low, _, high = container.partition("-")
        assert host == container, f"{spec}: the host side must match the container side"
        ports |= {(p, proto or "tcp") for p in range(int(low), int(high or low) + 1)}
    return ports


@pytest.mark.parametrize("environ", [{}, PORT_OVERRIDES], ids=["defaults", "overridden"])
def test_ports_and_healthchecks_agree_with_the_configuration(compose, environ):
    emulator, turn = compose["services"]["emulator"], compose["services"]["turn"]
    emu_env, turn_env = service_env(emulator, environ), service_env(turn, environ)
    rtc_ports = emu_env["ORGA_EMULATOR_RTC_PORTS"]
    low, high = map(int, rtc_ports.split("-"))
    rtc = {(p, "udp") for p in range(low, high + 1)}
    turn_port = int(turn_env["ORGA_TURN_STUB_PORT"])
    # One network namespace, turn's: the emulator's ports are published on the turn service.
    assert emulator["network_mode"] == "service:turn" and "ports" not in emulator
    assert (
        _published(turn, environ)
        == {
            (int(emu_env["ORGA_EMULATOR_PORT"]), "tcp"),
            (turn_port, "udp"),
            (turn_port, "tcp"),
        }
        | rtc
    )
    assert int(emu_env["ORGA_EMULATOR_TURN_PORT"]) == turn_port
    # The relay reaches the emulator's peers on the namespace's loopback, and only them.
    assert emu_env["ORGA_EMULATOR_ADVERTISED_IP"] == "127.0.0.1"
    assert turn_env["ORGA_TURN_STUB_ADVERTISED_ADDRESS"] == "127.0.0.1"
    assert turn_env["ORGA_TURN_STUB_ALLOW_PEER"] == f"127.0.0.1:{rtc_ports}"
    if environ:
        assert (turn_port, rtc_ports) == (13478, PORT_OVERRIDES["ORGA_RTC_PORTS"])
    assert emulator["depends_on"] == {"turn": {"condition": "service_healthy"}}
    for service in (emulator, turn):
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1:3] == ["python", "-m"]
        assert test[3] == HEALTHCHECK_MODULES[program_of(service)[0]]


def test_both_services_mount_the_secret_volume(compose):
    assert "turn-secret" in compose["volumes"]
    for service in compose["services"].values():
        assert service["volumes"] == [f"turn-secret:{SECRET_DIR}"]


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
    assert f"deploy/compose/turn-secret.sh /usr/local/bin/{WRAPPER}" in copied
    assert SECRET_DIR in " ".join(directives["RUN"])


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


def _healthy(
    ns: Namespace, service: dict, env: dict[str, str], log: Path, timeout: float = 20
) -> None:
    """Run the service's healthcheck the way Docker does: repeatedly until it passes."""
    argv = [sys.executable if a == "python" else a for a in service["healthcheck"]["test"][1:]]
    deadline = time.monotonic() + timeout
    while ns.run(argv, env=env, capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, f"healthcheck {argv} never passed:\n{log.read_text()}"
        time.sleep(0.1)


@pytest.mark.slow
def test_the_stack_starts_as_compose_would_and_the_secret_is_shared(compose, tmp_path):
    assert os.geteuid() == 0, "creating a network namespace needs root (CI runs as root)"
    require_program("ip")
    ns = Namespace()
    processes = []
    try:
        secret_dir = tmp_path / "secret"  # the named volume both services mount
        secret_dir.mkdir(mode=0o700)
        base_env = {
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "ORGA_TURN_SECRET_DIR": str(secret_dir),
        }
        envs = {}
        for name in ("turn", "emulator"):  # the order depends_on imposes
            service = compose["services"][name]
            envs[name] = {**base_env, **service_env(service)}
            _, secret_var, program, *args = service["command"]
            argv = ["sh", str(SECRET_WRAPPER), secret_var, str(BIN / program), *args]
            log = tmp_path / f"{name}.log"
            processes.append(ns.popen(argv, envs[name], log))
            _healthy(ns, service, envs[name], log)
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
        try:
            for proc in processes:
                proc.terminate()
            codes = [proc.wait(10) for proc in processes]
        finally:
            ns.delete()  # even when a process failed
    assert codes == [0] * len(processes)
