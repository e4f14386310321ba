"""docker-compose.yml in a real Docker engine (the engine tier; test_compose.py is the fast one).
The calls and the Node SDK run against docker-compose.replicas.yml too (its own checks are in
test_replicas.py); the checks of the two services and of the image alone only against
docker-compose.yml.

The session's stack (conftest.py) is built from our Dockerfile on the stand-in python:3.11-slim,
started with `docker-compose up -d` under a project name of its own and on free host ports, and
both healthchecks have passed. Then, from the host, as a user would: a direct call and relay-only
calls (TURN over UDP and TCP to the turn service) with the Python client, a relay-only call from
headless Chromium, the published @orga-ai/node; the image's own checks; a stack that refuses a
public secret. `docker-compose down -v` must leave nothing of ours (checked at teardown).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import pytest

from emulator.config import DEV_API_KEY
from emulator.testing.client import OrgaClient, wav_pcm
from tests.e2e.browser.driver import Browser
from tests.e2e.browser.relay import (
    RELAY_PAGE,
    relay_only_call,
    request_json,
    selected_pair,
    session_config,
    turn_entry,
)
from tests.e2e.compose.conftest import SINGLE, Stack, stack_ports
from tests.e2e.compose.engine import ComposeProject, docker
from tests.kit.paths import SPEECH
from tests.kit.tools import node_json, require_node_module

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SECRET_FILE = "/var/lib/orga-emulator/secret/turn-secret"
TRANSCRIPT = "conversation.item.input_audio_transcription.completed"


async def _speak_and_hear(client: OrgaClient) -> tuple[str, str]:
    """One spoken turn: its transcript and the AI's reply, and the AI's voice heard back."""
    said = asyncio.get_running_loop().time()
    client.say(wav_pcm(SPEECH / "hello.wav"))
    heard = await client.next_event(TRANSCRIPT, timeout=20)
    reply = await client.next_event("response.output_item.done", timeout=20)
    await client.received_audio.wait_for_loud(after=said, timeout=20)
    return heard["transcript"], reply["text"]


def _in_rtc_range(stack: Stack, port: int) -> bool:
    return stack.rtc_ports[0] <= port <= stack.rtc_ports[1]


async def test_a_direct_call_from_the_host(stack: Stack):
    async with OrgaClient(stack.base_url, DEV_API_KEY) as client:
        config = await client.get_session_config()
        stun = [s for s in config.ice_servers if s["urls"][0].startswith("stun:")]
        await client.connect(ice_servers=stun, return_transcription=True)
        local, remote = client.selected_candidate_pair()
        # Straight to a published port (the host's address, as the proxy answers from it).
        assert local.type == "host" and _in_rtc_range(stack, remote.port), (local, remote)
        transcript, reply = await _speak_and_hear(client)
        assert transcript and reply


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_relay_only_call_through_the_turn_service(stack: Stack, transport):
    async with OrgaClient(stack.base_url, DEV_API_KEY) as client:
        config = await client.get_session_config()
        turn = turn_entry(config.ice_servers, transport)
        assert turn["urls"][0].startswith(f"turn:{stack.public_host}:{stack.turn_port}?")
        await client.connect(relay_only=True, ice_servers=[turn], return_transcription=True)
        local, remote = client.selected_candidate_pair()
        assert local.type == "relay", (local, remote)
        # The relay reaches the emulator's advertised candidate, its loopback in the namespace
        # the two services share.
        assert remote.host == "127.0.0.1" and _in_rtc_range(stack, remote.port), remote
        transcript, reply = await _speak_and_hear(client)
        assert transcript and reply
        client.send_text("through the compose relay")
        echoed = await client.next_event("response.output_item.done", timeout=15)
        assert echoed["text"] == "through the compose relay"


def test_a_relay_only_call_from_chromium(stack: Stack):
    base = stack.base_url
    token, ice_servers = session_config(base, "c@example.com")
    turn = turn_entry(ice_servers, "udp")
    browser = Browser()
    try:
        browser.goto(RELAY_PAGE)
        relay_only_call(browser, base, token, turn, "mic")
        pair = selected_pair(browser)
        assert pair["local"]["candidateType"] == "relay", pair
        assert pair["local"]["url"] == turn["urls"][0], pair
        # The fake mic's words go up through the relay; the AI's reply and voice come back.
        browser.wait_for("relay.events.find(e => e.type === 'response.output_item.done')", 25)
        assert browser.evaluate("relay.stats().then(s => s.inboundAudioPackets)") > 0
        browser.evaluate("relay.pc.close()")
    finally:
        browser.close()


def test_the_published_node_sdk_against_the_container(stack: Stack):
    require_node_module("@orga-ai/node")
    result = node_json(
        "session_config.mjs", "@orga-ai/node", stack.base_url, DEV_API_KEY, "node@example.com"
    )
    assert result["ok"], result
    config = result["config"]
    assert config["ephemeralToken"].count(".") == 2
    turn = next(s for s in config["iceServers"] if s["urls"][0].startswith("turn:"))
    assert turn["urls"][0].startswith(f"turn:{stack.public_host}:{stack.turn_port}?")


@pytest.mark.compose_files(SINGLE)
def test_the_generated_secret_is_private_and_shared(stack: Stack):
    containers = stack.project.containers()
    secrets = {
        service: docker("exec", cid, "cat", SECRET_FILE).stdout.strip()
        for service, cid in containers.items()
    }
    secret = secrets["emulator"]
    assert len(secret) >= 32 and secrets == {"emulator": secret, "turn": secret}
    mode = docker("exec", containers["emulator"], "stat", "-c", "%a %u", SECRET_FILE).stdout
    assert mode.split() == ["600", "10001"]
    # The emulator signs ice-config credentials with it (and the relay calls show turn_stub
    # checks them with it).
    token = request_json(
        "POST", f"{stack.base_url}/v1/realtime/client-secrets?email=s%40example.com", DEV_API_KEY
    )["ephemeral_token"]
    servers = request_json("GET", f"{stack.base_url}/v1/realtime/ice-config", token)["iceServers"]
    turn = next(s for s in servers if "username" in s)
    digest = hmac.new(secret.encode(), turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()


@pytest.mark.compose_files(SINGLE)
def test_both_services_run_as_uid_10001_and_are_healthy(stack: Stack):
    image = json.loads(docker("image", "inspect", stack.project.image).stdout)[0]
    assert image["Config"]["User"] == "orga"
    assert image["Config"]["Healthcheck"]["Test"][-1] == "emulator.process.healthcheck"
    for service, cid in stack.project.containers().items():
        assert docker("exec", cid, "id", "-u").stdout.strip() == "10001", service
        state = ComposeProject.inspect(cid)["State"]
        assert state["Health"]["Status"] == "healthy", (service, state["Health"])
    print(f"\nimage {stack.project.image}: {stack.figures['image size (MB)']:.0f} MB")


@pytest.mark.compose_files(SINGLE)
@pytest.mark.parametrize("argv", [[], ["orga-turn-stub"]], ids=["orga-emulator", "orga-turn-stub"])
def test_the_image_alone_turns_healthy_and_stops_within_2s(stack: Stack, argv):
    """`docker run` of the image, its own HEALTHCHECK; `docker stop -t 2` kills whatever has not
    exited after 2 s (exit code 137), so an exit code of 0 means it stopped by itself in time."""
    env = ["-e", "ORGA_TURN_STUB_HOST=0.0.0.0"] if argv else []
    cid = docker("run", "-d", *env, stack.project.image, *argv).stdout.strip()
    try:
        if argv:  # the image's HEALTHCHECK probes the emulator; turn_stub has its own module
            probe = ["python", "-m", "turn_stub.healthcheck"]
            deadline = time.monotonic() + 30
            while docker("exec", cid, *probe, check=False).returncode != 0:
                assert time.monotonic() < deadline, docker("logs", cid).stderr
                time.sleep(0.5)
        else:
            deadline = time.monotonic() + 60
            while ComposeProject.inspect(cid)["State"]["Health"]["Status"] != "healthy":
                assert time.monotonic() < deadline, ComposeProject.inspect(cid)["State"]
                time.sleep(0.5)
        started = time.monotonic()
        docker("stop", "-t", "2", cid)
        took = time.monotonic() - started
        state = ComposeProject.inspect(cid)["State"]
        assert state["ExitCode"] == 0, (state, docker("logs", cid).stderr)
        print(f"\ndocker stop ({argv or 'orga-emulator'}): {took:.2f} s, exit 0")
    finally:
        docker("rm", "-f", cid, check=False)


@pytest.mark.compose_files(SINGLE)
@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("orga-emulator-dev-turn-secret", "publicly known value"),
        ("short", "at least 16"),
    ],
    ids=["public-constant", "too-short"],
)
def test_the_stack_refuses_a_known_or_short_secret(stack: Stack, secret, says):
    project = ComposeProject(stack.project.file, {**stack_ports(), "ORGA_TURN_SECRET": secret})
    try:
        result = project.run("up", "-d", timeout=120, check=False)
        assert result.returncode != 0
        (cid,) = project.containers().values()  # the emulator waits for a healthy turn
        state = ComposeProject.inspect(cid)["State"]
        assert state["ExitCode"] == 78, state
        assert says in docker("logs", cid).stderr
    finally:
        project.down()
    assert project.leftovers() == {"containers": [], "networks": [], "volumes": []}
