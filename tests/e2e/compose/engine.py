"""A real Docker engine for the compose suite: dockerd, the stand-in base image, and one compose
project per run.

Debian's docker.io (dockerd 20.10) and docker-compose 1.29.2, installed by tests/run.sh. The
client is Debian's /usr/bin/docker, the one built for that daemon (another `docker` earlier on
PATH may speak a newer API). dockerd is started only if no daemon answers on its socket, and
only what was started is stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.kit.paths import ROOT
from tests.kit.tools import RUN_SH

DOCKER = "/usr/bin/docker"
SOCKET = Path("/var/run/docker.sock")
STAND_IN = ROOT / "deploy" / "base" / "build-stand-in.sh"
PACKAGES = {
    "dockerd": "docker.io",
    "docker-compose": "docker-compose",
    "debootstrap": "debootstrap",
}


def _require(path: str | None, name: str) -> str:
    if not path or not Path(path).exists():
        pytest.fail(
            f"{name} not found: apt-get install {PACKAGES.get(name, name)} ({RUN_SH})",
            pytrace=False,
        )
    return str(path)


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


def engine_answers() -> bool:
    if not SOCKET.exists():
        return False
    return (
        docker("version", "--format", "{{.Server.Version}}", timeout=10, check=False).returncode
        == 0
    )


class Engine:
    """dockerd: the running one, or one started here (and stopped by `close`)."""

    def __init__(self, log_dir: Path) -> None:
        _require(DOCKER, "dockerd")
        self.process: subprocess.Popen | None = None
        self.log = log_dir / "dockerd.log"
        if not engine_answers():
            self._start()
        self.version = docker("version", "--format", "{{.Server.Version}}").stdout.strip()

    def _start(self, timeout: float = 60) -> None:
        assert os.geteuid() == 0, "starting dockerd needs root (CI runs as root)"
        dockerd = _require(shutil.which("dockerd"), "dockerd")
        self.process = subprocess.Popen(
            [dockerd, "--host", f"unix://{SOCKET}"],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of pytest is not also dockerd's
        )
        deadline = time.monotonic() + timeout
        while not engine_answers():
            if self.process.poll() is not None:
                raise AssertionError(f"dockerd exited {self.process.returncode}: {self._tail()}")
            assert time.monotonic() < deadline, f"dockerd did not answer: {self._tail()}"
            time.sleep(0.2)

    def _tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""

    def close(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)  # dockerd stops its containers, then exits
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def ensure_stand_in_base() -> float:
    """python:3.11-slim, built by deploy/base/build-stand-in.sh unless present; seconds taken."""
    _require(shutil.which("debootstrap"), "debootstrap")
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(STAND_IN)],
        env={**os.environ, "DOCKER": DOCKER},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return time.monotonic() - started


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _tcp_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int, tcp: bool = False) -> tuple[int, int]:
    """A run of `count` consecutive ports free for UDP (and TCP), below the ephemeral range, so
    that other tests' emulators (which bind port 0) cannot take one before Docker does."""
    low_limit, high_limit = 20000, _ephemeral_low() - count
    rng = uuid.uuid4().int
    for attempt in range(200):
        low = low_limit + (rng + attempt * 97) % (high_limit - low_limit)
        ports = range(low, low + count)
        if all(_udp_free(p) and (not tcp or _tcp_free(p)) for p in ports):
            return low, low + count - 1
    raise AssertionError(f"no {count} consecutive free ports")


class ComposeProject:
    """One `docker-compose -p NAME -f FILE` project, with its own host ports."""

    def __init__(self, compose_file: Path, env: Mapping[str, str]) -> None:
        self.compose = _require(shutil.which("docker-compose"), "docker-compose")
        self.file = compose_file
        self.name = f"orgae2e{uuid.uuid4().hex[:10]}"
        # One image tag per checkout: concurrent runs of other worktrees keep their own code,
        # and a re-run of the same code reuses the build cache.
        digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]
        self.image = f"orga-emulator:e2e-{digest}"
        # The multi-replica file's redis and load balancer (deploy/compose/infra.Dockerfile).
        self.infra_image = f"orga-emulator-infra:e2e-{digest}"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("ORGA_")}
        images = {"ORGA_IMAGE": self.image, "ORGA_INFRA_IMAGE": self.infra_image}
        self.env = {**inherited, **images, **env}

    def run(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.compose, "-p", self.name, "-f", str(self.file), *args],
            cwd=self.file.parent,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker-compose {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}\n{self.logs()}"
            )
        return result

    def logs(self) -> str:
        result = subprocess.run(
            [self.compose, "-p", self.name, "-f", str(self.file), "logs", "--no-color"],
            cwd=self.file.parent,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout[-6000:]

    def containers(self, all_: bool = True) -> dict[str, str]:
        """service name -> container id, for this project's containers."""
        args = ["ps", "-q", "--filter", f"label=com.docker.compose.project={self.name}"]
        ids = docker(*args, *(["-a"] if all_ else [])).stdout.split()
        found = {}
        for cid in ids:
            info = self.inspect(cid)
            found[info["Config"]["Labels"]["com.docker.compose.service"]] = cid
        return found

    @staticmethod
    def inspect(cid: str) -> dict[str, Any]:
        return json.loads(docker("inspect", cid).stdout)[0]

    def wait_healthy(self, services: set[str], timeout: float = 90) -> float:
        """Poll every service's health until all are healthy; seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        states: dict[str, str] = {}
        while True:
            containers = self.containers()
            for service in services:
                cid = containers.get(service)
                state = self.inspect(cid)["State"] if cid else {}
                states[service] = state.get("Health", {}).get("Status") or state.get("Status", "")
                if state.get("Status") == "exited":
                    raise AssertionError(f"{service} exited:\n{self.logs()}")
            if all(states.get(s) == "healthy" for s in services):
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy after {timeout} s: {states}\n{self.logs()}")
            time.sleep(0.5)

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes still carrying this project's label."""
        label = f"label=com.docker.compose.project={self.name}"
        return {
            "containers": docker("ps", "-aq", "--filter", label).stdout.split(),
            "networks": docker("network", "ls", "-q", "--filter", label).stdout.split(),
            "volumes": docker("volume", "ls", "-q", "--filter", label).stdout.split(),
        }

    def down(self) -> None:
        self.run("down", "-v", "--remove-orphans", "--timeout", "5", timeout=120)
