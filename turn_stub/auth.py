"""Long-term credentials of the TURN REST kind, checked on every request (RFC 8489 section
9.2.4): a request without MESSAGE-INTEGRITY, with a bad one, with credentials whose embedded
expiry has passed, or with a stale nonce is challenged again (401 or 438, REALM and NONCE)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import message as msg
from . import stun
from .credentials import long_term_key, parse_username, rest_password
from .nonce import NonceIssuer


@dataclass(frozen=True)
class Credentials:
    username: str
    user: str
    key: bytes  # the MESSAGE-INTEGRITY key
    expiry: int  # when the credentials stop working (the username's expiry, server clock)
    key_id: str | None = None  # the API key the username names, for the quota per key


class Authenticator:
    def __init__(self, realm: str, secret: str, nonces: NonceIssuer, clock: Callable[[], float]):
        self.realm = realm
        self._secret = secret
        self._nonces = nonces
        self._clock = clock

    def check(self, message: stun.Message, client_ip: str) -> Credentials | msg.Reply:
        """The request's credentials, or the reply that refuses it."""
        attrs = message.attributes
        if "MESSAGE-INTEGRITY" not in attrs:
            return self.challenge(401, client_ip)
        username, realm, nonce = attrs.get("USERNAME"), attrs.get("REALM"), attrs.get("NONCE")
        if username is None or realm is None or nonce is None:
            return msg.error(400)
        try:
            parsed = parse_username(username)
        except ValueError:
            return self.challenge(401, client_ip)
        key = long_term_key(username, realm, rest_password(self._secret, username))
        if realm != self.realm or not message.check_message_integrity(key):
            return self.challenge(401, client_ip)
        if parsed.expiry < self._clock():
            # The credentials outlived the token they were issued with.
            return self.challenge(401, client_ip)
        if not self._nonces.is_valid(nonce, client_ip):
            return self.challenge(438, client_ip)
        return Credentials(username, parsed.user, key, parsed.expiry, parsed.key_id)

    def challenge(self, code: int, client_ip: str) -> msg.Reply:
        """An unsigned error with a fresh nonce: try again with (new) credentials."""
        nonce = self._nonces.issue(client_ip)
        return msg.error(code, None, ("REALM", self.realm), ("NONCE", nonce))
