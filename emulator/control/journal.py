"""Bounded journals of what the emulator did: API requests, tokens, applied faults.

Each record is a dict appended to a deque (or an ordered dict for tokens), so recording costs
one append per request; filtering happens when someone reads.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any

from emulator.identity.clock import Clock

REQUESTS_KEPT = 1000
TOKENS_KEPT = 1000
FAULTS_KEPT = 500


def _matches(entry: dict[str, Any], filters: dict[str, str | None]) -> bool:
    return all(value is None or entry.get(key) == value for key, value in filters.items())


class Journal:
    """A bounded list of entries, each stamped with the emulator's clock: the API's requests
    (method, path, status, latency, conversation_id, test id, fault), or the faults applied
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
        source = self.entries if entries is None else entries
        return [e for e in source if _matches(e, filters)]

    def clear(self) -> None:
        self.entries.clear()


class TokenJournal:
    """Tokens minted, and what became of them: consumed by /calls, expired, or still live.

    The status is worked out when read, against the emulator's clock, so advancing the clock
    shows tokens expiring without anything being rewritten.
    """

    def __init__(self, clock: Clock, size: int = TOKENS_KEPT) -> None:
        self._clock = clock
        self._size = size
        self._tokens: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # With shared state: told of each mint and consumption, as an event.
        self.sink: Callable[[dict[str, Any]], None] | None = None

    def minted(self, claims: dict[str, Any]) -> None:
        record = self._tokens[claims["jti"]] = {
            "jti": claims["jti"],
            "email": claims.get("email"),
            "sub": claims.get("sub"),
            "test_id": claims.get("test_id"),
            "iat": claims.get("iat"),
            "exp": claims.get("exp"),
            "consumed_at": None,
            "conversation_id": None,
        }
        while len(self._tokens) > self._size:
            self._tokens.popitem(last=False)
        if self.sink is not None:
            self.sink({"minted": record})

    def consumed(self, jti: str, conversation_id: str, at: float | None = None) -> None:
        at = self._clock.time() if at is None else at
        token = self._tokens.get(jti)
        if token is not None:
            token["consumed_at"] = at
            token["conversation_id"] = conversation_id
        if self.sink is not None:
            self.sink({"consumed": jti, "conversation_id": conversation_id, "at": at})

    def replayed(self, events: Iterable[dict[str, Any]]) -> TokenJournal:
        """A journal rebuilt from the shared events of every replica."""
        journal = TokenJournal(self._clock, self._size)
        for event in events:
            if "minted" in event:
                journal._tokens[event["minted"]["jti"]] = dict(event["minted"])
            elif "consumed" in event:
                journal.consumed(event["consumed"], event["conversation_id"], event["at"])
        while len(journal._tokens) > self._size:
            journal._tokens.popitem(last=False)
        return journal

    def status(self, token: dict[str, Any]) -> str:
        if token["consumed_at"] is not None:
            return "consumed"
        return "expired" if self._clock.time() > token["exp"] else "live"

    def select(self, status: str | None = None, test_id: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for token in self._tokens.values():
            state = self.status(token)
            if (status is None or state == status) and (
                test_id is None or token["test_id"] == test_id
            ):
                out.append({**token, "status": state})
        return out

    def clear(self) -> None:
        self._tokens.clear()
