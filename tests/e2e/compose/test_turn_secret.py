"""deploy/compose/turn-secret.sh (orga-turn-secret in the image), run here without an engine.

The compose stack's TURN secret: a publicly known or short ORGA_TURN_SECRET is refused before
anything starts; unset, one random secret is generated into the shared directory, once, and every
service started reads that same one. `--secret signing` does the same for the replicas' token
signing secret (ORGA_SIGNING_SECRET, signing-secret), and the two calls chain.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.kit.paths import ROOT

SCRIPT = ROOT / "deploy" / "compose" / "turn-secret.sh"
PRINT_SECRET = ["sh", "-c", 'printf %s "$SOME_SECRET"; [ -z "${ORGA_TURN_SECRET+x}" ]']
EX_CONFIG = 78


def run_wrapper(
    secret_dir: Path,
    secret: str | None = None,
    argv: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # its `python`
        "ORGA_TURN_SECRET_DIR": str(secret_dir),
        **(extra_env or {}),
    }
    if secret is not None:
        env["ORGA_TURN_SECRET"] = secret
    return subprocess.run(
        ["sh", str(SCRIPT), *(argv or ["SOME_SECRET", *PRINT_SECRET])],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("orga-emulator-dev-turn-secret", "publicly known value"),
        ("short-secret", "12 characters; it needs at least 16"),
    ],
    ids=["public-constant", "too-short"],
)
def test_a_known_or_short_secret_is_refused_and_nothing_runs(tmp_path, secret, says):
    result = run_wrapper(tmp_path, secret)
    assert result.returncode == EX_CONFIG
    assert says in result.stderr and "ORGA_TURN_SECRET" in result.stderr
    assert result.stdout == ""  # the command never ran
    assert list(tmp_path.iterdir()) == []


def test_a_chosen_secret_is_passed_on_and_nothing_is_written(tmp_path):
    result = run_wrapper(tmp_path, "a-secret-of-my-own-choosing")
    assert result.returncode == 0, result.stderr  # and ORGA_TURN_SECRET itself is not passed on
    assert result.stdout == "a-secret-of-my-own-choosing"
    assert list(tmp_path.iterdir()) == []


def test_unset_a_random_secret_is_made_once_private_and_reused(tmp_path):
    first = run_wrapper(tmp_path)
    assert first.returncode == 0, first.stderr
    assert len(first.stdout) >= 32
    saved = tmp_path / "turn-secret"
    assert saved.read_text().strip() == first.stdout
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["turn-secret"]  # no draft left behind
    again = run_wrapper(tmp_path)
    assert again.stdout == first.stdout
    assert run_wrapper(tmp_path / "other").returncode == EX_CONFIG  # no such directory: refused


def test_services_starting_at_once_share_one_secret(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: run_wrapper(tmp_path), range(8)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert len({r.stdout for r in results}) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["turn-secret"]


# The replicas' chain (docker-compose.replicas.yml): the TURN secret, then the signing secret.
CHAIN = [
    "TURN_VAR",
    "sh",
    str(SCRIPT),
    "--secret",
    "signing",
    "SIGNING_VAR",
    "sh",
    "-c",
    'printf "%s %s" "$TURN_VAR" "$SIGNING_VAR"; [ -z "${ORGA_SIGNING_SECRET+x}" ]',
]


def test_a_second_secret_is_made_beside_the_first_and_both_are_passed_on(tmp_path):
    first = run_wrapper(tmp_path, argv=CHAIN)
    assert first.returncode == 0, first.stderr
    turn, signing = first.stdout.split(" ")
    assert len(turn) >= 32 and len(signing) >= 32 and turn != signing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signing-secret", "turn-secret"]
    assert (tmp_path / "signing-secret").read_text().strip() == signing
    assert stat.S_IMODE((tmp_path / "signing-secret").stat().st_mode) == 0o600
    assert run_wrapper(tmp_path, argv=CHAIN).stdout == first.stdout  # kept, not remade


def test_a_chosen_signing_secret_is_passed_on_and_nothing_of_it_is_written(tmp_path):
    chosen = {"ORGA_SIGNING_SECRET": "a-signing-secret-of-my-own"}
    result = run_wrapper(tmp_path, argv=CHAIN, extra_env=chosen)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(" ")[1] == "a-signing-secret-of-my-own"
    assert [p.name for p in tmp_path.iterdir()] == ["turn-secret"]


@pytest.mark.parametrize(
    ("signing", "says"),
    [
        ("orga-emulator-dev-turn-secret", "ORGA_SIGNING_SECRET is a publicly known value"),
        ("short", "ORGA_SIGNING_SECRET is 5 characters; it needs at least 16"),
    ],
    ids=["public-constant", "too-short"],
)
def test_a_known_or_short_signing_secret_is_refused_and_nothing_runs(tmp_path, signing, says):
    result = run_wrapper(tmp_path, argv=CHAIN, extra_env={"ORGA_SIGNING_SECRET": signing})
    assert result.returncode == EX_CONFIG
    assert says in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    "argv",
    [["--secret", "Signing", "VAR", "true"], ["--secret", "", "VAR", "true"], ["--secret"]],
    ids=["upper-case", "empty", "no-name"],
)
def test_a_bad_secret_name_is_refused(tmp_path, argv):
    result = run_wrapper(tmp_path, argv=argv)
    assert result.returncode == EX_CONFIG and "orga-turn-secret:" in result.stderr
    assert list(tmp_path.iterdir()) == []
