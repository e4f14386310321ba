"""Session parameters and voices: validate_params on exact JSON values, SessionParams' JSON."""

from __future__ import annotations

import json
import math
import unicodedata

import pytest

from emulator.ai import voices
from emulator.ai.params import ParamError, SessionParams, validate_params


def refused(data, prefix: str = "params.") -> tuple[str, str]:
    with pytest.raises(ParamError) as info:
        validate_params(data, prefix)
    assert str(info.value) == info.value.message
    return info.value.param, info.value.message


def from_json(text: str) -> dict:
    """What a client's JSON body decodes to (bytes, as aiohttp reads them)."""
    return json.loads(text.encode())


# --- defaults -------------------------------------------------------------------------------


def test_defaults_are_the_sdk_defaults():
    assert SessionParams().to_json() == {
        "model": "orga-1-beta",
        "voice": "Sofía",
        "temperature": 0.5,
        "instructions": None,
        "modalities": ["audio", "video"],
        "return_transcription": False,
        "history": True,
    }
    assert json.dumps(SessionParams().to_json(), separators=(",", ":")) == (
        '{"model":"orga-1-beta","voice":"Sof\\u00eda","temperature":0.5,"instructions":null,'
        '"modalities":["audio","video"],"return_transcription":false,"history":true}'
    )


def test_updated_returns_a_new_value():
    base = SessionParams()
    changed = base.updated({"voice": "Max", "modalities": ("audio",)})
    assert (base.voice, changed.voice) == ("Sofía", "Max")
    assert changed.to_json()["modalities"] == ["audio"]
    assert changed == SessionParams(voice="Max", modalities=("audio",))


# --- accepted values ------------------------------------------------------------------------

ACCEPTED = [
    ("{}", {}),
    ('{"model":"orga-1-beta"}', {"model": "orga-1-beta"}),
    ('{"voice":"Ethan"}', {"voice": "Ethan"}),
    ('{"voice":"alloy"}', {"voice": "alloy"}),  # a 1.0.x SDK's default
    ('{"voice":"Sof\\u00eda"}', {"voice": "Sofía"}),  # escaped or raw: the same string
    ('{"voice":"Sofía"}', {"voice": "Sofía"}),
    ('{"voice":"Chloe"}', {"voice": "Chloe"}),
    ('{"voice":"Chloé"}', {"voice": "Chloé"}),
    ('{"temperature":0}', {"temperature": 0.0}),
    ('{"temperature":1}', {"temperature": 1.0}),
    ('{"temperature":0.7}', {"temperature": 0.7}),
    ('{"temperature":1.0}', {"temperature": 1.0}),
    ('{"temperature":-0.0}', {"temperature": -0.0}),
    ('{"temperature":1e-300}', {"temperature": 1e-300}),
    ('{"instructions":""}', {"instructions": ""}),
    ('{"instructions":null}', {"instructions": None}),
    ('{"instructions":"Sé breve.\\n"}', {"instructions": "Sé breve.\n"}),
    ('{"modalities":[]}', {"modalities": ()}),
    ('{"modalities":["video","audio"]}', {"modalities": ("video", "audio")}),
    (
        '{"return_transcription":true,"history":false}',
        {"return_transcription": True, "history": False},
    ),
    # null means "not given" for everything but instructions.
    ('{"model":null,"voice":null,"temperature":null,"modalities":null,"history":null}', {}),
    # Unknown keys are ignored, whatever they hold.
    ('{"tools":[{"x":NaN}],"Voice":"nope","voice ":"nope"}', {}),
]


@pytest.mark.parametrize(("body", "changes"), ACCEPTED)
def test_accepted(body, changes):
    result = validate_params(from_json(body), "params.")
    assert result == changes
    assert {k: type(v) for k, v in result.items()} == {k: type(v) for k, v in changes.items()}


def test_temperature_int_becomes_float():
    assert type(validate_params({"temperature": 1}, "")["temperature"]) is float


def test_changes_come_in_the_validator_order():
    body = from_json('{"history":false,"voice":"Max","model":"orga-1-beta"}')
    assert list(validate_params(body, "params.")) == ["model", "voice", "history"]


# --- refused values -------------------------------------------------------------------------

MODALITIES = "expected a list of 'audio', 'video'."
REFUSED = [
    ('{"model":"orga-1"}', "params.model", "Invalid model 'orga-1'; expected one of: orga-1-beta."),
    (
        '{"model":"ORGA-1-BETA"}',
        "params.model",
        "Invalid model 'ORGA-1-BETA'; expected one of: orga-1-beta.",
    ),
    ('{"model":1}', "params.model", "Invalid model 1; expected one of: orga-1-beta."),
    (
        '{"model":["orga-1-beta"]}',
        "params.model",
        "Invalid model ['orga-1-beta']; expected one of: orga-1-beta.",
    ),
    (
        '{"temperature":1.0000001}',
        "params.temperature",
        "Invalid temperature 1.0000001; expected a number from 0 to 1.",
    ),
    (
        '{"temperature":-0.1}',
        "params.temperature",
        "Invalid temperature -0.1; expected a number from 0 to 1.",
    ),
    (
        '{"temperature":2}',
        "params.temperature",
        "Invalid temperature 2; expected a number from 0 to 1.",
    ),
    (
        '{"temperature":NaN}',
        "params.temperature",
        "Invalid temperature nan; expected a number from 0 to 1.",
    ),
    (
        '{"temperature":-Infinity}',
        "params.temperature",
        "Invalid temperature -inf; expected a number from 0 to 1.",
    ),
    (
        '{"temperature":1e400}',
        "params.temperature",
        "Invalid temperature inf; expected a number from 0 to 1.",
    ),
    (
        '{"temperature":false}',
        "params.temperature",
        "Invalid temperature False; expected a number from 0 to 1.",
    ),
    (
        '{"temperature":"1"}',
        "params.temperature",
        "Invalid temperature '1'; expected a number from 0 to 1.",
    ),
    (
        '{"temperature":[0.5]}',
        "params.temperature",
        "Invalid temperature [0.5]; expected a number from 0 to 1.",
    ),
    (
        '{"instructions":1}',
        "params.instructions",
        "Invalid instructions; expected a string or null.",
    ),
    (
        '{"instructions":["a"]}',
        "params.instructions",
        "Invalid instructions; expected a string or null.",
    ),
    (
        '{"instructions":false}',
        "params.instructions",
        "Invalid instructions; expected a string or null.",
    ),
    ('{"modalities":"audio"}', "params.modalities", "Invalid modalities 'audio'; " + MODALITIES),
    (
        '{"modalities":{"audio":1}}',
        "params.modalities",
        "Invalid modalities {'audio': 1}; " + MODALITIES,
    ),
    ('{"modalities":["text"]}', "params.modalities", "Invalid modalities ['text']; " + MODALITIES),
    (
        '{"modalities":["Audio"]}',
        "params.modalities",
        "Invalid modalities ['Audio']; " + MODALITIES,
    ),
    ('{"modalities":[null]}', "params.modalities", "Invalid modalities [None]; " + MODALITIES),
    (
        '{"modalities":[["audio"]]}',
        "params.modalities",
        "Invalid modalities [['audio']]; " + MODALITIES,
    ),
    (
        '{"modalities":["audio","audio"]}',
        "params.modalities",
        "Invalid modalities ['audio', 'audio']; each may appear once.",
    ),
    ('{"history":0}', "params.history", "Invalid value 0; expected true or false."),
    ('{"history":"true"}', "params.history", "Invalid value 'true'; expected true or false."),
    (
        '{"return_transcription":1}',
        "params.return_transcription",
        "Invalid value 1; expected true or false.",
    ),
    (
        '{"return_transcription":[]}',
        "params.return_transcription",
        "Invalid value []; expected true or false.",
    ),
]


@pytest.mark.parametrize(("body", "param", "message"), REFUSED)
def test_refused(body, param, message):
    assert refused(from_json(body)) == (param, message)


def test_first_bad_key_in_validator_order_is_named():
    body = from_json('{"history":"x","temperature":9,"voice":"x","model":"x"}')
    assert refused(body)[0] == "params.model"
    del body["model"]
    assert refused(body)[0] == "params.voice"
    del body["voice"]
    assert refused(body)[0] == "params.temperature"
    del body["temperature"]
    assert refused(body)[0] == "params.history"


@pytest.mark.parametrize(
    ("data", "prefix", "param"),
    [
        ([], "params.", "params"),
        ("voice", "data.", "data"),
        (None, "params.", "params"),
        (1, "", ""),
    ],
)
def test_not_an_object(data, prefix, param):
    assert refused(data, prefix) == (param, "Expected an object.")


def test_prefix_names_the_param():
    assert refused({"voice": "x"}, "data.")[0] == "data.voice"
    assert refused({"voice": "x"}, "")[0] == "voice"


def test_non_finite_temperatures_all_refused():
    for value in (math.nan, math.inf, -math.inf):
        assert refused({"temperature": value})[0] == "params.temperature"


# --- voices: exact Unicode ------------------------------------------------------------------


def test_catalogue():
    assert len(voices.CURRENT) == 50
    assert len(voices.LEGACY) == 10
    assert len(voices.NAMES) == 60  # no duplicates
    assert voices.DEFAULT == "Sofía" == voices.CURRENT[0].name
    names = voices.accepted_names()
    assert names.startswith("Sofía, Victoria, Ethan, Juan, Chloe, ")
    assert names.endswith(
        ", Paola, alloy, ash, ballad, coral, echo, fable, onyx, nova, sage, shimmer"
    )
    assert names.count(", ") == 59
    assert voices.LEGACY[0].to_json() == {
        "name": "alloy",
        "description": "Voice name of the 1.0.x SDKs",
        "gender": "unspecified",
        "language": "English",
        "legacy": True,
    }


def test_catalogue_names_are_nfc():
    for name in voices.NAMES:
        assert unicodedata.normalize("NFC", name) == name


@pytest.mark.parametrize("voice", [v.name for v in voices.CATALOGUE])
def test_every_voice_is_accepted(voice):
    assert voices.is_voice(voice)
    assert validate_params({"voice": voice}, "params.") == {"voice": voice}
    # and as a client sends it: UTF-8 bytes of JSON, raw or \u-escaped
    assert validate_params(json.loads(json.dumps({"voice": voice}).encode()), "") == {
        "voice": voice
    }
    assert validate_params(
        json.loads(json.dumps({"voice": voice}, ensure_ascii=False).encode()), ""
    ) == {"voice": voice}


@pytest.mark.parametrize(
    "voice",
    [
        "Sofi\u0301a",  # NFD: "i" + combining acute, what some macOS input produces
        "Sofia",
        "sofía",
        "SOFÍA",
        " Sofía",
        "Sofía ",
        "Chloe\u0301",
        "Alloy",
        "",
        "Sofía\x00",
    ],
)
def test_near_miss_voices_are_refused(voice):
    assert not voices.is_voice(voice)
    param, message = refused({"voice": voice})
    assert param == "params.voice"
    assert message == f"Invalid voice {voice!r}; expected one of: {voices.accepted_names()}."


@pytest.mark.parametrize("value", [None, 1, b"Ethan", ["Ethan"], {"name": "Ethan"}])
def test_is_voice_on_non_strings(value):
    assert voices.is_voice(value) is False


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1, "1"), (["Ethan"], "['Ethan']"), ({"name": "Ethan"}, "{'name': 'Ethan'}")],
)
def test_non_string_voice_message(value, shown):
    assert refused({"voice": value}) == (
        "params.voice",
        f"Invalid voice {shown}; expected one of: {voices.accepted_names()}.",
    )
