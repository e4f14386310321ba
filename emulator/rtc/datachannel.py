"""The session's end of the `orga-realtime-client-events` data channel.

Server events go out as JSON (held until the channel opens), client events come in and are
handed to the session; both ways are logged, bounded, for inspection. A bad client message is
answered with an `error` event and the channel stays open.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from aiortc import RTCDataChannel

from emulator.ai import events
from emulator.identity.clock import Clock
from emulator.identity.ids import IdFactory

log = logging.getLogger(__name__)

# Data-channel messages kept per session, both ways, for inspection.
EVENT_LOG_SIZE = 256
# A logged message longer than this is cut: the log is for reading, not for replay.
EVENT_LOG_TEXT = 2048
# Server events waiting for the data channel to open.
PENDING_EVENTS = 64

EventHandler = Callable[[events.ClientEvent], None]
LogObserver = Callable[[dict[str, Any]], None]


class SessionChannel:
    def __init__(
        self,
        *,
        name: str,
        clock: Clock,
        ids: IdFactory,
        on_event: EventHandler,
        observe: LogObserver | None = None,
    ) -> None:
        self.log: deque[dict[str, Any]] = deque(maxlen=EVENT_LOG_SIZE)
        self.messages_in = 0
        self.messages_out = 0
        self._name = name  # for the log: the conversation id
        self._clock = clock
        self._ids = ids
        self._on_event = on_event
        self._observe = observe
        self._channel: RTCDataChannel | None = None
        self._pending: deque[dict[str, Any]] = deque(maxlen=PENDING_EVENTS)
        self._close_on_open = False
        self._shut = False

    def attach(self, channel: RTCDataChannel, greeting: Callable[[], list[dict[str, Any]]]) -> None:
        """The client's channel opened: greet, then send what waited."""
        if channel.label != events.CHANNEL_LABEL or self._channel is not None:
            return  # not ours to speak on; its messages are ignored
        self._channel = channel
        channel.on("message", self._on_message)
        for event in greeting():
            self.send(event)
        while self._pending:
            self.send(self._pending.popleft())
        if self._close_on_open:
            channel.close()

    def send(self, event: dict[str, Any]) -> None:
        """Send a server event (built by emulator.ai.events), or hold it until the channel opens."""
        channel = self._channel
        if channel is None or channel.readyState != "open":
            if not self._shut:
                self._pending.append(event)
            return
        self._record("out", event)
        channel.send(events.encode(event))

    def close(self) -> None:
        """Close the channel from the server's side (a fault), leaving the media up."""
        if self._channel is not None:
            self._channel.close()
        else:
            self._close_on_open = True  # the fault came before the channel did

    def shut(self) -> None:
        """The session ended: nothing more is queued."""
        self._shut = True
        self._pending.clear()

    def _on_message(self, message: str | bytes) -> None:
        try:
            event = events.parse_client_event(message)
            if len(message) <= EVENT_LOG_TEXT:
                self._record("in", {"event": event.name, "data": event.data})
            else:
                self._record("in", {"event": event.name, "raw": preview(message)})
            self._on_event(event)
        except events.EventError as exc:
            if exc.code in (events.INVALID_JSON, events.MESSAGE_TOO_LARGE, events.INVALID_EVENT):
                self._record("in", {"raw": preview(message)})
            self.send(events.error(self._ids.event_id(), exc))
        except Exception:
            # A bug of ours must not tear down aiortc's SCTP loop, which called us.
            log.exception("handling a data-channel message of %s", self._name)
            self.send(events.error(self._ids.event_id(), events.internal_error()))

    def _record(self, direction: str, event: dict[str, Any]) -> None:
        if direction == "in":
            self.messages_in += 1
        else:
            self.messages_out += 1
        entry = {"at": self._clock.time(), "direction": direction, "event": event}
        self.log.append(entry)
        if self._observe is not None:
            self._observe(entry)


def preview(message: str | bytes) -> str:
    if isinstance(message, bytes):
        return f"<{len(message)} bytes of binary>"
    return message if len(message) <= EVENT_LOG_TEXT else message[:EVENT_LOG_TEXT] + "…"
