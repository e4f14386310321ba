"""TURN REST API credentials (draft-uberti-behave-turn-rest), as coturn and pion use them.

The username is ``"<expiry unix time>:<user>"`` and the password is
``base64(HMAC-SHA1(shared secret, username))``, so the server needs no user
database: it recomputes the password and refuses usernames past their expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def rest_username(expiry: int, user: str) -> str:
    return f"{int(expiry)}:{user}"


def rest_password(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode("utf8"), username.encode("utf8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_rest_username(username: str) -> tuple[int, str]:
    """Split ``"<expiry>:<user>"``; raise ValueError when there is no integer expiry."""
    expiry, sep, user = username.partition(":")
    if not sep or not expiry.isdigit():
        raise ValueError(f"not a TURN REST username: {username!r}")
    return int(expiry), user


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """The MESSAGE-INTEGRITY key for long-term credentials (RFC 8489 section 9.2.2)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()
