"""The data channel's client messages, byte for byte: parse_client_event, session_update_changes,
item_text, and the exact `error` events (and other server events) the emulator sends back."""

from __future__ import annotations

import json
import math

import pytest

from emulator.ai import events
from emulator.ai.events import ClientEvent, EventError
from emulator.ai.params import SessionParams

UPDATE, CREATE = "session.update", "conversation.item.create"


def failure(call, *args) -> tuple[str, str | None, str]:
    with pytest.raises(EventError) as info:
        call(*args)
    return info.value.code, info.value.param, info.value.message


def parse_error(message: str | bytes) -> tuple[str, str | None, str]:
    return failure(events.parse_client_event, message)


def wire_error(message: str | bytes, event_id: str = "evt_1") -> str:
    """The exact text of the `error` event a bad message gets, as the data channel sends it."""
    try:
        event = events.parse_client_event(message)
        if event.name == UPDATE:
            events.session_update_changes(event)
        else:
            events.item_text(event)
    except EventError as exc:
        return events.encode(events.error(event_id, exc))
    raise AssertionError(f"{message!r} was accepted")


# --- well-formed messages -------------------------------------------------------------------

ACCEPTED = [
    ('{"event":"session.update","data":{"voice":"Ethan"}}', UPDATE, {"voice": "Ethan"}),
    ('{"event":"session.update"}', UPDATE, {}),
    ('{"event":"session.update","data":{}}', UPDATE, {}),
    (' \r\n\t{ "data" : { } , "event" : "session.update" }\n ', UPDATE, {}),
    ('{"event":"conversation.item.create","data":{"text":"hi"}}', CREATE, {"text": "hi"}),
    # What a browser's JSON.stringify sends: raw UTF-8, no \u escapes.
    ('{"event":"session.update","data":{"voice":"Sofía"}}', UPDATE, {"voice": "Sofía"}),
    ('{"event":"session.update","data":{"voice":"Sof\\u00eda"}}', UPDATE, {"voice": "Sofía"}),
    # Unknown top-level fields are ignored; unknown data fields are kept for the validator.
    ('{"event":"session.update","event_id":"x","type":"y","data":{"z":1}}', UPDATE, {"z": 1}),
    # Duplicate keys: the last one wins, as in JSON.parse.
    ('{"event":"bogus","event":"session.update"}', UPDATE, {}),
    ('{"event":"session.update","data":{"voice":"x","voice":"Max"}}', UPDATE, {"voice": "Max"}),
    ('{"event":"session.update","data":[],"data":{}}', UPDATE, {}),
]


@pytest.mark.parametrize(("message", "name", "data"), ACCEPTED)
def test_accepted(message, name, data):
    assert events.parse_client_event(message) == ClientEvent(name, data)


def test_non_finite_numbers_parse_and_stay_where_they_are():
    # Python's json (unlike JSON.parse) reads NaN and Infinity; they reach the validator.
    event = events.parse_client_event(
        '{"event":"session.update","data":{"a":NaN,"b":Infinity,"c":-Infinity,"d":1e999}}'
    )
    assert event.name == UPDATE
    assert math.isnan(event.data["a"])
    assert [event.data[k] for k in "bcd"] == [math.inf, -math.inf, math.inf]
    assert events.session_update_changes(event) == {}  # unknown keys: ignored


# --- refused messages: exact code, param and message ----------------------------------------

NOT_JSON = "The message is not valid JSON: "
REFUSED = [
    # Binary (PPID 53/57) is refused whatever it holds, valid JSON or not UTF-8 at all.
    (b'{"event":"session.update"}', "invalid_event", None, "binary"),
    (b"\xff\xfe\x00", "invalid_event", None, "binary"),
    (b"", "invalid_event", None, "binary"),
    ("", "invalid_json", None, NOT_JSON + "Expecting value: line 1 column 1 (char 0)"),
    (" ", "invalid_json", None, NOT_JSON + "Expecting value: line 1 column 2 (char 1)"),
    (
        "{",
        "invalid_json",
        None,
        NOT_JSON + "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    ),
    (
        '{"event":"session.update"',
        "invalid_json",
        None,
        NOT_JSON + "Expecting ',' delimiter: line 1 column 26 (char 25)",
    ),
    (
        "{'event':'session.update'}",
        "invalid_json",
        None,
        NOT_JSON + "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    ),
    (
        '{"event":"session.update",}',
        "invalid_json",
        None,
        NOT_JSON + "Expecting property name enclosed in double quotes: line 1 column 27 (char 26)",
    ),
    (
        '{"event":"session.update"} {}',
        "invalid_json",
        None,
        NOT_JSON + "Extra data: line 1 column 28 (char 27)",
    ),
    (
        '\ufeff{"event":"session.update"}',
        "invalid_json",
        None,
        NOT_JSON + "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)",
    ),
    (
        '{"event":"session.update","data":{"instructions":"a\nb"}}',
        "invalid_json",
        None,
        NOT_JSON + "Invalid control character at: line 1 column 52 (char 51)",
    ),
    ("\x00", "invalid_json", None, NOT_JSON + "Expecting value: line 1 column 1 (char 0)"),
    ("[]", "invalid_event", None, "A client event must be a JSON object."),
    ("null", "invalid_event", None, "A client event must be a JSON object."),
    ("NaN", "invalid_event", None, "A client event must be a JSON object."),
    ('"session.update"', "invalid_event", None, "A client event must be a JSON object."),
    (
        '[{"event":"session.update"}]',
        "invalid_event",
        None,
        "A client event must be a JSON object.",
    ),
    ("{}", "invalid_event", "event", "A client event needs a string 'event'."),
    ('{"event":null}', "invalid_event", "event", "A client event needs a string 'event'."),
    ('{"event":1}', "invalid_event", "event", "A client event needs a string 'event'."),
    (
        '{"event":["session.update"]}',
        "invalid_event",
        "event",
        "A client event needs a string 'event'.",
    ),
    # A server event's shape (`type`) is not a client event.
    (
        '{"type":"session.update"}',
        "invalid_event",
        "event",
        "A client event needs a string 'event'.",
    ),
    ('{"event":"response.create"}', "unknown_event", "event", "Unknown event 'response.create'."),
    ('{"event":"Session.Update"}', "unknown_event", "event", "Unknown event 'Session.Update'."),
    ('{"event":"session.update "}', "unknown_event", "event", "Unknown event 'session.update '."),
    ('{"event":""}', "unknown_event", "event", "Unknown event ''."),
    ('{"event":"s\\u00e9"}', "unknown_event", "event", "Unknown event 'sé'."),
    (
        '{"event":"session.update","data":null}',
        "invalid_event",
        "data",
        "'data' must be an object.",
    ),
    ('{"event":"session.update","data":[]}', "invalid_event", "data", "'data' must be an object."),
    ('{"event":"session.update","data":"x"}', "invalid_event", "data", "'data' must be an object."),
    (
        '{"event":"conversation.item.create","data":1}',
        "invalid_event",
        "data",
        "'data' must be an object.",
    ),
]


@pytest.mark.parametrize(("message", "code", "param", "text"), REFUSED)
def test_refused(message, code, param, text):
    if text == "binary":
        text = "Binary messages are not supported; send JSON text."
    assert parse_error(message) == (code, param, text)


# --- the size limit: 64 KiB of UTF-8 --------------------------------------------------------


def message_of_size(size: int, fill: str = "a") -> str:
    """A text message of exactly `size` UTF-8 bytes: `fill` as often as it fits, then ASCII."""
    head, tail = '{"event":"conversation.item.create","data":{"text":"', '"}}'
    room = size - len((head + tail).encode())
    count, rest = divmod(room, len(fill.encode()))
    message = head + fill * count + "a" * rest + tail
    assert len(message.encode()) == size
    return message


TOO_LARGE = ("message_too_large", None, "Messages are limited to 65536 bytes.")


def test_size_limit_is_in_bytes_and_inclusive():
    assert events.MAX_MESSAGE_BYTES == 65536
    assert events.parse_client_event(message_of_size(65536)).name == CREATE
    assert parse_error(message_of_size(65537)) == TOO_LARGE


@pytest.mark.parametrize("fill", ["é", "€", "😀"])
def test_size_limit_counts_utf8_bytes_not_characters(fill):
    fits, over = message_of_size(65536, fill), message_of_size(65537, fill)
    assert len(over) < 65536 / len(fill.encode()) + 60  # far fewer characters than bytes
    assert parse_error(over) == TOO_LARGE
    assert events.parse_client_event(fits).data["text"][0] == fill


def test_size_limit_comes_before_json():
    assert parse_error("{" * 70_000) == TOO_LARGE
    assert parse_error(b"x" * 70_000)[0] == "invalid_event"  # binary is refused first


def test_deeply_nested_json_is_invalid_json_not_a_crash():
    message = '{"event":"session.update","data":{"x":' + "[" * 20_000 + "]" * 20_000 + "}}"
    assert len(message.encode()) < events.MAX_MESSAGE_BYTES
    code, param, _ = parse_error(message)
    assert (code, param) == ("invalid_json", None)


def test_moderately_nested_json_is_fine():
    message = '{"event":"session.update","data":{"x":' + "[" * 500 + "]" * 500 + "}}"
    assert events.parse_client_event(message).data == {"x": json.loads("[" * 500 + "]" * 500)}


# --- session.update -------------------------------------------------------------------------


def update(data_json: str) -> ClientEvent:
    return events.parse_client_event('{"event":"session.update","data":' + data_json + "}")


@pytest.mark.parametrize(
    ("data", "changes"),
    [
        ("{}", {}),
        ('{"voice":"Ethan","temperature":1}', {"voice": "Ethan", "temperature": 1.0}),
        ('{"modalities":["video"],"history":false}', {"modalities": ("video",), "history": False}),
        ('{"voice":null,"model":null,"temperature":null}', {}),  # null: not given
        ('{"instructions":null}', {"instructions": None}),  # ...except for instructions
        ('{"instructions":"Be brief.","unknown":[1,2]}', {"instructions": "Be brief."}),
    ],
)
def test_session_update_changes(data, changes):
    assert events.session_update_changes(update(data)) == changes


@pytest.mark.parametrize(
    ("data", "param", "message"),
    [
        (
            '{"model":"gpt-4o"}',
            "data.model",
            "Invalid model 'gpt-4o'; expected one of: orga-1-beta.",
        ),
        (
            '{"temperature":NaN}',
            "data.temperature",
            "Invalid temperature nan; expected a number from 0 to 1.",
        ),
        (
            '{"temperature":Infinity}',
            "data.temperature",
            "Invalid temperature inf; expected a number from 0 to 1.",
        ),
        (
            '{"temperature":"0.5"}',
            "data.temperature",
            "Invalid temperature '0.5'; expected a number from 0 to 1.",
        ),
        (
            '{"temperature":true}',
            "data.temperature",
            "Invalid temperature True; expected a number from 0 to 1.",
        ),
        ('{"history":"false"}', "data.history", "Invalid value 'false'; expected true or false."),
        (
            '{"return_transcription":0}',
            "data.return_transcription",
            "Invalid value 0; expected true or false.",
        ),
        (
            '{"instructions":42}',
            "data.instructions",
            "Invalid instructions; expected a string or null.",
        ),
        # The first bad key in the validator's order (model, voice, ...), not the message's.
        (
            '{"history":1,"model":"x"}',
            "data.model",
            "Invalid model 'x'; expected one of: orga-1-beta.",
        ),
    ],
)
def test_session_update_refused(data, param, message):
    assert failure(events.session_update_changes, update(data)) == ("invalid_value", param, message)


def test_session_update_voice_error_lists_every_voice():
    code, param, message = failure(events.session_update_changes, update('{"voice":"sofía"}'))
    assert (code, param) == ("invalid_value", "data.voice")
    assert message.startswith("Invalid voice 'sofía'; expected one of: Sofía, Victoria, Ethan, ")
    assert message.endswith(", sage, shimmer.")


def test_session_update_applies_to_params():
    changes = events.session_update_changes(update('{"voice":"Chloé","modalities":[]}'))
    params = SessionParams().updated(changes)
    assert params.voice == "Chloé" and params.modalities == ()
    assert params.to_json()["modalities"] == []


# --- conversation.item.create ---------------------------------------------------------------


def create(data_json: str) -> ClientEvent:
    return events.parse_client_event(
        '{"event":"conversation.item.create","data":' + data_json + "}"
    )


EMPTY_TEXT = ("invalid_value", "data.text", "'data.text' must be a non-empty string.")


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ('{"text":"hi"}', "hi"),
        ('{"text":"  hi \\n"}', "  hi \n"),  # kept as sent
        ('{"text":"\\u200b"}', "\u200b"),  # a zero-width space is not whitespace to str.strip
        ('{"text":"\\ud83d\\ude00"}', "😀"),  # a surrogate pair, escaped
        ('{"text":"\\ud800"}', "\ud800"),  # a lone surrogate: Python keeps it
        ('{"text":"x","role":"user","type":"message"}', "x"),
    ],
)
def test_item_text(data, text):
    assert events.item_text(create(data)) == text


@pytest.mark.parametrize(
    "data",
    [
        "{}",
        '{"text":null}',
        '{"text":""}',
        '{"text":" \\t\\r\\n"}',
        '{"text":"\\u00a0"}',
        '{"text":1}',
        '{"text":["hi"]}',
        '{"text":{"text":"hi"}}',
    ],
)
def test_item_text_refused(data):
    assert failure(events.item_text, create(data)) == EMPTY_TEXT


def test_item_text_limit_is_in_characters():
    assert events.MAX_TEXT_CHARS == 4096
    assert events.item_text(create(json.dumps({"text": "😀" * 4096}))) == "😀" * 4096
    assert failure(events.item_text, create(json.dumps({"text": "a" * 4097}))) == (
        "invalid_value",
        "data.text",
        "'data.text' is limited to 4096 characters.",
    )


# --- the error event on the wire ------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        (
            b"\x00",
            '{"type":"error","event_id":"evt_1","error":{"type":"invalid_request_error",'
            '"code":"invalid_event","message":"Binary messages are not supported; send JSON text.",'
            '"param":null}}',
        ),
        (
            "nope",
            '{"type":"error","event_id":"evt_1","error":{"type":"invalid_request_error",'
            '"code":"invalid_json","message":"The message is not valid JSON: Expecting value: '
            'line 1 column 1 (char 0)","param":null}}',
        ),
        (
            '{"event":"x"}',
            '{"type":"error","event_id":"evt_1","error":{"type":"invalid_request_error",'
            '"code":"unknown_event","message":"Unknown event \'x\'.","param":"event"}}',
        ),
        (
            '{"event":"session.update","data":{"voice":"Ethan","temperature":2}}',
            '{"type":"error","event_id":"evt_1","error":{"type":"invalid_request_error",'
            '"code":"invalid_value","message":"Invalid temperature 2; expected a number from 0 '
            'to 1.","param":"data.temperature"}}',
        ),
        (
            '{"event":"conversation.item.create","data":{"text":" "}}',
            '{"type":"error","event_id":"evt_1","error":{"type":"invalid_request_error",'
            '"code":"invalid_value","message":"\'data.text\' must be a non-empty string.",'
            '"param":"data.text"}}',
        ),
    ],
)
def test_error_event_on_the_wire(message, wire):
    assert wire_error(message) == wire
    assert json.loads(wire)["error"]["code"] in (
        events.INVALID_EVENT,
        events.INVALID_JSON,
        events.UNKNOWN_EVENT,
        events.INVALID_VALUE,
    )


def test_error_event_for_a_voice_is_ascii_json():
    wire = wire_error('{"event":"session.update","data":{"voice":"Ren\\u00e9e"}}')
    assert wire.startswith(
        '{"type":"error","event_id":"evt_1","error":{"type":"invalid_request_error",'
        '"code":"invalid_value","message":"Invalid voice \'Ren\\u00e9e\'; expected one of: '
        "Sof\\u00eda, Victoria, Ethan, "
    )
    assert wire.endswith(', sage, shimmer.","param":"data.voice"}}')
    assert wire.isascii()


def test_internal_error_event():
    assert events.error("evt_9", events.internal_error()) == {
        "type": "error",
        "event_id": "evt_9",
        "error": {
            "type": "server_error",
            "code": "server_error",
            "message": "The emulator failed to handle this message; see its log.",
            "param": None,
        },
    }


# --- server events: the exact shapes --------------------------------------------------------

DEFAULT_SESSION = (
    '"model":"orga-1-beta","voice":"Sof\\u00eda","temperature":0.5,"instructions":null,'
    '"modalities":["audio","video"],"return_transcription":false,"history":true}'
)


def test_session_created_and_updated():
    params = SessionParams()
    assert events.encode(events.session_created("evt_1", "sess_1", params)) == (
        '{"type":"session.created","event_id":"evt_1","session":{"id":"sess_1",'
        '"object":"realtime.session",' + DEFAULT_SESSION + "}"
    )
    updated = events.session_updated("evt_2", "sess_1", params.updated({"voice": "Max"}))
    assert updated["type"] == "session.updated"
    assert updated["session"]["voice"] == "Max"
    assert list(updated) == ["type", "event_id", "session"]


def test_conversation_created():
    assert events.encode(events.conversation_created("evt_1", "conv_1")) == (
        '{"type":"conversation.created","event_id":"evt_1",'
        '"conversation":{"id":"conv_1","object":"realtime.conversation"}}'
    )


def test_input_audio_transcription_completed():
    assert events.encode(events.input_audio_transcription_completed("e", "item_1", "Hola")) == (
        '{"type":"conversation.item.input_audio_transcription.completed","event_id":"e",'
        '"item_id":"item_1","content_index":0,"transcript":"Hola"}'
    )


@pytest.mark.parametrize(
    ("audio", "content"),
    [
        (True, '{"type":"audio","transcript":"Hi \\ud83d\\ude00"}'),
        (False, '{"type":"text","text":"Hi \\ud83d\\ude00"}'),
    ],
)
def test_response_output_item_done(audio, content):
    event = events.response_output_item_done("e", "resp_1", "item_1", "Hi 😀", audio=audio)
    assert events.encode(event) == (
        '{"type":"response.output_item.done","event_id":"e","response_id":"resp_1",'
        '"output_index":0,"text":"Hi \\ud83d\\ude00","item":{"id":"item_1",'
        '"object":"realtime.item","type":"message","role":"assistant","status":"completed",'
        '"content":[' + content + "]}}"
    )


def test_encode_escapes_a_lone_surrogate():
    # Text input may hold one (JSON "\ud800"); the reply echoes it and must still encode.
    text = events.item_text(create('{"text":"\\ud800"}'))
    wire = events.encode(events.response_output_item_done("e", "r", "i", text, audio=False))
    assert '"text":"\\ud800"' in wire
    wire.encode("utf-8")  # ASCII only: no UnicodeEncodeError
