"""Compact JWS with HS256 only (RFC 7515, RFC 7519): the ephemeral tokens' signature.

The algorithm is pinned: a header naming any other (`none`, HS512, RS256...) is refused, as is
anything that is not exactly three base64url segments of a JSON object header, a JSON object
payload and a 32-byte HMAC-SHA256. Written here rather than taken from PyJWT: it is all the
emulator needs, it costs a starting emulator nothing to import, and a request nothing to verify.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any, NamedTuple

ALGORITHM = "HS256"
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _compact_json() -> Callable[[Any], str]:
    """json.dumps(value, separators=(",", ":")), byte for byte, without building a JSONEncoder
    and its C encoder on every call as json.dumps does when given any option."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the pure-Python encoder, built once
        return json.JSONEncoder(separators=(",", ":")).encode
    # What JSONEncoder(separators=(",", ":")).iterencode passes, less the circular check
    # (markers=None): claims are flat.
    encode = make(
        None,  # markers
        json.JSONEncoder().default,
        json.encoder.encode_basestring_ascii,  # ensure_ascii=True
        None,  # indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )
    return lambda value: "".join(encode(value, 0))


_compact = _compact_json()
compact_json = _compact  # for callers that build a payload (tokens.py)


class InvalidJws(ValueError):
    """The token is not a well-formed, correctly signed HS256 JWS; the message says why."""


def _b64encode(data: bytes) -> bytes:
    """base64url without padding (base64.urlsafe_b64encode, less two Python calls): "=" is
    only ever padding, so translate() drops it."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE, b"=")


_HEADER = _b64encode(_compact({"alg": ALGORITHM, "typ": "JWT"}).encode())


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> tuple[Any, Any]:
    """SHA-256 already fed the key's inner and outer pads (RFC 2104): each signature then
    starts from copies, with no key setup and no look-up of the algorithm by name."""
    key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    key = key.ljust(64, b"\0")
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in key)),
        hashlib.sha256(bytes(b ^ 0x5C for b in key)),
    )


def hs256(secret: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 of `data` under `secret`: hmac.digest(secret, data, "sha256")."""
    inner_pad, outer_pad = _keyed(secret)
    inner = inner_pad.copy()
    inner.update(data)
    outer = outer_pad.copy()
    outer.update(inner.digest())
    return outer.digest()


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
    return sign(_compact(claims), secret)


def sign(payload: str, secret: bytes) -> str:
    """The token of a payload already written as compact JSON (encode() of its claims)."""
    return sign_after(payload_prefix("", secret), payload)


class PayloadPrefix(NamedTuple):
    """The start of many tokens' payloads, signed ahead. base64url works on groups of three
    bytes and SHA-256 is incremental, so the prefix's whole groups are encoded once and fed to
    the HMAC's inner hash once; each token then encodes and hashes only what follows them."""

    signing_input: bytes  # the header, ".", and the base64url of the prefix's whole groups
    rest: bytes  # the prefix's last 0 to 2 bytes, encoded with each token's own text
    inner: Any  # the HMAC's inner SHA-256, fed its pad and `signing_input`
    outer: Any  # the HMAC's outer SHA-256, fed its pad


def payload_prefix(text: str, secret: bytes) -> PayloadPrefix:
    data = text.encode()
    whole = len(data) - len(data) % 3
    signing_input = _HEADER + b"." + _b64encode(data[:whole])
    inner_pad, outer_pad = _keyed(secret)
    inner = inner_pad.copy()
    inner.update(signing_input)
    return PayloadPrefix(signing_input, data[whole:], inner, outer_pad)


def sign_after(prefix: PayloadPrefix, text: str) -> str:
    """sign() of the payload the prefix's text then `text`, byte for byte."""
    tail = _b64encode(prefix.rest + text.encode())
    inner = prefix.inner.copy()
    inner.update(tail)
    outer = prefix.outer.copy()
    outer.update(inner.digest())
    return b"".join((prefix.signing_input, tail, b".", _b64encode(outer.digest()))).decode()


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
    expected = hs256(secret, f"{header_b64}.{payload_b64}".encode())
    if not hmac.compare_digest(expected, _b64decode(signature_b64)):
        raise InvalidJws("bad signature")
    return _json_object(_b64decode(payload_b64), "payload")
