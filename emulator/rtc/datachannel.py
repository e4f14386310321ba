"""The session's end of the `orga-realtime-client-events` data channel.

Server events go out as JSON (held until the channel opens), client events come in and are
handed to the session; both ways are logged, bounded, for inspection. A bad client message is
answered with an `error` event and the channel stays open.

What waits to be sent is bounded too. aiortc queues whatever it is given, so a client that
sends faster than it reads (37 bytes in, a whole session echoed out) would grow the queue
without end: past BACKLOG_BYTES a client message is refused with a small `error`, and past
BACKLOG_MAX_BYTES a server event is dropped and counted.
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
from emulator.rtc.inspection import LOG_TEXT, RecordLog, clip

log = logging.getLogger(__name__)

# Data-channel messages kept per session, both ways, for inspection: the newest 256, within
# 256 KiB of JSON (with strings cut at LOG_TEXT, an entry is a few KiB at most).
EVENT_LOG_SIZE = 256
EVENT_LOG_BYTES = 256 * 1024
# A logged client message longer than this is kept as text, cut.
EVENT_LOG_TEXT = LOG_TEXT
# Server events waiting for the data channel to open.
PENDING_EVENTS = 64
# Bytes of server events aiortc may hold unsent: past the first, client messages are refused
# (an `error` answers each); past the second, server events are dropped. 1 MiB is some twenty
# of the largest session.updated, far more than a client that reads ever leaves waiting.
BACKLOG_BYTES = 1024 * 1024
BACKLOG_MAX_BYTES = 2 * BACKLOG_BYTES

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
        self.log = RecordLog(EVENT_LOG_SIZE, EVENT_LOG_BYTES)
        self.messages_in = 0
        self.messages_out = 0
        self.refused = 0  # client messages not handled: the backlog was full
        self.dropped = 0  # server events not sent: the backlog was full
        self.backlog_peak = 0  # the most bytes aiortc held unsent
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
        text = events.encode(event)
        backlog = channel.bufferedAmount
        if backlog + len(text) > BACKLOG_MAX_BYTES:
            self.dropped += 1
            return
        try:
            channel.send(text)
        except ValueError:  # larger than the client said it accepts (a scenario's long text)
            log.warning("%s: a %d-byte event is too large for the client", self._name, len(text))
            self.dropped += 1
            return
        self._record("out", clip(event))
        # encode() emits ASCII: its characters are the bytes aiortc counts.
        self.backlog_peak = max(self.backlog_peak, backlog + len(text))

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
            channel = self._channel
            if channel is not None and channel.bufferedAmount > BACKLOG_BYTES:
                self.refused += 1
                self._record("in", {"raw": preview(message)})
                self.send(events.error(self._ids.event_id(), events.backlog_full(BACKLOG_BYTES)))
                return
            event = events.parse_client_event(message)
            if len(message) <= EVENT_LOG_TEXT:
                self._record("in", {"event": event.name, "data": clip(event.data)})
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
