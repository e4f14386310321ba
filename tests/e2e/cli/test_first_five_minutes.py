"""What a new user meets first: --version, help that explains itself, errors that say which port
and which flag, two emulators side by side on free ports, one startup line, and the README's
scenario example run exactly as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from emulator import __version__
from emulator.config import OPTIONS
from tests.kit.paths import README, ROOT
from tests.kit.tools import require_program
from turn_stub.cli import OPTIONS as TURN_OPTIONS

pytestmark = pytest.mark.slow

EMULATOR = [sys.executable, "-m", "emulator"]
TURN_STUB = [sys.executable, "-m", "turn_stub"]


def run(argv: list[str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("program", [EMULATOR, TURN_STUB], ids=["orga-emulator", "turn-stub"])
def test_version(program):
    done = run([*program, "--version"])
    assert done.returncode == 0
    assert done.stdout.strip().endswith(__version__)


def test_help_names_exec_and_every_variable_with_its_default():
    done = run([*EMULATOR, "--help"])
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # argparse wraps lines
    assert "orga-emulator exec [OPTIONS] -- CMD" in text
    for option in OPTIONS:
        assert option.cli_flag in text and option.env_var in text, option.name
    assert "ORGA_EMULATOR_PORT; default: 8787" in text
    turn = " ".join(run([*TURN_STUB, "--help"]).stdout.split())
    for option in TURN_OPTIONS:
        assert option.cli_flag in turn and option.env_var in turn, option.name


def test_exec_help_and_a_command_without_dashes_say_what_to_do():
    helped = run([*EMULATOR, "exec", "--help"])
    assert helped.returncode == 0
    assert "ORGA_ICE_SERVERS" in helped.stdout and "-- npm test" in helped.stdout
    bare = run([*EMULATOR, "exec", "echo", "hi"])
    assert bare.returncode == 2
    assert "put `--` before the command" in bare.stderr
    assert "orga-emulator exec -- echo hi" in bare.stderr
    empty = run([*EMULATOR, "exec", "--"])
    assert empty.returncode == 2 and "no command after `--`" in empty.stderr


def test_two_emulators_on_free_ports_run_side_by_side(emulator_process, tmp_path):
    facts = []
    for name in ("a", "b"):
        ready = tmp_path / f"{name}.json"
        emulator_process("--port", "0", "--ready-file", str(ready))  # TURN port not given
        facts.append(json.loads(ready.read_text()))
    (a, b) = facts
    assert a["port"] != b["port"] and a["turn_port"] != b["turn_port"]
    assert 3478 not in (a["turn_port"], b["turn_port"])
    assert a["base_url"].endswith(f":{a['port']}") and a["pid"] != b["pid"]


def test_a_taken_port_is_named_with_the_flag_that_changes_it(emulator_process, tmp_path):
    ready = tmp_path / "ready.json"
    emulator_process("--port", "0", "--ready-file", str(ready))
    taken = json.loads(ready.read_text())
    http = run([*EMULATOR, "--port", str(taken["port"]), "--turn-port", "0"])
    assert http.returncode == 2
    assert f"cannot listen on 127.0.0.1:{taken['port']} for HTTP (--port," in http.stderr
    assert "Address already in use" in http.stderr and "Traceback" not in http.stderr
    turn = run([*EMULATOR, "--port", "0", "--turn-port", str(taken["turn_port"])])
    assert turn.returncode == 2
    assert f"cannot listen on 127.0.0.1:{taken['turn_port']} for TURN (--turn-port," in turn.stderr
    assert "Traceback" not in turn.stderr


def test_startup_prints_one_line(emulator_process):
    emu = emulator_process("--turn-port", "0")
    # Everything printed up to and including the startup line: that line alone.
    assert emu.text().splitlines()[0] == emu.startup_line.rstrip("\n")


def test_the_readme_scenario_example_works_as_pasted(tmp_path):
    """The README's two commands, run in a network namespace of the test's own (so that
    localhost:8787 is free whatever else runs here), from the repository's root."""
    require_program("unshare")
    require_program("curl")
    text = README.read_text()
    block = text.split("<!-- scenario-example:start -->", 1)[1].split(
        "<!-- scenario-example:end -->"
    )[0]
    commands = re.search(r"```sh\n(.*?)```", block, re.S).group(1).strip()
    start, curl = commands.split("\n", 1)
    assert start.endswith("&")
    script = f"""
set -e
ip link set lo up
{start.removesuffix("&").strip()} > {tmp_path}/emulator.log 2>&1 &
emulator=$!
trap 'kill $emulator; wait $emulator' EXIT  # it must not outlive the test (nor its namespace)
for i in $(seq 1 200); do curl -sf localhost:8787/readyz >/dev/null && break; sleep 0.05; done
{curl} -s -w '\\n%{{http_code}}'
"""
    started = time.monotonic()
    done = subprocess.run(
        ["unshare", "--net", "--kill-child", "sh", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    log = (tmp_path / "emulator.log").read_text()
    assert done.returncode == 0, done.stderr + log
    assert "shutting down" in log  # stopped by the script, not left running
    body, status = done.stdout.rsplit("\n", 1)
    assert status == "201", body
    posted = json.loads(body)
    assert posted["name"] == "greeting" and posted["test_id"] == "checkout-flow"
    assert time.monotonic() - started < 60
