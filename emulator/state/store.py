"""The SharedState Protocol: single-use claims, the control document, journals, the live feed
and the replicas' heartbeats, as async operations any backend provides.

A backend says whether it is `shared`: the memory backend is not, and the emulator then keeps
its control plane as it always has, in the process, at no added cost per request. A shared one
(Redis) is read through on each request that depends on it (one version read), so a change
posted to one replica is seen by the very next request on any other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

DEFAULT_PREFIX = "orga-emulator:"
MEMORY_URL = "memory:"

# Journals a backend keeps, bounded (the newest are kept).
REQUESTS = "requests"
FAULTS = "faults"
TOKENS = "tokens"
JOURNALS = (REQUESTS, FAULTS, TOKENS)


class StateUnavailable(Exception):
    """The shared state cannot be reached; `label` is its URL without credentials."""

    def __init__(self, label: str, detail: str = "") -> None:
        super().__init__(f"{label}: {detail}" if detail else label)
        self.label = label
        self.detail = detail


class StateUrlError(ValueError):
    """A --state URL that cannot be used."""


@dataclass(frozen=True)
class ControlDoc:
    """The control plane's shared settings, as one snapshot with its version."""

    version: int = 0
    clock_offset: float = 0.0
    clock_frozen_at: float | None = None
    rules: tuple[tuple[str, dict[str, Any]], ...] = ()  # (rule id, spec as posted), oldest first
    applied: dict[str, int] = field(default_factory=dict)
    scenarios: tuple[dict[str, Any], ...] = ()  # {"email", "test_id", "source"}, oldest first
    reset_epoch: int = 0


class SharedState(Protocol):
    shared: bool  # False: one process; the control plane keeps its state in the process
    label: str  # the URL without credentials, for messages and /readyz
    replica_id: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None:
        """Raise StateUnavailable unless the state answers."""

    async def join(self, seed: int | None) -> tuple[int, int | None]:
        """Register a replica: its number (1, 2, ... in the order they joined) and the shared
        seed (the first one given wins)."""
        ...

    # --- single-use tokens: one atomic operation per claim, kept until the token's expiry
    async def claim(self, jti: str, expires_at: float) -> bool: ...
    async def release(self, jti: str) -> None: ...
    async def claimed(self, jti: str) -> bool: ...

    # --- the control document: clock, fault rules and their counters, scenarios, reset epoch
    async def version(self) -> int: ...
    def version_now(self) -> int | None:
        """The control version when it can be read without waiting (in this process, or from
        a page shared with the host), else None: then version() asks."""
        ...

    async def control(self) -> ControlDoc: ...
    async def change_clock(
        self, wall: float, advance: float, freeze: bool | None
    ) -> tuple[float, float | None]:
        """Apply a clock change atomically; the new (offset, frozen_at)."""
        ...

    async def add_rules(self, specs: list[dict[str, Any]]) -> list[str]:
        """Store the (validated) rules; their ids, `fault_N`, N counting across replicas."""
        ...

    async def remove_rule(self, rule_id: str) -> bool: ...
    async def clear_rules(self) -> None: ...
    async def count_rule(self, rule_id: str, times: int | None) -> int:
        """Count one application of a rule atomically: the new count, or 0 when the rule is
        gone or already used `times` times (then it is not applied). The application that
        reaches `times` removes the rule."""
        ...

    async def add_scenario(self, entry: dict[str, Any]) -> None:
        """Post a scenario {"email", "test_id", "source"}; it replaces one of the same scope."""
        ...

    async def clear_scenarios(self) -> None: ...

    # --- journals and the live feed
    def append(self, journal: str, entry: dict[str, Any]) -> None:
        """Record an entry (a backend may batch the writes; see flush)."""
        ...

    def read_through(
        self, journal: str, read: Callable[[], list[dict[str, Any]]], clear: Callable[[], None]
    ) -> bool:
        """Offer this replica's own copy of `journal`: True if the backend reads it with
        `read` when someone asks (and empties it with `clear` on a reset), so that no entry
        need be appended (the local state, whose host asks each worker); False if append()
        must be told of each one."""
        ...

    async def flush(self) -> None: ...
    async def entries(self, journal: str) -> list[dict[str, Any]]:
        """The journal's entries, oldest first."""
        ...

    def publish(self, kind: str, data: dict[str, Any]) -> None: ...
    def feed_wanted(self) -> bool:
        """Whether an event published now could reach a reader (True when the backend cannot
        tell): the caller need not build one otherwise."""
        ...

    async def feed_position(self) -> str:
        """Where the feed is now: events() after it misses nothing published since."""
        ...

    def events(self, after: str | None = None) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
        """The feed after `after` (default: from now on): (event id, kind, data)."""
        ...

    # --- replicas
    async def heartbeat(self, report: dict[str, Any]) -> None:
        """Publish this replica's report (its live sessions...) for a few seconds."""
        ...

    async def replicas(self) -> dict[str, dict[str, Any]]:
        """Each live replica's last report, by replica id (this one included)."""
        ...

    async def reset(self) -> int:
        """Clear the shared rules, scenarios and journals; the new reset epoch, which every
        replica sees (and acts on: its sessions end) through control()."""
        ...


def redact(url: str) -> str:
    """The URL without its password, fit for a message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check_url(url: str) -> str:
    """`memory:` or `redis://HOST[:PORT][/DB]` (rediss:// for TLS, unix:// for a socket)."""
    if url in (MEMORY_URL, "memory", "memory://"):
        return MEMORY_URL
    if url.startswith("local:") and len(url) > len("local:"):
        return url  # a supervisor's workers (emulator/state/local.py)
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise StateUrlError(
            f"--state {redact(url)}: expected 'memory:' or redis://HOST:PORT/DB "
            "(or rediss://, unix://)"
        )
    try:
        port = parts.port
    except ValueError:
        raise StateUrlError(f"--state {redact(url)}: the port is not a number") from None
    if parts.scheme != "unix" and not parts.hostname:
        raise StateUrlError(f"--state {redact(url)}: no host")
    if parts.scheme == "unix" and not parts.path:
        raise StateUrlError(f"--state {redact(url)}: no socket path")
    if port == 0:
        raise StateUrlError(f"--state {redact(url)}: port 0")
    db = parts.path.strip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise StateUrlError(f"--state {redact(url)}: the database must be a number, not {db!r}")
    return url


STATE = web.AppKey("state", SharedState)
