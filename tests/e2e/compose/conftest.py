"""Session fixtures of the compose suite's engine tier: dockerd, the stand-in base image, our
image, and a running stack per compose file (tests/e2e/compose/engine.py does the work).

`stack` is parametrized by COMPOSE_FILES: a compose file added there (the scale-out issue's
multi-replica one) gets the same tests that fit it, each file in a project of its own.
"""

from __future__ import annotations

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

# compose file -> the services that must turn healthy.
COMPOSE_FILES = {"docker-compose.yml": {"emulator", "turn"}}
RTC_PORT_COUNT = 20


@dataclass
class Stack:
    project: ComposeProject
    http_port: int
    turn_port: int
    rtc_ports: tuple[int, int]
    public_host: str
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


def stack_ports() -> dict[str, str]:
    """Host ports no other test or run is using, in one block: compose publishes them 1:1."""
    low, _ = free_ports(RTC_PORT_COUNT + 2, tcp=True)
    return {
        "ORGA_HTTP_PORT": str(low),
        "ORGA_TURN_PORT": str(low + 1),
        "ORGA_RTC_PORTS": f"{low + 2}-{low + 1 + RTC_PORT_COUNT}",
    }


@pytest.fixture(scope="session", params=sorted(COMPOSE_FILES))
def stack(request, stand_in_base) -> Iterator[Stack]:
    address = primary_address()
    assert address, "this machine has no non-loopback address for Chromium to reach TURN on"
    ports = stack_ports()
    # ORGA_PUBLIC_HOST: the TURN host in ice-config, an address browsers gather toward.
    env = {**ports, "ORGA_PUBLIC_HOST": address}
    project = ComposeProject(ROOT / request.param, env)
    low, high = map(int, ports["ORGA_RTC_PORTS"].split("-"))
    stack = Stack(
        project, int(ports["ORGA_HTTP_PORT"]), int(ports["ORGA_TURN_PORT"]), (low, high), address
    )
    stack.figures["stand-in base (s)"] = stand_in_base
    started = time.monotonic()
    project.run("build", timeout=900)
    stack.figures["build (s)"] = time.monotonic() - started
    stack.figures["image size (MB)"] = (
        int(docker("image", "inspect", project.image, "--format", "{{.Size}}").stdout) / 1e6
    )
    try:
        started = time.monotonic()
        project.run("up", "-d", timeout=300)
        project.wait_healthy(COMPOSE_FILES[request.param])
        stack.figures["up to healthy (s)"] = time.monotonic() - started
        yield stack
    finally:
        project.down()
        assert project.leftovers() == {"containers": [], "networks": [], "volumes": []}
        print(f"\n{request.param}: " + ", ".join(f"{k} {v:.1f}" for k, v in stack.figures.items()))
