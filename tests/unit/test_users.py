"""The user directory's look-up of a user's id: the same answer as the membership test and
user_id_for, remembered within a bound."""

from __future__ import annotations

from emulator.identity import users
from emulator.identity.users import UserDirectory, user_id_for


def test_a_closed_directory_gives_ids_to_its_users_only():
    directory = UserDirectory(["Ada@Example.com"])
    assert directory.user_id("ada@example.com") == user_id_for("ada@example.com")
    assert directory.user_id("ADA@example.com") == user_id_for("ada@example.com")
    assert directory.user_id("bob@example.com") is None
    assert directory.user_id("not an email") is None
    assert directory.user_id("bob@example.com") is None  # a refusal is not remembered as a user


def test_an_open_directory_gives_ids_to_any_valid_email_and_refuses_the_rest():
    directory = UserDirectory(None)
    assert directory.user_id("anyone@example.com") == user_id_for("anyone@example.com")
    for bad in ("", "a@b", "a b@c.de", "a@b.c\x00", "x" * 250 + "@b.co"):
        assert directory.user_id(bad) is None, bad


def test_the_remembered_ids_are_bounded(monkeypatch):
    monkeypatch.setattr(users, "FOUND_KEPT", 10)
    directory = UserDirectory(None)
    for i in range(25):
        assert directory.user_id(f"u{i}@example.com") == user_id_for(f"u{i}@example.com")
        assert len(directory._found) <= 10
    assert directory.user_id("u0@example.com") == user_id_for("u0@example.com")


def test_a_users_tokens_claim_one_email_string():
    """What the token journal keeps per token: the email of every token of one user is the
    same string object, whatever string each request brought."""
    directory = UserDirectory(None)
    first = directory.user("".join(["ada@", "example.com"]))
    second = directory.user("".join(["ada@example", ".com"]))
    assert first is not None and second is not None
    assert first == (user_id_for("ada@example.com"), "ada@example.com")
    assert first[1] is second[1]
    assert directory.user("ada@example.com\n") == (
        user_id_for("ada@example.com"),
        "ada@example.com",
    )
