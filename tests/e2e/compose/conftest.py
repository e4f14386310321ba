"""Session fixtures of the compose suite's engine tier: dockerd, the stand-in base image, our
image, and a running stack per compose file (tests/e2e/compose/engine.py does the work).

`stack` is parametrized by COMPOSE_FILES: every test that takes it runs against each file, each
file in a project of its own, unless marked `compose_files(NAME, ...)` with the files it fits
(test_engine.py's checks of docker-compose.yml's two services; test_replicas.py's of the
multi-replica file). Tests are grouped by file, so one stack runs at a time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from emulator.net import primary_address
from tests.e2e.compose.engine import (
    ComposeProject,
    Engine,
    docker,
    ensure_stand_in_base,
    free_ports,
)
from tests.kit.paths import ROOT


@dataclass(frozen=True)
class ComposeFile:
    services: frozenset[str]  # every one must turn healthy
    # The variables that take the RTC port range, each a slice of it (a replica each).
    rtc_vars: tuple[str, ...]


COMPOSE_FILES = {
    "docker-compose.yml": ComposeFile(frozenset({"emulator", "turn"}), ("ORGA_RTC_PORTS",)),
    "docker-compose.replicas.yml": ComposeFile(
        frozenset({"redis", "turn", "emulator-a", "emulator-b", "lb"}),
        ("ORGA_RTC_PORTS_A", "ORGA_RTC_PORTS_B"),
    ),
}
SINGLE, REPLICAS = "docker-compose.yml", "docker-compose.replicas.yml"
RTC_PORT_COUNT = 20


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "compose_files(*names): the compose files an engine test fits (default: all)"
    )


def pytest_generate_tests(metafunc) -> None:
    if "stack" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("compose_files")
        files = list(marker.args) if marker else sorted(COMPOSE_FILES)
        assert set(files) <= set(COMPOSE_FILES), files
        metafunc.parametrize("stack", files, indirect=True, scope="session")


@dataclass
class Stack:
    project: ComposeProject
    http_port: int
    turn_port: int
    rtc_ports: tuple[int, int]
    public_host: str
    # The slice of rtc_ports each RTC variable took (one per replica in the replicas file).
    rtc_slices: dict[str, tuple[int, int]] = field(default_factory=dict)
    admin_token: str = ""
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory) -> Iterator[Engine]:
    engine = Engine(tmp_path_factory.mktemp("dockerd"))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def stand_in_base(docker_engine) -> float:
    """Seconds it took to make python:3.11-slim present (near zero when cached)."""
    return ensure_stand_in_base()


def stack_ports(compose_file: str = SINGLE) -> dict[str, str]:
    """Host ports no other test or run is using, in one block: compose publishes them 1:1. The
    RTC ports are cut into equal slices, one per RTC variable of the file."""
    low, _ = free_ports(RTC_PORT_COUNT + 2, tcp=True)
    rtc_vars = COMPOSE_FILES[compose_file].rtc_vars
    size = RTC_PORT_COUNT // len(rtc_vars)
    first = low + 2
    slices = {
        var: f"{first + i * size}-{first + (i + 1) * size - 1}" for i, var in enumerate(rtc_vars)
    }
    return {"ORGA_HTTP_PORT": str(low), "ORGA_TURN_PORT": str(low + 1), **slices}


def _port_range(text: str) -> tuple[int, int]:
    low, high = map(int, text.split("-"))
    return low, high


@pytest.fixture(scope="session")
def stack(request, stand_in_base) -> Iterator[Stack]:
    address = primary_address()
    assert address, "this machine has no non-loopback address for Chromium to reach TURN on"
    ports = stack_ports(request.param)
    slices = {var: _port_range(ports[var]) for var in COMPOSE_FILES[request.param].rtc_vars}
    # ORGA_PUBLIC_HOST: the TURN host in ice-config, an address browsers gather toward.
    # ORGA_ADMIN_TOKEN: the replicas file's control plane (docker-compose.yml has none).
    env = {**ports, "ORGA_PUBLIC_HOST": address, "ORGA_ADMIN_TOKEN": secrets.token_urlsafe(24)}
    project = ComposeProject(ROOT / request.param, env)
    rtc_ports = (min(lo for lo, _ in slices.values()), max(hi for _, hi in slices.values()))
    stack = Stack(
        project,
        int(ports["ORGA_HTTP_PORT"]),
        int(ports["ORGA_TURN_PORT"]),
        rtc_ports,
        address,
        rtc_slices=slices,
        admin_token=env["ORGA_ADMIN_TOKEN"],
    )
    stack.figures["stand-in base (s)"] = stand_in_base
    started = time.monotonic()
    project.run("build", timeout=900)
    stack.figures["build (s)"] = time.monotonic() - started
    stack.figures["image size (MB)"] = (
        int(docker("image", "inspect", project.image, "--format", "{{.Size}}").stdout) / 1e6
    )
    if request.param == REPLICAS:
        size = docker("image", "inspect", project.infra_image, "--format", "{{.Size}}").stdout
        stack.figures["infra image size (MB)"] = int(size) / 1e6
    try:
        started = time.monotonic()
        project.run("up", "-d", timeout=300)
        project.wait_healthy(set(COMPOSE_FILES[request.param].services))
        stack.figures["up to healthy (s)"] = time.monotonic() - started
        yield stack
    finally:
        project.down()
        assert project.leftovers() == {"containers": [], "networks": [], "volumes": []}
        print(f"\n{request.param}: " + ", ".join(f"{k} {v:.1f}" for k, v in stack.figures.items()))
