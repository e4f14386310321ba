"""TURN REST API credentials (draft-uberti-behave-turn-rest), as coturn and pion use them.

The username is ``"<expiry unix time>:<user>"`` and the password is
``base64(HMAC-SHA1(shared secret, username))``, so the server needs no user
database: it recomputes the password and refuses usernames past their expiry.

A username may also name the API key its token was minted with, for a quota per key:
``"<expiry>:<user>:key=<key id>"`` (the key id holds no colon). It is still a TURN REST
username (coturn reads the expiry before the first colon and ignores the rest), and the
password covers the whole of it, so the key id cannot be changed without the secret. A
username without ``:key=`` counts under its user alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

KEY_MARK = ":key="


@dataclass(frozen=True)
class RestUsername:
    expiry: int
    user: str
    key_id: str | None = None


def rest_username(expiry: int, user: str, key_id: str | None = None) -> str:
    if key_id is None:
        return f"{int(expiry)}:{user}"
    if ":" in key_id or not key_id:
        raise ValueError(f"not a key id: {key_id!r}")
    return f"{int(expiry)}:{user}{KEY_MARK}{key_id}"


def rest_password(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode("utf8"), username.encode("utf8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_username(username: str) -> RestUsername:
    """Split ``"<expiry>:<user>[:key=<key id>]"``; ValueError when there is no integer expiry."""
    expiry, sep, user = username.partition(":")
    if not sep or not expiry.isdigit():
        raise ValueError(f"not a TURN REST username: {username!r}")
    head, mark, key_id = user.rpartition(KEY_MARK)
    if mark and head and key_id and ":" not in key_id:
        return RestUsername(int(expiry), head, key_id)
    return RestUsername(int(expiry), user)


def parse_rest_username(username: str) -> tuple[int, str]:
    """The expiry and the user of a TURN REST username (without its key id)."""
    parsed = parse_username(username)
    return parsed.expiry, parsed.user


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """The MESSAGE-INTEGRITY key for long-term credentials (RFC 8489 section 9.2.2)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()
