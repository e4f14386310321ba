"""Deterministic fake data, and the users file made from it, as the emulator reads it."""

from __future__ import annotations

import subprocess
import sys

from emulator.config import Settings
from emulator.http.auth import API_KEY_PREFIX
from emulator.identity.users import UserDirectory, is_valid_email
from emulator.testing.fakedata import FakeData
from tests.kit.paths import USERS_FILE


def test_same_seed_same_data_other_seed_other_data():
    assert FakeData(7).users(20) == FakeData(7).users(20)
    assert FakeData(7).users(5) != FakeData(8).users(5)
    assert FakeData(1).conversation(3) == FakeData(1).conversation(3)


def test_users_are_unique_valid_and_never_real_addresses():
    users = FakeData(3).users(200)
    emails = [u.email for u in users]
    assert len(set(emails)) == 200
    assert all(is_valid_email(e) for e in emails)
    assert all(e.rsplit("@", 1)[1] in ("example.com", "example.net", "example.org") for e in emails)


def test_api_keys_have_the_orga_shape():
    key = FakeData(0).api_key()
    assert key.startswith(API_KEY_PREFIX) and len(key) == len(API_KEY_PREFIX) + 32


def test_the_committed_users_file_is_what_the_generator_prints():
    printed = subprocess.run(
        [sys.executable, "-m", "emulator.testing.fakedata", "users", "20", "--seed", "7"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == USERS_FILE.read_text(), (
        "regenerate fixtures/users.txt (see fixtures/README.md)"
    )


def test_the_users_file_closes_the_directory():
    directory = UserDirectory.from_sources(Settings(users=(str(USERS_FILE),)).users)
    emails = USERS_FILE.read_text().split()
    assert all(email in directory for email in emails)
    assert "someone-else@example.com" not in directory
