"""Compact JWS with HS256 only (RFC 7515, RFC 7519): the ephemeral tokens' signature.

The algorithm is pinned: a header naming any other (`none`, HS512, RS256...) is refused, as is
anything that is not exactly three base64url segments of a JSON object header, a JSON object
payload and a 32-byte HMAC-SHA256. Written here rather than taken from PyJWT: it is all the
emulator needs, it costs a starting emulator nothing to import, and a request nothing to verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

ALGORITHM = "HS256"
_HEADER = base64.urlsafe_b64encode(
    json.dumps({"alg": ALGORITHM, "typ": "JWT"}, separators=(",", ":")).encode()
).rstrip(b"=")


class InvalidJws(ValueError):
    """The token is not a well-formed, correctly signed HS256 JWS; the message says why."""


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64decode(segment: str) -> bytes:
    try:
        return base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidJws("a segment is not base64url") from None


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidJws(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidJws(f"the {what} is not a JSON object")
    return value


def encode(claims: dict[str, Any], secret: bytes) -> str:
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = _HEADER + b"." + payload
    signature = _b64encode(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode("ascii")


def _segments(token: str) -> list[str]:
    if not isinstance(token, str) or not token.isascii():
        raise InvalidJws("not an ASCII string")
    segments = token.split(".")
    if len(segments) != 3:
        raise InvalidJws(f"{len(segments)} segments, not 3")
    return segments


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload, signature unchecked: for matching a token to a test, never for trusting it."""
    header_b64, payload_b64, _ = _segments(token)
    _json_object(_b64decode(header_b64), "header")
    return _json_object(_b64decode(payload_b64), "payload")


def verify(token: str, secret: bytes) -> dict[str, Any]:
    """The payload of a token signed with `secret` under HS256; InvalidJws otherwise."""
    header_b64, payload_b64, signature_b64 = _segments(token)
    header = _json_object(_b64decode(header_b64), "header")
    if header.get("alg") != ALGORITHM:
        raise InvalidJws(f"algorithm {header.get('alg')!r} is not {ALGORITHM}")
    if "crit" in header:
        raise InvalidJws("critical header parameters are not supported")
    expected = hmac.new(secret, f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64decode(signature_b64)):
        raise InvalidJws("bad signature")
    return _json_object(_b64decode(payload_b64), "payload")
