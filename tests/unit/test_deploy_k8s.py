"""deploy/k8s: the Kubernetes example parses, validates against the Kubernetes API schema, and
names only options, ports and paths that exist."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from emulator.config import OPTIONS as EMULATOR_OPTIONS
from tests.kit.paths import ROOT
from turn_stub.cli import OPTIONS as TURN_OPTIONS

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
    ]


DOCUMENTS = _documents()


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in DOCUMENTS if doc["kind"] == kind}


def _containers() -> list[dict[str, Any]]:
    return [
        c
        for d in _by_kind("Deployment").values()
        for c in d["spec"]["template"]["spec"]["containers"]
    ]


@pytest.mark.parametrize(("name", "doc"), DOCUMENTS, ids=[f"{n}:{d['kind']}" for n, d in DOCUMENTS])
def test_each_document_validates_against_the_kubernetes_schema(
    name: str, doc: dict[str, Any]
) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_can_fail() -> None:
    doc = copy.deepcopy(_by_kind("Deployment")["orga-emulator"])
    doc["spec"]["template"]["spec"]["containers"][0]["envv"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_every_environment_variable_is_an_option() -> None:
    known = {o.env_var for o in EMULATOR_OPTIONS} | {o.env_var for o in TURN_OPTIONS}
    names = [e["name"] for c in _containers() if c["name"] != "redis" for e in c.get("env", [])]
    assert names and set(names) <= known, sorted(set(names) - known)


def test_services_select_deployments_and_name_their_ports() -> None:
    deployments = _by_kind("Deployment")
    for service in _by_kind("Service").values():
        matches = [
            d
            for d in deployments.values()
            if service["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, service["metadata"]["name"]
        ports = {
            p["name"]
            for c in matches[0]["spec"]["template"]["spec"]["containers"]
            for p in c["ports"]
        }
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def test_replicas_share_state_and_secrets_and_turn_runs_once() -> None:
    deployments = _by_kind("Deployment")
    api = deployments["orga-emulator"]
    assert api["spec"]["replicas"] >= 2
    assert deployments["orga-emulator-turn"]["spec"]["replicas"] == 1
    env = {e["name"]: e for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    redis_service = _by_kind("Service")["orga-emulator-redis"]
    assert env["ORGA_EMULATOR_STATE"]["value"].startswith(
        f"redis://{redis_service['metadata']['name']}:6379/"
    )
    for shared in (
        "ORGA_EMULATOR_SIGNING_SECRET",
        "ORGA_EMULATOR_TURN_SECRET",
        "ORGA_EMULATOR_ADMIN_TOKEN",
    ):
        assert "secretKeyRef" in env[shared]["valueFrom"], shared
    assert env["ORGA_EMULATOR_TURN"]["value"] == "false"


def test_probes_use_the_emulators_health_routes() -> None:
    from emulator.http import health

    paths = {route.path for route in health.routes if hasattr(route, "path")}
    api = _by_kind("Deployment")["orga-emulator"]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] in paths
    assert api["livenessProbe"]["httpGet"]["path"] in paths


def test_nothing_runs_as_root() -> None:
    for name, deployment in _by_kind("Deployment").items():
        if name.endswith("-redis"):
            continue
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True, (
            name
        )


def test_the_readme_shows_how_to_make_the_secret() -> None:
    text = (K8S / "README.md").read_text()
    keys = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for c in _containers()
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    for key in keys:
        assert f"--from-literal={key}=" in text, key


def test_manifests_are_in_this_folder() -> None:
    assert isinstance(K8S, Path) and K8S.is_dir()
