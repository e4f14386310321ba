"""Bounded journals of what the emulator did: API requests, tokens, applied faults.

Recording costs one append; filtering, and building the dicts the control plane answers with,
happen when someone reads. The request journal, written on every API request, keeps tuples.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from emulator.identity.clock import Clock

T = TypeVar("T")

REQUESTS_KEPT = 1000
TOKENS_KEPT = 1000
FAULTS_KEPT = 500
# Request paths are journalled up to this many characters: a request line may reach 8 KB, and
# a journal of whole ones would hold megabytes.
PATH_KEPT = 256


def short_path(path: str) -> str:
    return path if len(path) <= PATH_KEPT else path[:PATH_KEPT] + "…"


def matching(
    entries: Iterable[dict[str, Any]], filters: dict[str, str | None]
) -> list[dict[str, Any]]:
    """The entries whose every filtered field (a None filter matches all) has that value."""
    return [
        e
        for e in entries
        if all(value is None or e.get(key) == value for key, value in filters.items())
    ]


class Journal:
    """A bounded list of entries, each stamped with the emulator's clock: the faults applied
    (which rule, to what: a request, a session, a TURN request)."""

    def __init__(self, clock: Clock, size: int) -> None:
        self._clock = clock
        self.entries: deque[dict[str, Any]] = deque(maxlen=size)
        # With shared state: told of every entry, for the journal every replica reads.
        self.sink: Callable[[dict[str, Any]], None] | None = None

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        entry = {"at": self._clock.time(), **entry}
        self.entries.append(entry)
        if self.sink is not None:
            self.sink(entry)
        return entry

    def select(
        self, entries: Iterable[dict[str, Any]] | None = None, **filters: str | None
    ) -> list[dict[str, Any]]:
        """This journal's entries (or the shared ones given) that match the filters."""
        return matching(self.entries if entries is None else entries, filters)

    def clear(self) -> None:
        self.entries.clear()


# A request journal entry's fields; `at` is the emulator's clock when it was answered.
REQUEST_FIELDS = (
    "at",
    "request_id",
    "method",
    "path",
    "status",
    "latency_ms",
    "conversation_id",
    "test_id",
    "fault",
)
RequestRow = tuple[float, str, str, str, int, float, str | None, str | None, str | None]


class Kept(Generic[T]):
    """The last `size` entries of a journal written on every request, oldest first, and with
    shared state a sink told of each as an event. Without a sink, `append` is the deque's own:
    one call in C per request, where a method of ours cost a request measurably."""

    def __init__(self, size: int, event: Callable[[T], dict[str, Any]]) -> None:
        self._kept: deque[T] = deque(maxlen=size)
        self._event = event
        self._sink: Callable[[dict[str, Any]], None] | None = None
        # Whoever keeps it reads it after the sink is set.
        self.append: Callable[[T], None] = self._kept.append

    @property
    def sink(self) -> Callable[[dict[str, Any]], None] | None:
        """With shared state: told of every entry, for the journal every replica reads."""
        return self._sink

    @sink.setter
    def sink(self, sink: Callable[[dict[str, Any]], None] | None) -> None:
        self._sink = sink
        self.append = self._kept.append if sink is None else self._append_and_tell

    def _append_and_tell(self, entry: T) -> None:
        self._kept.append(entry)
        if self._sink is not None:
            self._sink(self._event(entry))


class RequestJournal(Kept[RequestRow]):
    """The API's requests, each kept as a RequestRow (a tuple costs a request less than a dict)
    and read as a dict, its latency rounded to 0.1 ms."""

    def __init__(self, size: int) -> None:
        super().__init__(size, as_entry)

    def select(
        self, entries: Iterable[dict[str, Any]] | None = None, **filters: str | None
    ) -> list[dict[str, Any]]:
        """This journal's entries (or the shared ones given) that match the filters."""
        return matching(map(as_entry, self._kept) if entries is None else entries, filters)

    def clear(self) -> None:
        self._kept.clear()


def as_entry(row: RequestRow) -> dict[str, Any]:
    """The row as the control plane answers it (REQUEST_FIELDS, in order). Written out, not
    zipped: with shared state every API request builds it, for the journal and the feed."""
    at, request_id, method, path, status, latency_ms, conversation_id, test_id, fault = row
    return {
        "at": at,
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": status,
        "latency_ms": round(latency_ms, 1),
        "conversation_id": conversation_id,
        "test_id": test_id,
        "fault": fault,
    }


def _minted(claims: dict[str, Any]) -> dict[str, Any]:
    return {"minted": claims}  # the event replayed() reads


class TokenJournal(Kept[dict[str, Any]]):
    """Tokens minted, and what became of them: consumed by /calls, expired, or still live.

    A mint appends the token's claims (never changed once minted; or a replica's record of
    them: the same names) and nothing more; the records the control plane answers with are
    built when read. The status is worked out then too, against the emulator's clock, so
    advancing the clock shows tokens expiring without anything being rewritten. The sink is
    told of each mint and consumption, as an event.
    """

    def __init__(self, clock: Clock, size: int = TOKENS_KEPT) -> None:
        super().__init__(size, _minted)
        self._clock = clock
        self._size = size
        # jti -> (at, conversation_id), for the tokens kept and, until pruned, a few others.
        self._consumed: dict[str, tuple[float, str]] = {}

    def consumed(self, jti: str, conversation_id: str, at: float | None = None) -> None:
        at = self._clock.time() if at is None else at
        consumed = self._consumed
        consumed[jti] = (at, conversation_id)
        if len(consumed) > 2 * self._size:  # forget those of tokens no longer kept
            kept = {claims["jti"] for claims in self._kept}
            for gone in [known for known in consumed if known not in kept]:
                del consumed[gone]
        if self._sink is not None:
            self._sink({"consumed": jti, "conversation_id": conversation_id, "at": at})

    def _record(self, jti: str, claims: dict[str, Any]) -> dict[str, Any]:
        consumed_at, conversation_id = self._consumed.get(jti, (None, None))
        return {
            "jti": jti,
            "email": claims.get("email"),
            "sub": claims.get("sub"),
            "test_id": claims.get("test_id"),
            "iat": claims.get("iat"),
            "exp": claims.get("exp"),
            "consumed_at": consumed_at,
            "conversation_id": conversation_id,
        }

    def replayed(self, events: Iterable[dict[str, Any]]) -> TokenJournal:
        """A journal rebuilt from the shared events of every replica."""
        journal = TokenJournal(self._clock, self._size)
        for event in events:
            if "minted" in event:
                journal.append(event["minted"])
            elif "consumed" in event:
                journal.consumed(event["consumed"], event["conversation_id"], event["at"])
        return journal

    def status(self, token: dict[str, Any]) -> str:
        if token["consumed_at"] is not None:
            return "consumed"
        return "expired" if self._clock.time() > token["exp"] else "live"

    def select(self, status: str | None = None, test_id: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for claims in self._kept:
            token = self._record(claims["jti"], claims)
            state = self.status(token)
            if (status is None or state == status) and (
                test_id is None or token["test_id"] == test_id
            ):
                out.append({**token, "status": state})
        return out

    def clear(self) -> None:
        self._kept.clear()
        self._consumed.clear()
