"""docker-compose.replicas.yml checked without a Docker engine (the fast tier; test_replicas.py
runs it in a real one).

What breaks silently: the replicas must share the state URL and the secrets' source, or they are
two emulators behind one port; their RTC port slices must not overlap and must be published, and
turn_stub must be allowed to relay to both, or relay-only calls fail on one replica only; the load
balancer must send to the ports the replicas listen on.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.e2e.compose.test_compose import (
    HEALTHCHECK_MODULES,
    PARSERS,
    SECRET_DIR,
    SECRET_VARS,
    WRAPPER,
    _published,
    interpolate,
    service_env,
)
from tests.kit.paths import ROOT

REPLICAS = ("emulator-a", "emulator-b")
INFRA = ROOT / "deploy" / "compose"
# The replicas' command: the TURN secret, then the signing secret, then the emulator.
REPLICA_COMMAND = [
    WRAPPER,
    SECRET_VARS["orga-emulator"],
    WRAPPER,
    "--secret",
    "signing",
    "ORGA_EMULATOR_SIGNING_SECRET",
    "orga-emulator",
]
WRAPPER_VARS = {"ORGA_TURN_SECRET", "ORGA_SIGNING_SECRET"}  # read by the wrapper, not the CLI
OVERRIDES = {
    "ORGA_HTTP_PORT": "18787",
    "ORGA_TURN_PORT": "13478",
    "ORGA_RTC_PORTS_A": "45000-45009",
    "ORGA_RTC_PORTS_B": "45010-45019",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.replicas.yml").read_text())


def _range(text: str) -> set[int]:
    low, high = map(int, text.split("-"))
    assert low <= high, text
    return set(range(low, high + 1))


def test_the_services_and_the_replicas_command_and_variables(compose):
    services = compose["services"]
    assert set(services) == {"redis", "turn", "lb", *REPLICAS}
    for name in REPLICAS:
        assert services[name]["command"] == REPLICA_COMMAND
        env = service_env(services[name])
        make_parser, known_vars = PARSERS["orga-emulator"]
        make_parser(env).parse_args([])
        unknown = set(env) - known_vars - WRAPPER_VARS
        assert not unknown, f"{name}: variables the CLI does not read: {unknown}"
        # No secret in the file: each comes from the wrapper (given, or generated once).
        assert {env[v] for v in WRAPPER_VARS} == {""}
        assert not {"ORGA_EMULATOR_SIGNING_SECRET", "ORGA_EMULATOR_TURN_SECRET"} & set(env)
        assert env["ORGA_EMULATOR_ADMIN_TOKEN"] == ""  # ORGA_ADMIN_TOKEN, no default
    assert services["turn"]["command"] == [WRAPPER, SECRET_VARS["orga-turn-stub"], "orga-turn-stub"]


def test_the_replicas_share_the_state_and_the_secrets_source(compose):
    services = compose["services"]
    a, b = (service_env(services[name], OVERRIDES) for name in REPLICAS)
    shared = set(a) - {"ORGA_EMULATOR_PORT", "ORGA_EMULATOR_RTC_PORTS"}
    assert set(a) == set(b) and {k: a[k] for k in shared} == {k: b[k] for k in shared}
    assert re.fullmatch(r"redis://redis:6379/\d+", a["ORGA_EMULATOR_STATE"])
    assert "ports" not in services["redis"]  # on the compose network only
    assert "redis-server" in services["redis"]["command"]
    for name in ("turn", *REPLICAS):  # one volume holds both secrets
        assert services[name]["volumes"] == [f"secrets:{SECRET_DIR}"]
    assert set(compose["volumes"]) == {"secrets"}
    for name in REPLICAS:
        assert services[name]["depends_on"] == {
            "turn": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }


@pytest.mark.parametrize("environ", [{}, OVERRIDES], ids=["defaults", "overridden"])
def test_rtc_slices_are_disjoint_published_and_relayed_to(compose, environ):
    services = compose["services"]
    turn_env = service_env(services["turn"], environ)
    slices = [service_env(services[n], environ)["ORGA_EMULATOR_RTC_PORTS"] for n in REPLICAS]
    a, b = map(_range, slices)
    assert a and b and not a & b
    http_port = int(environ.get("ORGA_HTTP_PORT", "8787"))
    turn_port = int(turn_env["ORGA_TURN_STUB_PORT"])
    # Every port of the shared namespace is published on turn, and only those.
    assert _published(services["turn"], environ) == (
        {(p, "udp") for p in a | b} | {(http_port, "tcp"), (turn_port, "udp"), (turn_port, "tcp")}
    )
    # turn_stub may relay to exactly both slices on the shared loopback.
    rules = turn_env["ORGA_TURN_STUB_ALLOW_PEER"].split(",")
    assert rules == [f"127.0.0.1:{s}" for s in slices]
    assert turn_env["ORGA_TURN_STUB_ADVERTISED_ADDRESS"] == "127.0.0.1"
    for name in REPLICAS:
        env = service_env(services[name], environ)
        assert env["ORGA_EMULATOR_ADVERTISED_IP"] == "127.0.0.1"
        assert int(env["ORGA_EMULATOR_TURN_PORT"]) == turn_port
        assert env["ORGA_EMULATOR_TURN"] == "false"
    if environ:
        assert slices == [OVERRIDES["ORGA_RTC_PORTS_A"], OVERRIDES["ORGA_RTC_PORTS_B"]]


@pytest.mark.parametrize("environ", [{}, OVERRIDES], ids=["defaults", "overridden"])
def test_the_load_balancer_sends_to_the_ports_the_replicas_listen_on(compose, environ):
    services = compose["services"]
    lb = services["lb"]
    lb_env = service_env(lb, environ)
    assert lb_env["ORGA_LB_PORT"] == environ.get("ORGA_HTTP_PORT", "8787")
    ports = [service_env(services[n], environ)["ORGA_EMULATOR_PORT"] for n in REPLICAS]
    assert [lb_env["ORGA_REPLICA_A_PORT"], lb_env["ORGA_REPLICA_B_PORT"]] == ports
    turn_port = service_env(services["turn"], environ)["ORGA_TURN_STUB_PORT"]
    assert len({*ports, lb_env["ORGA_LB_PORT"], turn_port}) == 4  # one namespace: all distinct
    for name in ("lb", *REPLICAS):  # all in turn's namespace: the replicas are its loopback
        assert services[name]["network_mode"] == "service:turn" and "ports" not in services[name]
    assert lb["depends_on"] == {r: {"condition": "service_healthy"} for r in REPLICAS}
    config = (INFRA / "haproxy.cfg").read_text()
    assert 'bind "*:${ORGA_LB_PORT}"' in config and "balance roundrobin" in config
    servers = re.findall(r"^\s*server (\S+) \"127\.0\.0\.1:\$\{(\w+)\}\"", config, re.M)
    assert servers == [("emulator-a", "ORGA_REPLICA_A_PORT"), ("emulator-b", "ORGA_REPLICA_B_PORT")]
    # Its healthcheck asks haproxy's monitor URI, which takes no turn of the round-robin.
    monitor = re.search(r"^\s*monitor-uri (\S+)", config, re.M)
    assert monitor and monitor.group(1) in " ".join(lb["healthcheck"]["test"])


def test_healthchecks_and_the_infra_image(compose):
    services = compose["services"]
    for name, module in (("turn", "turn_stub"), *((r, "emulator") for r in REPLICAS)):
        program = "orga-turn-stub" if module == "turn_stub" else "orga-emulator"
        assert services[name]["healthcheck"]["test"] == [
            "CMD",
            "python",
            "-m",
            HEALTHCHECK_MODULES[program],
        ]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    # redis and haproxy: one image from Debian's packages, built from deploy/compose, not root.
    for name, user in (("redis", "redis"), ("lb", "haproxy")):
        build = services[name]["build"]
        assert (ROOT / build["context"]).resolve() == INFRA
        assert (INFRA / build["dockerfile"]).exists()
        assert services[name]["user"] == user
    assert services["redis"]["image"] == services["lb"]["image"]
    dockerfile = (INFRA / "infra.Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "redis-server haproxy" in dockerfile and "--no-install-recommends" in dockerfile
    for copied in re.findall(r"^COPY (\S+)", dockerfile, re.M):
        assert (INFRA / copied).exists(), copied
    assert interpolate(services["lb"]["image"], {}) != interpolate(services["turn"]["image"], {})
