"""Fault rules: what to break, for whom, how often. This module owns their format and matching.

A rule is a JSON object (README "Control plane"):

    {"fault": "http_status", "endpoint": "calls", "status": 503, "times": 1}
    {"fault": "packet_loss", "percent": 30, "email": "ada@example.com"}
    {"fault": "turn_unauthorized", "probability": 0.5}

Scope keys (all optional, all must match): `api_key`, `email`, `token` (a jti or the token
itself), `test_id` (the X-Test-Id a token was minted under, or the request's header).
`times` limits a rule to the next N matching requests; `probability` applies it to a seeded
random share of them. Rules are kept per injection point, so a point without rules costs one
dict lookup (the HTTP middleware, a new session, a TURN request); none is checked per packet.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from emulator.ai.params import ParamError
from emulator.identity.jws import InvalidJws, unverified_claims
from emulator.identity.users import user_id_for

HTTP = "http"
SESSION = "session"
TURN = "turn"

ENDPOINTS = {
    "client-secrets": "/v1/realtime/client-secrets",
    "ice-config": "/v1/realtime/ice-config",
    "calls": "/v1/realtime/calls",
}
ENDPOINT_BY_PATH = {path: name for name, path in ENDPOINTS.items()}

# The SDK gives up on /calls after 10 s; a slow answer arrives later than that by default.
SLOW_ANSWER_MS = 11_000

# fault kind -> (injection point, allowed parameters)
KINDS: dict[str, tuple[str, frozenset[str]]] = {
    # HTTP, per endpoint
    "http_status": (HTTP, frozenset({"status", "message", "code"})),
    "latency": (HTTP, frozenset({"delay_ms"})),
    "connection_reset": (HTTP, frozenset()),
    "slow_answer": (HTTP, frozenset({"delay_ms"})),
    # tokens (ice-config and calls)
    "invalid_token": (HTTP, frozenset()),
    "expired_token": (HTTP, frozenset()),
    # WebRTC, applied to the session a matching /calls opens
    "ice_never_connects": (SESSION, frozenset()),
    "dtls_failure": (SESSION, frozenset()),
    "datachannel_close": (SESSION, frozenset({"after_ms"})),
    "media_silent": (SESSION, frozenset({"after_ms"})),
    "packet_loss": (SESSION, frozenset({"percent", "direction"})),
    "hangup": (SESSION, frozenset({"after_ms"})),
    # TURN (turn_stub), per request of a matching user
    "turn_unauthorized": (TURN, frozenset()),
    "turn_no_relay": (TURN, frozenset()),
    "turn_quota": (TURN, frozenset()),
}
TOKEN_KINDS = frozenset({"invalid_token", "expired_token"})
SCOPE_KEYS = ("api_key", "email", "token", "test_id")
COMMON_KEYS = frozenset({"fault", "endpoint", "times", "probability", *SCOPE_KEYS})


class FaultSpecError(ParamError):
    """A fault rule that cannot be used; `param` names the field."""


@dataclass
class Facts:
    """What a request or session is known by, for matching scopes."""

    api_key_id: str | None = None
    email: str | None = None
    user: str | None = None  # the token's sub (all a TURN request carries)
    jti: str | None = None
    test_id: str | None = None

    @classmethod
    def from_claims(cls, claims: dict[str, Any], test_id: str | None = None) -> Facts:
        return cls(
            api_key_id=claims.get("api_key_id"),
            email=claims.get("email"),
            user=claims.get("sub"),
            jti=claims.get("jti"),
            test_id=claims.get("test_id") or test_id,
        )


@dataclass
class FaultRule:
    id: str
    kind: str
    point: str
    endpoint: str  # an ENDPOINTS name or "*"
    params: dict[str, Any]
    spec: dict[str, Any]  # as posted, for listing
    times: int | None = None
    probability: float | None = None
    scope: dict[str, str] = field(default_factory=dict)
    applied: int = 0

    def matches(self, facts: Facts) -> bool:
        for key, wanted in self.scope.items():
            if key == "email":
                if facts.email is not None:
                    if facts.email.strip().lower() != wanted:
                        return False
                elif facts.user != user_id_for(wanted):
                    return False
            elif getattr(facts, key) != wanted:
                return False
        return True

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.applied >= self.times

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec, "applied": self.applied}


def _number(spec: dict[str, Any], key: str, low: float, high: float | None = None) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultSpecError(key, f"'{key}' must be a number.")
    # JSON as Python reads it allows NaN and Infinity, and no range check refuses NaN.
    if not math.isfinite(value):
        raise FaultSpecError(key, f"'{key}' must be a finite number.")
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise FaultSpecError(key, f"'{key}' must be {bound}.")
    return value


def parse_rule(spec: Any, rule_id: str) -> FaultRule:
    """Validate a posted rule; FaultSpecError names the offending field."""
    if not isinstance(spec, dict):
        raise FaultSpecError("fault", "A fault rule must be a JSON object.")
    kind = spec.get("fault")
    if not isinstance(kind, str) or kind not in KINDS:
        raise FaultSpecError("fault", f"Unknown fault {kind!r}; one of: {', '.join(KINDS)}.")
    point, allowed = KINDS[kind]
    unknown = set(spec) - COMMON_KEYS - allowed
    if unknown:
        raise FaultSpecError(sorted(unknown)[0], f"Unknown field(s) for {kind}: {sorted(unknown)}.")
    endpoint = spec.get("endpoint", "*")
    if point == TURN:
        # The TURN method a fault refuses: allocations only, but 401 for every request.
        endpoint = "*" if kind == "turn_unauthorized" else "allocate"
    if point == HTTP:
        choices = ("ice-config", "calls", "*") if kind in TOKEN_KINDS else (*ENDPOINTS, "*")
        if endpoint not in choices:
            raise FaultSpecError("endpoint", f"'endpoint' must be one of {list(choices)}.")
    if point != HTTP and "endpoint" in spec:
        raise FaultSpecError("endpoint", f"{kind} applies to sessions or TURN, not an endpoint.")
    times = _number(spec, "times", 1)
    if times is not None and times != int(times):
        raise FaultSpecError("times", "'times' must be a whole number.")
    probability = _number(spec, "probability", 0.0, 1.0)
    params: dict[str, Any] = {}
    if kind == "http_status":
        status = _number(spec, "status", 400, 599)
        if status is None or status != int(status):
            raise FaultSpecError("status", "'status' (400-599) is required.")
        params["status"] = int(status)
        for key in ("message", "code"):
            if spec.get(key) is not None and not isinstance(spec[key], str):
                raise FaultSpecError(key, f"'{key}' must be a string.")
            params[key] = spec.get(key)
    elif kind in ("latency", "slow_answer"):
        default = SLOW_ANSWER_MS if kind == "slow_answer" else None
        delay = _number(spec, "delay_ms", 0, 600_000)
        if delay is None and default is None:
            raise FaultSpecError("delay_ms", "'delay_ms' is required.")
        params["delay_ms"] = delay if delay is not None else default
    elif kind in ("datachannel_close", "media_silent", "hangup"):
        params["after_ms"] = _number(spec, "after_ms", 0, 86_400_000) or 0
    elif kind == "packet_loss":
        percent = _number(spec, "percent", 0, 100)
        if percent is None:
            raise FaultSpecError("percent", "'percent' (0-100) is required.")
        direction = spec.get("direction", "both")
        if direction not in ("in", "out", "both"):
            raise FaultSpecError("direction", "'direction' must be 'in', 'out' or 'both'.")
        params.update(percent=percent, direction=direction)
    scope: dict[str, str] = {}
    for key in SCOPE_KEYS:
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise FaultSpecError(key, f"'{key}' must be a non-empty string.")
        if key == "api_key":
            from emulator.http.auth import (
                api_key_id,  # auth imports the app's state, which imports us
            )

            scope["api_key_id"] = api_key_id(value)
        elif key == "email":
            scope["email"] = value.strip().lower()
        elif key == "token":
            scope["jti"] = _jti_of(value)
        else:
            scope["test_id"] = value
    return FaultRule(
        id=rule_id,
        kind=kind,
        point=point,
        endpoint=endpoint,
        params=params,
        spec=dict(spec),
        times=int(times) if times is not None else None,
        probability=probability,
        scope=scope,
    )


def _jti_of(token: str) -> str:
    """A rule may name a token by its jti or by the token itself."""
    if token.count(".") != 2:
        return token
    try:
        claims = unverified_claims(token)
    except InvalidJws:
        raise FaultSpecError("token", "'token' is neither a jti nor a decodable token.") from None
    jti = claims.get("jti")
    if not isinstance(jti, str):
        raise FaultSpecError("token", "The token has no jti.")
    return jti


class FaultBook:
    """The active rules, by injection point, with the seeded dice for `probability`."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._by_point: dict[str, list[FaultRule]] = {}
        # The rules by point, read-only: the dict behind it is never replaced, so a hot path
        # may hold this view and read it without a call.
        self.points: Mapping[str, list[FaultRule]] = MappingProxyType(self._by_point)
        self._count = 0

    def add(self, spec: Any) -> FaultRule:
        rule = parse_rule(spec, f"fault_{self._count + 1}")
        self._count += 1
        self._by_point.setdefault(rule.point, []).append(rule)
        return rule

    def rules(self) -> list[FaultRule]:
        return sorted(
            (r for rules in self._by_point.values() for r in rules), key=lambda r: int(r.id[6:])
        )

    def active(self, point: str) -> bool:
        return bool(self._by_point.get(point))

    def clear(self) -> None:
        self._by_point.clear()

    def remove(self, rule_id: str) -> bool:
        for rules in self._by_point.values():
            for rule in rules:
                if rule.id == rule_id:
                    rules.remove(rule)
                    return True
        return False

    def take(
        self, point: str, facts: Facts, endpoint: str | None = None, *, first: bool = True
    ) -> list[FaultRule]:
        """The rules that apply now (counted as applied); only the first one if `first`."""
        taken: list[FaultRule] = []
        for rule in self.candidates(point, facts, endpoint):
            rule.applied += 1
            if rule.exhausted:
                self.discard(rule)
            taken.append(rule)
            if first:
                break
        return taken

    def candidates(
        self, point: str, facts: Facts, endpoint: str | None = None
    ) -> Iterator[FaultRule]:
        """The rules that match, after their dice, lazily (a die is cast only for a rule that
        is looked at); not counted: take() or, with shared state, the state's atomic counter
        does that."""
        for rule in list(self._by_point.get(point, ())):
            if endpoint is not None and rule.endpoint not in ("*", endpoint):
                continue
            if not rule.matches(facts):
                continue
            if rule.probability is not None and self._rng.random() >= rule.probability:
                continue
            yield rule

    def counted(self, rule: FaultRule, applied: int) -> None:
        """The shared counter says `rule` is applied for the `applied`th time."""
        rule.applied = applied
        if rule.exhausted:
            self.discard(rule)

    def discard(self, rule: FaultRule) -> None:
        rules = self._by_point.get(rule.point, [])
        if rule in rules:
            rules.remove(rule)

    def load(self, rules: Iterable[tuple[str, dict[str, Any]]], applied: dict[str, int]) -> None:
        """Replace the rules with the shared state's (validated when they were posted)."""
        self._by_point.clear()
        for rule_id, spec in rules:
            rule = parse_rule(spec, rule_id)
            rule.applied = applied.get(rule_id, 0)
            if not rule.exhausted:
                self._by_point.setdefault(rule.point, []).append(rule)
