"""The users an API key may mint tokens for, identified by email."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web

# The test the Node SDK applies, without control characters, at most RFC 5321's 254 characters.
EMAIL_PATTERN = re.compile(r"^[^\s@\x00-\x1f\x7f]+@[^\s@\x00-\x1f\x7f]+\.[^\s@\x00-\x1f\x7f]+$")
MAX_EMAIL_LENGTH = 254
FOUND_KEPT = 4096
USER_NAMESPACE = uuid.UUID("6f7e8a52-3c1d-4e0b-9a55-0f5a1d2c4b7e")


def is_valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL_LENGTH and bool(EMAIL_PATTERN.match(email))


@functools.lru_cache(maxsize=4096)
def user_id_for(email: str) -> str:
    """A stable id per email (case-insensitive), shaped like a real user id."""
    return str(uuid.uuid5(USER_NAMESPACE, email.strip().lower()))


@functools.lru_cache(maxsize=256)
def account_user_id(api_key_id: str) -> str:
    """The id of the API key's own account: the user of a token minted without an email."""
    return str(uuid.uuid5(USER_NAMESPACE, "account:" + api_key_id))


class UserDirectory:
    """Either an open directory (any valid email is a user) or a closed list."""

    def __init__(self, emails: Iterable[str] | None = None) -> None:
        self._emails = None if emails is None else {e.strip().lower() for e in emails}
        # The users found so far and their ids: every token minted looks its user up, and a
        # test run mints for a few users many times. Bounded: cleared when full.
        self._found: dict[str, tuple[str, str]] = {}

    @classmethod
    def from_sources(cls, sources: Iterable[str]) -> UserDirectory:
        """Each source is an email or the path of a file of emails (one per line, # comments)."""
        sources = list(sources)
        if not sources:
            return cls(None)
        emails: list[str] = []
        for source in sources:
            if "@" in source and not Path(source).is_file():
                emails.append(source)
                continue
            for line in Path(source).read_text().splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    emails.append(line)
        return cls(emails)

    def __contains__(self, email: str) -> bool:
        if not is_valid_email(email):
            return False
        return self._emails is None or email.strip().lower() in self._emails

    def user_id(self, email: str) -> str | None:
        """The id of the user `email` (user_id_for), or None when it is not a user."""
        found = self.user(email)
        return None if found is None else found[0]

    def user(self, email: str) -> tuple[str, str] | None:
        """(the id, the email as a token claims it) of the user `email`, or None when it is not
        a user. The email is one string for all of the user's tokens: the token journal keeps
        their claims, and a string per token kept was a good part of a mint's cost."""
        found = self._found.get(email)
        if found is None and email in self:
            if len(self._found) >= FOUND_KEPT:
                self._found.clear()
            # A valid email may end in "\n" (EMAIL_PATTERN's "$"): the claim has it stripped.
            found = self._found[email] = (user_id_for(email), email.strip())
        return found


USERS = web.AppKey("users", UserDirectory)
