"""The one view of a session that the control plane reads: a JSON description while it lives,
kept as a SessionRecord once it has ended, and a one-line summary of either.

Everything kept for inspection is bounded in bytes as well as in count, whatever a client sends:
a session's logs keep their newest entries (RecordLog), long strings in them are cut (clip), and
the ended sessions kept are capped in total (EndedSessions). Sizes are those of the JSON the
control plane serves, so the caps are what a reader of /_emulator/sessions sees.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from emulator.rtc.lifecycle import EndReason

SUMMARY_KEYS = ("conversation_id", "state", "end_reason", "started_at", "ended_at", "turns")

# A string longer than this is cut in a log entry: the logs are for reading, not for replay.
LOG_TEXT = 2048
# Deeper than this, a logged value is replaced by "…" (a client's JSON may nest a thousand deep).
LOG_DEPTH = 16
CUT = "…"


def json_size(value: Any) -> int:
    """Bytes of `value` as the control plane serves it (json.dumps' defaults, as aiohttp's)."""
    return len(json.dumps(value, default=str))


def clip(value: Any, text: int = LOG_TEXT, depth: int = LOG_DEPTH) -> Any:
    """`value` with every string cut to `text` characters and nesting cut at `depth`."""
    if isinstance(value, str):
        return value if len(value) <= text else value[:text] + CUT
    if depth <= 0 and isinstance(value, dict | list):
        return CUT
    if isinstance(value, dict):
        return {clip(k, text, 0): clip(v, text, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clip(v, text, depth - 1) for v in value]
    return value


class RecordLog:
    """A session's log for inspection, newest last: at most `entries` entries and `max_bytes`
    bytes of JSON. The oldest go first to make room; `dropped` counts them."""

    def __init__(self, entries: int, max_bytes: int) -> None:
        self.max_entries = entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.dropped = 0
        self._items: deque[tuple[dict[str, Any], int]] = deque()

    def append(self, entry: dict[str, Any]) -> None:
        size = json_size(entry)
        self._items.append((entry, size))
        self.bytes += size
        while self._items and (len(self._items) > self.max_entries or self.bytes > self.max_bytes):
            _, gone = self._items.popleft()
            self.bytes -= gone
            self.dropped += 1

    def entries(self) -> list[dict[str, Any]]:
        return [entry for entry, _ in self._items]

    def __len__(self) -> int:
        return len(self._items)


def summarize(description: dict[str, Any]) -> dict[str, Any]:
    """One line of a session list: no SDP, no event log."""
    return {
        **{key: description.get(key) for key in SUMMARY_KEYS},
        "email": description["token"].get("email"),
        "test_id": description["token"].get("test_id"),
        "faults": len(description["faults"]),
    }


@dataclass(frozen=True)
class SessionRecord:
    """What the registry keeps of an ended session: its description, none of its media objects."""

    conversation_id: str
    end_reason: EndReason
    duration: float
    description: dict[str, Any]
    size: int  # bytes of the description as JSON

    def describe(self) -> dict[str, Any]:
        return self.description

    def summary(self) -> dict[str, Any]:
        return summarize(self.description)


class EndedSessions:
    """The records of recently ended sessions, oldest first: at most `count` of them and
    `max_bytes` bytes of JSON in all. The oldest go first; `dropped` counts them."""

    def __init__(self, count: int, max_bytes: int) -> None:
        self.max_count = count
        self.max_bytes = max_bytes
        self.bytes = 0
        self.dropped = 0
        self._records: deque[SessionRecord] = deque()

    def append(self, record: SessionRecord) -> None:
        self._records.append(record)
        self.bytes += record.size
        while self._records and (
            len(self._records) > self.max_count or self.bytes > self.max_bytes
        ):
            self.bytes -= self._records.popleft().size
            self.dropped += 1

    def get(self, conversation_id: str) -> SessionRecord | None:
        return next((r for r in self._records if r.conversation_id == conversation_id), None)

    def clear(self) -> None:
        self._records.clear()
        self.bytes = 0

    def __iter__(self) -> Iterator[SessionRecord]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)
