"""The data channel protocol (`orga-realtime-client-events`): server events and client events.

Server events are JSON objects keyed by `type`, as the SDKs dispatch them; client events are
keyed by `event`, with their payload in `data` (contract §5). Every server event carries an
`event_id`. This module owns the wire shapes; sessions only call these functions.

Beyond the contract (the SDKs ignore unknown types, so these are safe additions):
- `session.updated`: the full session after a valid `session.update`;
- `error`: `{"type": "error", "error": {"type", "code", "message", "param"}}` for a bad client
  message, which never closes the channel;
- client `conversation.item.create` with `{"data": {"text": "..."}}`: text input, answered with
  a `response.output_item.done` echoing it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from emulator.ai.params import ParamError, SessionParams, shown, validate_params

CHANNEL_LABEL = "orga-realtime-client-events"

# Server events of the contract.
SESSION_CREATED = "session.created"
CONVERSATION_CREATED = "conversation.created"
INPUT_AUDIO_TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"
RESPONSE_OUTPUT_ITEM_DONE = "response.output_item.done"
# Server events the emulator adds.
SESSION_UPDATED = "session.updated"
ERROR = "error"

# Client events.
SESSION_UPDATE = "session.update"
CONVERSATION_ITEM_CREATE = "conversation.item.create"
CLIENT_EVENTS = (SESSION_UPDATE, CONVERSATION_ITEM_CREATE)

MAX_MESSAGE_BYTES = 64 * 1024
MAX_TEXT_CHARS = 4096

# Error codes of the `error` event.
INVALID_REQUEST_ERROR = "invalid_request_error"
INVALID_JSON = "invalid_json"
INVALID_EVENT = "invalid_event"
UNKNOWN_EVENT = "unknown_event"
MESSAGE_TOO_LARGE = "message_too_large"
RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
INVALID_VALUE = "invalid_value"
SERVER_ERROR = "server_error"


class EventError(Exception):
    """A client message the server cannot act on; becomes an `error` event."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


@dataclass(frozen=True)
class ClientEvent:
    name: str
    data: dict[str, Any]


# --- client events --------------------------------------------------------------------------


def parse_client_event(message: str | bytes) -> ClientEvent:
    """Decode one data-channel message; raise EventError for anything unusable."""
    if isinstance(message, bytes):
        raise EventError(INVALID_EVENT, "Binary messages are not supported; send JSON text.")
    if len(message) > MAX_MESSAGE_BYTES:
        raise EventError(MESSAGE_TOO_LARGE, f"Messages are limited to {MAX_MESSAGE_BYTES} bytes.")
    try:
        size = len(message.encode())
    except UnicodeEncodeError:  # invalid UTF-8 on the wire, decoded with surrogateescape
        raise EventError(INVALID_EVENT, "The message is not valid UTF-8.") from None
    if size > MAX_MESSAGE_BYTES:
        raise EventError(MESSAGE_TOO_LARGE, f"Messages are limited to {MAX_MESSAGE_BYTES} bytes.")
    try:
        body = json.loads(message)
    except ValueError as exc:
        raise EventError(INVALID_JSON, f"The message is not valid JSON: {exc}") from None
    except RecursionError:  # nesting deeper than the parser's stack
        raise EventError(
            INVALID_JSON, "The message is not valid JSON: nested too deeply."
        ) from None
    if not isinstance(body, dict):
        raise EventError(INVALID_EVENT, "A client event must be a JSON object.")
    name = body.get("event")
    if not isinstance(name, str):
        raise EventError(INVALID_EVENT, "A client event needs a string 'event'.", "event")
    if name not in CLIENT_EVENTS:
        raise EventError(UNKNOWN_EVENT, f"Unknown event {shown(name)}.", "event")
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise EventError(INVALID_EVENT, "'data' must be an object.", "data")
    return ClientEvent(name, data)


def session_update_changes(event: ClientEvent) -> dict[str, Any]:
    """The valid changes of a `session.update`; EventError (naming the param) otherwise."""
    try:
        return validate_params(event.data, "data.")
    except ParamError as exc:
        raise EventError(INVALID_VALUE, exc.message, exc.param) from None


def item_text(event: ClientEvent) -> str:
    """The text of a `conversation.item.create`."""
    text = event.data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise EventError(INVALID_VALUE, "'data.text' must be a non-empty string.", "data.text")
    if len(text) > MAX_TEXT_CHARS:
        raise EventError(
            INVALID_VALUE, f"'data.text' is limited to {MAX_TEXT_CHARS} characters.", "data.text"
        )
    return text


# --- server events --------------------------------------------------------------------------


def session_object(session_id: str, params: SessionParams) -> dict[str, Any]:
    return {"id": session_id, "object": "realtime.session", **params.to_json()}


def session_created(event_id: str, session_id: str, params: SessionParams) -> dict[str, Any]:
    return {
        "type": SESSION_CREATED,
        "event_id": event_id,
        "session": session_object(session_id, params),
    }


def session_updated(event_id: str, session_id: str, params: SessionParams) -> dict[str, Any]:
    return {
        "type": SESSION_UPDATED,
        "event_id": event_id,
        "session": session_object(session_id, params),
    }


def conversation_created(event_id: str, conversation_id: str) -> dict[str, Any]:
    return {
        "type": CONVERSATION_CREATED,
        "event_id": event_id,
        "conversation": {"id": conversation_id, "object": "realtime.conversation"},
    }


def input_audio_transcription_completed(
    event_id: str, item_id: str, transcript: str
) -> dict[str, Any]:
    return {
        "type": INPUT_AUDIO_TRANSCRIPTION_COMPLETED,
        "event_id": event_id,
        "item_id": item_id,
        "content_index": 0,
        "transcript": transcript,
    }


def response_output_item_done(
    event_id: str, response_id: str, item_id: str, text: str, *, audio: bool
) -> dict[str, Any]:
    content_type = "audio" if audio else "text"
    return {
        "type": RESPONSE_OUTPUT_ITEM_DONE,
        "event_id": event_id,
        "response_id": response_id,
        "output_index": 0,
        # `text` at the top: what the SDKs read.
        "text": text,
        "item": {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": content_type, "transcript" if audio else "text": text}],
        },
    }


def backlog_full(limit: int) -> EventError:
    """The client sends faster than it reads: its message is not handled."""
    return EventError(
        RATE_LIMIT_EXCEEDED,
        f"More than {limit} bytes of events wait for the client to read them; "
        "this message was not handled.",
    )


def internal_error() -> EventError:
    return EventError(SERVER_ERROR, "The emulator failed to handle this message; see its log.")


def error(event_id: str, exc: EventError) -> dict[str, Any]:
    return {
        "type": ERROR,
        "event_id": event_id,
        "error": {
            "type": SERVER_ERROR if exc.code == SERVER_ERROR else INVALID_REQUEST_ERROR,
            "code": exc.code,
            "message": exc.message,
            "param": exc.param,
        },
    }


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))
