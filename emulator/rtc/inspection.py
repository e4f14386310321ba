"""The one view of a session that the control plane reads: a JSON description while it lives,
kept as a SessionRecord once it has ended, and a one-line summary of either."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.rtc.lifecycle import EndReason

SUMMARY_KEYS = ("conversation_id", "state", "end_reason", "started_at", "ended_at", "turns")


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

    def describe(self) -> dict[str, Any]:
        return self.description

    def summary(self) -> dict[str, Any]:
        return summarize(self.description)
