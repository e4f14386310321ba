"""Stateless NONCE values (RFC 8489 section 9.2): a timestamp plus an HMAC over it.

The server keeps no per-client nonce table: a nonce is valid if its HMAC,
computed with a key private to this server instance, matches, and it is stale
once older than the configured lifetime. The client's IP address is folded into
the HMAC so that a nonce cannot be replayed from another host.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable

_TIMESTAMP_HEX = 8
_MAC_HEX = 24


class NonceIssuer:
    def __init__(self, lifetime: int, clock: Callable[[], float], key: bytes | None = None) -> None:
        self.lifetime = lifetime
        self._clock = clock
        # A fresh key per server instance: a restart invalidates old nonces (438, then retry).
        self._key = key if key is not None else os.urandom(20)

    def issue(self, client_ip: str) -> bytes:
        timestamp = f"{int(self._clock()) & 0xFFFFFFFF:08x}"
        return (timestamp + self._mac(timestamp, client_ip)).encode("ascii")

    def is_valid(self, nonce: bytes, client_ip: str) -> bool:
        """True if this server issued the nonce to this client and it is not stale."""
        if len(nonce) != _TIMESTAMP_HEX + _MAC_HEX:
            return False
        try:
            text = nonce.decode("ascii")
            issued = int(text[:_TIMESTAMP_HEX], 16)
        except ValueError:
            return False
        if not hmac.compare_digest(
            text[_TIMESTAMP_HEX:], self._mac(text[:_TIMESTAMP_HEX], client_ip)
        ):
            return False
        age = int(self._clock()) - issued
        return 0 <= age < self.lifetime

    def _mac(self, timestamp: str, client_ip: str) -> str:
        message = f"{timestamp}/{client_ip}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:_MAC_HEX]
