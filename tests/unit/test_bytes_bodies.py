"""HTTP request bodies byte for byte: read_json on raw bytes, and parse_call_request's exact
422 (FastAPI shape) and 400 answers for POST /v1/realtime/calls."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from emulator.ai.params import SessionParams
from emulator.http.bodies import CallRequest, parse_call_request, read_json
from emulator.http.errors import ApiError
from emulator.rtc.sdp import check_offer_sdp

OFFERS = Path(__file__).resolve().parents[2] / "fixtures" / "offers"


class RawBody:
    """All read_json asks of a request: its body, as aiohttp's request.read() returns it."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    async def read(self) -> bytes:
        return self.raw


async def read(raw: bytes, **kwargs):
    return await read_json(RawBody(raw), **kwargs)  # type: ignore[arg-type]


async def read_error(raw: bytes, **kwargs) -> tuple[int, dict]:
    with pytest.raises(ApiError) as info:
        await read(raw, **kwargs)
    return info.value.status, info.value.body


def json_invalid(msg: str) -> tuple[int, dict]:
    return 422, {"detail": [{"loc": ["body", 0], "msg": msg, "type": "json_invalid"}]}


MISSING_BODY = (422, {"detail": [{"loc": ["body"], "msg": "Field required", "type": "missing"}]})


# --- read_json ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"a":1}', {"a": 1}),
        (b' \r\n\t{"a" : [1, 2.5, true, null]}\n', {"a": [1, 2.5, True, None]}),
        (b"[]", []),
        (b"1", 1),
        (b'"x"', "x"),
        (b'{"a":1,"a":2}', {"a": 2}),  # duplicate keys: the last wins
        (b'{"v":"Sof\xc3\xada"}', {"v": "Sofía"}),
        (b'{"v":"Sof\\u00eda"}', {"v": "Sofía"}),
        # json.loads detects the encoding of bytes (RFC 4627): a BOM or the zero-byte pattern
        # of UTF-16/32; Starlette, behind the real service, reads bodies the same way.
        (b'\xef\xbb\xbf{"a":1}', {"a": 1}),
        ('{"a":1}'.encode("utf-16"), {"a": 1}),
        ('{"a":1}'.encode("utf-16-le"), {"a": 1}),
        ('{"a":1}'.encode("utf-32"), {"a": 1}),
        # ...and decodes UTF-8 with surrogatepass: an encoded lone surrogate is let in.
        (b'"\xed\xa0\x80"', "\ud800"),
        (b'{"a":"\\ud800"}', {"a": "\ud800"}),
    ],
)
async def test_read_json(raw, value):
    assert await read(raw) == value


async def test_read_json_non_finite_numbers():
    value = await read(b'{"a":NaN,"b":Infinity,"c":-Infinity,"d":1e999}')
    assert math.isnan(value["a"])
    assert [value[k] for k in "bcd"] == [math.inf, -math.inf, math.inf]


@pytest.mark.parametrize("raw", [b"", b" ", b"\r\n\t ", b"\x0b\x0c"])
async def test_read_json_empty(raw):
    assert await read_error(raw) == MISSING_BODY
    assert await read(raw, empty={}) == {}
    assert await read(raw, empty=None) is None


@pytest.mark.parametrize(
    ("raw", "msg"),
    [
        (b"\x00", "JSON decode error: Expecting value: line 1 column 1 (char 0)"),
        (b'{"a":', "JSON decode error: Expecting value: line 1 column 6 (char 5)"),
        (b'{"a":1', "JSON decode error: Expecting ',' delimiter: line 1 column 7 (char 6)"),
        (b'{"a":1}x', "JSON decode error: Extra data: line 1 column 8 (char 7)"),
        (b'{"a":1}{"a":1}', "JSON decode error: Extra data: line 1 column 8 (char 7)"),
        (
            b"{'a':1}",
            "JSON decode error: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        (b"a=1&b=2", "JSON decode error: Expecting value: line 1 column 1 (char 0)"),
        (b"\xef\xbb\xbf", "JSON decode error: Expecting value: line 1 column 1 (char 0)"),
        (
            b'{"a":"\xff"}',
            "JSON decode error: 'utf-8' codec can't decode byte 0xff in position 6: "
            "invalid start byte",
        ),
        (
            b'{"a":"\xc3"}',
            "JSON decode error: 'utf-8' codec can't decode byte 0xc3 in position 6: "
            "invalid continuation byte",
        ),
        (
            b'{"a":"\xe2\x82"}',
            "JSON decode error: 'utf-8' codec can't decode bytes in position 6-7: "
            "invalid continuation byte",
        ),
        (
            b'{"a":"x\ny"}',
            "JSON decode error: Invalid control character at: line 1 column 8 (char 7)",
        ),
    ],
)
async def test_read_json_invalid(raw, msg):
    assert await read_error(raw) == json_invalid(msg)


async def test_read_json_deep_nesting_is_invalid_json():
    status, body = await read_error(b"[" * 100_000 + b"]" * 100_000)
    assert status == 422
    assert body["detail"][0]["type"] == "json_invalid"


# --- parse_call_request ---------------------------------------------------------------------


def model_type(*loc) -> tuple[int, dict]:
    msg = "Input should be a valid dictionary or object to extract fields from"
    return 422, {"detail": [{"loc": list(loc), "msg": msg, "type": "model_attributes_type"}]}


def wrong_type(kind: str, msg: str, *loc) -> tuple[int, dict]:
    return 422, {"detail": [{"loc": list(loc), "msg": msg, "type": kind}]}


def missing(*locs: tuple) -> tuple[int, dict]:
    return 422, {
        "detail": [{"loc": list(loc), "msg": "Field required", "type": "missing"} for loc in locs]
    }


def invalid_value(param: str, message: str) -> tuple[int, dict]:
    return 400, {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": "invalid_value",
        }
    }


def call_error(body: bytes) -> tuple[int, dict]:
    with pytest.raises(ApiError) as info:
        parse_call_request(json.loads(body))
    return info.value.status, info.value.body


OK_OFFER = b'"offer":{"sdp":"v=0","type":"offer"}'

REFUSED = [
    (b"[]", model_type("body")),
    (b'"offer"', model_type("body")),
    (b"null", model_type("body")),
    (b"{}", missing(("body", "offer"))),
    (b'{"offer":null}', missing(("body", "offer"))),
    (b'{"Offer":{"sdp":"v=0","type":"offer"}}', missing(("body", "offer"))),
    (b'{"offer":"v=0"}', model_type("body", "offer")),
    (b'{"offer":[]}', model_type("body", "offer")),
    (b'{"offer":{}}', missing(("body", "offer", "sdp"), ("body", "offer", "type"))),
    (b'{"offer":{"type":"offer"}}', missing(("body", "offer", "sdp"))),
    (b'{"offer":{"sdp":null,"type":"offer"}}', missing(("body", "offer", "sdp"))),
    (b'{"offer":{"sdp":"v=0"}}', missing(("body", "offer", "type"))),
    (
        b'{"offer":{"sdp":1,"type":"offer"}}',
        wrong_type("string_type", "Input should be a valid string", "body", "offer", "sdp"),
    ),
    (
        b'{"offer":{"sdp":["v=0"],"type":2}}',  # only the first wrong type is reported
        wrong_type("string_type", "Input should be a valid string", "body", "offer", "sdp"),
    ),
    (
        b'{"offer":{"sdp":"v=0","type":true}}',
        wrong_type("string_type", "Input should be a valid string", "body", "offer", "type"),
    ),
    (
        b'{"offer":{"sdp":"v=0","type":"offer","candidates":"c"}}',
        wrong_type("list_type", "Input should be a valid list", "body", "offer", "candidates"),
    ),
    (b"{" + OK_OFFER + b',"params":[]}', model_type("body", "params")),
    (b"{" + OK_OFFER + b',"params":"Ethan"}', model_type("body", "params")),
    (b"{" + OK_OFFER + b',"params":false}', model_type("body", "params")),
    # Structure (422) before values (400): a bad type and bad params give the 422.
    (b'{"offer":{"sdp":"v=0","type":"answer"},"params":0}', model_type("body", "params")),
    (
        b'{"offer":{"sdp":"v=0","type":"answer"}}',
        invalid_value("offer.type", "Expected offer.type 'offer', got 'answer'."),
    ),
    (
        b'{"offer":{"sdp":"v=0","type":"OFFER"}}',
        invalid_value("offer.type", "Expected offer.type 'offer', got 'OFFER'."),
    ),
    (
        b'{"offer":{"sdp":"v=0","type":""},"params":{"voice":"x"}}',
        invalid_value("offer.type", "Expected offer.type 'offer', got ''."),
    ),
    (
        b"{" + OK_OFFER + b',"params":{"temperature":5,"voice":"x"}}',
        invalid_value("params.voice", None),  # the message lists every voice: checked below
    ),
    (
        b"{" + OK_OFFER + b',"params":{"temperature":5}}',
        invalid_value(
            "params.temperature", "Invalid temperature 5; expected a number from 0 to 1."
        ),
    ),
    (
        b"{" + OK_OFFER + b',"params":{"temperature":NaN}}',
        invalid_value(
            "params.temperature", "Invalid temperature nan; expected a number from 0 to 1."
        ),
    ),
    (
        b"{" + OK_OFFER + b',"params":{"modalities":["audio","audio"]}}',
        invalid_value(
            "params.modalities", "Invalid modalities ['audio', 'audio']; each may appear once."
        ),
    ),
]


@pytest.mark.parametrize(("body", "expected"), REFUSED, ids=[r[0].decode() for r in REFUSED])
def test_call_request_refused(body, expected):
    status, answer = call_error(body)
    if expected[1].get("error", {}).get("message", "") is None:
        assert answer["error"]["message"].startswith("Invalid voice 'x'; expected one of: Sofía")
        answer["error"]["message"] = None
    assert (status, answer) == expected


@pytest.mark.parametrize(
    ("body", "candidates", "params"),
    [
        (b"{" + OK_OFFER + b"}", (), SessionParams()),
        (b"{" + OK_OFFER + b',"params":null}', (), SessionParams()),
        (b"{" + OK_OFFER + b',"params":{}}', (), SessionParams()),
        (
            b"{" + OK_OFFER + b',"params":{"voice":"Chlo\\u00e9","temperature":1,"x":1}}',
            (),
            SessionParams(voice="Chloé", temperature=1.0),
        ),
        (
            b'{"offer":{"sdp":"v=0","type":"offer","candidates":null}}',
            (),
            SessionParams(),
        ),
        (
            b'{"offer":{"sdp":"v=0","type":"offer","candidates":[]}}',
            (),
            SessionParams(),
        ),
        # Candidates that are not objects are dropped, not refused.
        (
            b'{"offer":{"sdp":"v=0","type":"offer","candidates":'
            b'[{"candidate":"c","sdpMid":"0"},"x",1,null,[],{}]}}',
            ({"candidate": "c", "sdpMid": "0"}, {}),
            SessionParams(),
        ),
        # Unknown fields anywhere are ignored.
        (
            b'{"offer":{"sdp":"v=0","type":"offer","extra":1},"model":"x","session":{}}',
            (),
            SessionParams(),
        ),
    ],
)
def test_call_request_accepted(body, candidates, params):
    assert parse_call_request(json.loads(body)) == CallRequest("v=0", candidates, params)


def test_sdp_is_not_checked_here():
    # Any string passes; check_offer_sdp judges it (after the token is checked).
    assert parse_call_request({"offer": {"sdp": "", "type": "offer"}}).offer_sdp == ""


@pytest.mark.parametrize("candidates", [b'""', b"0", b"false", b"{}"])
def test_falsy_non_list_candidates_are_refused(candidates):
    body = b'{"offer":{"sdp":"v=0","type":"offer","candidates":' + candidates + b"}}"
    assert call_error(body) == wrong_type(
        "list_type", "Input should be a valid list", "body", "offer", "candidates"
    )


# --- a whole /calls body from bytes ---------------------------------------------------------


@pytest.mark.parametrize("name", ["chromium-sdk-layout.sdp", "firefox-sdk-layout.sdp"])
async def test_a_real_calls_body(name):
    sdp = (OFFERS / name).read_bytes().decode()
    raw = json.dumps(
        {
            "offer": {"sdp": sdp, "type": "offer", "candidates": []},
            "params": {"voice": "Sofía", "modalities": ["audio"], "return_transcription": True},
        },
        ensure_ascii=False,
    ).encode()
    call = parse_call_request(await read(raw))
    assert call.offer_sdp == sdp  # CRLFs and all, byte for byte
    assert call.params == SessionParams(
        voice="Sofía", modalities=("audio",), return_transcription=True
    )
    assert [m.kind for m in check_offer_sdp(call.offer_sdp).media] == [
        "audio",
        "video",
        "application",
    ]
