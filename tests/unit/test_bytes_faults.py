"""Fault rules as the control plane reads them (JSON bytes through json.loads): parse_rule's
exact results and refusals, scope matching, and the FaultBook's counting and seeded dice."""

from __future__ import annotations

import base64
import json
import random

import pytest

from emulator.control.faults import (
    HTTP,
    SESSION,
    TURN,
    Facts,
    FaultBook,
    FaultSpecError,
    parse_rule,
)
from emulator.identity.users import user_id_for

ALL_KINDS = (
    "http_status, latency, connection_reset, slow_answer, invalid_token, expired_token, "
    "ice_never_connects, dtls_failure, datachannel_close, media_silent, packet_loss, hangup, "
    "turn_unauthorized, turn_no_relay, turn_quota"
)


def rule_from(body: bytes, rule_id: str = "fault_1"):
    return parse_rule(json.loads(body), rule_id)


def refusal(body: bytes | object) -> tuple[str, str]:
    spec = json.loads(body) if isinstance(body, bytes) else body
    with pytest.raises(FaultSpecError) as info:
        parse_rule(spec, "fault_1")
    assert str(info.value) == info.value.message
    return info.value.param, info.value.message


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_jwt(payload: bytes, header: bytes = b'{"alg":"HS256","typ":"JWT"}') -> str:
    """A token's three parts; the signature is not checked when a rule names a token."""
    return f"{b64(header)}.{b64(payload)}.{b64(b'not-a-signature')}"


# --- accepted rules -------------------------------------------------------------------------

ACCEPTED = [
    # body, (kind, point, endpoint, params, times, probability, scope)
    (
        b'{"fault":"http_status","endpoint":"calls","status":503,"times":1}',
        ("http_status", HTTP, "calls", {"status": 503, "message": None, "code": None}, 1, None, {}),
    ),
    (
        b'{"fault":"http_status","status":429.0,"message":"Slow down","code":"rate_limited"}',
        (
            "http_status",
            HTTP,
            "*",
            {"status": 429, "message": "Slow down", "code": "rate_limited"},
            None,
            None,
            {},
        ),
    ),
    (
        b'{"fault":"http_status","status":500,"message":null,"code":null}',
        ("http_status", HTTP, "*", {"status": 500, "message": None, "code": None}, None, None, {}),
    ),
    (
        b'{"fault":"latency","delay_ms":250}',
        ("latency", HTTP, "*", {"delay_ms": 250}, None, None, {}),
    ),
    (
        b'{"fault":"latency","delay_ms":600000}',
        ("latency", HTTP, "*", {"delay_ms": 600000}, None, None, {}),
    ),
    (b'{"fault":"slow_answer"}', ("slow_answer", HTTP, "*", {"delay_ms": 11000}, None, None, {})),
    (
        b'{"fault":"slow_answer","delay_ms":0}',
        ("slow_answer", HTTP, "*", {"delay_ms": 0}, None, None, {}),
    ),
    (
        b'{"fault":"slow_answer","delay_ms":null}',
        ("slow_answer", HTTP, "*", {"delay_ms": 11000}, None, None, {}),
    ),
    (
        b'{"fault":"connection_reset","endpoint":"client-secrets"}',
        ("connection_reset", HTTP, "client-secrets", {}, None, None, {}),
    ),
    (
        b'{"fault":"invalid_token","endpoint":"ice-config"}',
        ("invalid_token", HTTP, "ice-config", {}, None, None, {}),
    ),
    (b'{"fault":"expired_token"}', ("expired_token", HTTP, "*", {}, None, None, {})),
    (b'{"fault":"ice_never_connects"}', ("ice_never_connects", SESSION, "*", {}, None, None, {})),
    (b'{"fault":"dtls_failure","times":3}', ("dtls_failure", SESSION, "*", {}, 3, None, {})),
    (
        b'{"fault":"hangup","after_ms":1500}',
        ("hangup", SESSION, "*", {"after_ms": 1500}, None, None, {}),
    ),
    (b'{"fault":"media_silent"}', ("media_silent", SESSION, "*", {"after_ms": 0}, None, None, {})),
    (
        b'{"fault":"datachannel_close","after_ms":0.5}',
        ("datachannel_close", SESSION, "*", {"after_ms": 0.5}, None, None, {}),
    ),
    (
        b'{"fault":"packet_loss","percent":30,"email":" Ada@Example.COM "}',
        (
            "packet_loss",
            SESSION,
            "*",
            {"percent": 30, "direction": "both"},
            None,
            None,
            {"email": "ada@example.com"},
        ),
    ),
    (
        b'{"fault":"packet_loss","percent":0,"direction":"in"}',
        ("packet_loss", SESSION, "*", {"percent": 0, "direction": "in"}, None, None, {}),
    ),
    (
        b'{"fault":"packet_loss","percent":100,"direction":"out"}',
        ("packet_loss", SESSION, "*", {"percent": 100, "direction": "out"}, None, None, {}),
    ),
    (
        b'{"fault":"turn_unauthorized","probability":0.5}',
        ("turn_unauthorized", TURN, "*", {}, None, 0.5, {}),
    ),
    (b'{"fault":"turn_no_relay"}', ("turn_no_relay", TURN, "allocate", {}, None, None, {})),
    (b'{"fault":"turn_quota","times":2.0}', ("turn_quota", TURN, "allocate", {}, 2, None, {})),
    (b'{"fault":"hangup","times":1e3}', ("hangup", SESSION, "*", {"after_ms": 0}, 1000, None, {})),
    (b'{"fault":"hangup","probability":0}', ("hangup", SESSION, "*", {"after_ms": 0}, None, 0, {})),
    (b'{"fault":"hangup","probability":1}', ("hangup", SESSION, "*", {"after_ms": 0}, None, 1, {})),
    (
        b'{"fault":"hangup","times":null,"probability":null,"email":null,"after_ms":null}',
        ("hangup", SESSION, "*", {"after_ms": 0}, None, None, {}),
    ),
    (
        b'{"fault":"hangup","api_key":"orga_dev_key","test_id":"t-1","token":"jti_abc"}',
        (
            "hangup",
            SESSION,
            "*",
            {"after_ms": 0},
            None,
            None,
            {"api_key_id": "key_05aa332b07207bf4", "jti": "jti_abc", "test_id": "t-1"},
        ),
    ),
    # A token with one dot is not a JWT: taken as a jti as it is.
    (
        b'{"fault":"hangup","token":"a.b"}',
        ("hangup", SESSION, "*", {"after_ms": 0}, None, None, {"jti": "a.b"}),
    ),
]


@pytest.mark.parametrize(("body", "expected"), ACCEPTED, ids=[a[0].decode() for a in ACCEPTED])
def test_accepted(body, expected):
    rule = rule_from(body)
    kind, point, endpoint, params, times, probability, scope = expected
    assert (rule.kind, rule.point, rule.endpoint) == (kind, point, endpoint)
    assert rule.params == params
    assert {k: type(v) for k, v in rule.params.items()} == {k: type(v) for k, v in params.items()}
    assert (rule.times, rule.probability, rule.scope) == (times, probability, scope)
    assert rule.times is None or type(rule.times) is int
    assert (rule.id, rule.applied) == ("fault_1", 0)
    assert rule.spec == json.loads(body)  # as posted, for listing
    assert rule.to_json() == {"id": "fault_1", **json.loads(body), "applied": 0}


def test_spec_is_a_copy():
    spec = {"fault": "hangup"}
    rule = parse_rule(spec, "fault_7")
    spec["fault"] = "changed"
    assert rule.to_json() == {"id": "fault_7", "fault": "hangup", "applied": 0}


@pytest.mark.parametrize(
    ("payload", "jti"),
    [
        (b'{"jti":"tok_1","sub":"u"}', "tok_1"),
        (b'{"jti":"tok_2","exp":1}', "tok_2"),  # expired long ago: a rule may still name it
        (b'{"jti":"t\\u00e9"}', "té"),
    ],
)
def test_token_scope_from_a_jwt(payload, jti):
    token = unsigned_jwt(payload)
    assert rule_from(json.dumps({"fault": "hangup", "token": token}).encode()).scope == {"jti": jti}


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("a.b.c", "'token' is neither a jti nor a decodable token."),
        ("..", "'token' is neither a jti nor a decodable token."),
        (unsigned_jwt(b"[1]"), "'token' is neither a jti nor a decodable token."),
        (unsigned_jwt(b"not json"), "'token' is neither a jti nor a decodable token."),
        (
            unsigned_jwt(b'{"jti":"x"}', header=b"[]"),
            "'token' is neither a jti nor a decodable token.",
        ),
        (unsigned_jwt(b'{"sub":"u"}'), "The token has no jti."),
        (unsigned_jwt(b'{"jti":123}'), "The token has no jti."),
        (unsigned_jwt(b'{"jti":null}'), "The token has no jti."),
    ],
)
def test_token_scope_refused(token, message):
    assert refusal({"fault": "hangup", "token": token}) == ("token", message)


# --- refused rules --------------------------------------------------------------------------

ENDPOINTS = "'endpoint' must be one of ['client-secrets', 'ice-config', 'calls', '*']."
TOKEN_ENDPOINTS = "'endpoint' must be one of ['ice-config', 'calls', '*']."
REFUSED = [
    (b"[]", "fault", "A fault rule must be a JSON object."),
    (b'"hangup"', "fault", "A fault rule must be a JSON object."),
    (b"null", "fault", "A fault rule must be a JSON object."),
    (b"{}", "fault", f"Unknown fault None; one of: {ALL_KINDS}."),
    (b'{"fault":"HANGUP"}', "fault", f"Unknown fault 'HANGUP'; one of: {ALL_KINDS}."),
    (b'{"fault":"hang up"}', "fault", f"Unknown fault 'hang up'; one of: {ALL_KINDS}."),
    (b'{"fault":1}', "fault", f"Unknown fault 1; one of: {ALL_KINDS}."),
    (b'{"fault":null}', "fault", f"Unknown fault None; one of: {ALL_KINDS}."),
    (b'{"kind":"hangup"}', "fault", f"Unknown fault None; one of: {ALL_KINDS}."),
    (b'{"fault":"hangup","percent":1}', "percent", "Unknown field(s) for hangup: ['percent']."),
    (
        b'{"fault":"hangup","zeta":1,"alpha":2}',
        "alpha",
        "Unknown field(s) for hangup: ['alpha', 'zeta'].",
    ),
    (
        b'{"fault":"latency","delay_ms":1,"Endpoint":"calls"}',
        "Endpoint",
        "Unknown field(s) for latency: ['Endpoint'].",
    ),
    (b'{"fault":"latency","delay_ms":1,"endpoint":"health"}', "endpoint", ENDPOINTS),
    (b'{"fault":"latency","delay_ms":1,"endpoint":"/v1/realtime/calls"}', "endpoint", ENDPOINTS),
    (b'{"fault":"latency","delay_ms":1,"endpoint":null}', "endpoint", ENDPOINTS),
    (b'{"fault":"latency","delay_ms":1,"endpoint":["calls"]}', "endpoint", ENDPOINTS),
    (b'{"fault":"invalid_token","endpoint":"client-secrets"}', "endpoint", TOKEN_ENDPOINTS),
    (b'{"fault":"expired_token","endpoint":"client-secrets"}', "endpoint", TOKEN_ENDPOINTS),
    (
        b'{"fault":"hangup","endpoint":"calls"}',
        "endpoint",
        "hangup applies to sessions or TURN, not an endpoint.",
    ),
    (
        b'{"fault":"hangup","endpoint":"*"}',
        "endpoint",
        "hangup applies to sessions or TURN, not an endpoint.",
    ),
    (
        b'{"fault":"turn_quota","endpoint":"*"}',
        "endpoint",
        "turn_quota applies to sessions or TURN, not an endpoint.",
    ),
    (b'{"fault":"hangup","times":0}', "times", "'times' must be at least 1."),
    (b'{"fault":"hangup","times":-1}', "times", "'times' must be at least 1."),
    (b'{"fault":"hangup","times":1.5}', "times", "'times' must be a whole number."),
    (b'{"fault":"hangup","times":"2"}', "times", "'times' must be a number."),
    (b'{"fault":"hangup","times":true}', "times", "'times' must be a number."),
    (b'{"fault":"hangup","times":[1]}', "times", "'times' must be a number."),
    (
        b'{"fault":"hangup","probability":1.5}',
        "probability",
        "'probability' must be from 0.0 to 1.0.",
    ),
    (
        b'{"fault":"hangup","probability":-0.1}',
        "probability",
        "'probability' must be from 0.0 to 1.0.",
    ),
    (
        b'{"fault":"hangup","probability":Infinity}',
        "probability",
        "'probability' must be a finite number.",
    ),
    (b'{"fault":"hangup","probability":"0.5"}', "probability", "'probability' must be a number."),
    (b'{"fault":"hangup","probability":false}', "probability", "'probability' must be a number."),
    (b'{"fault":"http_status"}', "status", "'status' (400-599) is required."),
    (b'{"fault":"http_status","status":null}', "status", "'status' (400-599) is required."),
    (b'{"fault":"http_status","status":503.5}', "status", "'status' (400-599) is required."),
    (b'{"fault":"http_status","status":399}', "status", "'status' must be from 400 to 599."),
    (b'{"fault":"http_status","status":600}', "status", "'status' must be from 400 to 599."),
    (b'{"fault":"http_status","status":-Infinity}', "status", "'status' must be a finite number."),
    (b'{"fault":"http_status","status":"503"}', "status", "'status' must be a number."),
    (b'{"fault":"http_status","status":503,"message":1}', "message", "'message' must be a string."),
    (b'{"fault":"http_status","status":503,"code":[]}', "code", "'code' must be a string."),
    (b'{"fault":"latency"}', "delay_ms", "'delay_ms' is required."),
    (b'{"fault":"latency","delay_ms":null}', "delay_ms", "'delay_ms' is required."),
    (b'{"fault":"latency","delay_ms":-1}', "delay_ms", "'delay_ms' must be from 0 to 600000."),
    (
        b'{"fault":"slow_answer","delay_ms":600001}',
        "delay_ms",
        "'delay_ms' must be from 0 to 600000.",
    ),
    (b'{"fault":"hangup","after_ms":-1}', "after_ms", "'after_ms' must be from 0 to 86400000."),
    (b'{"fault":"media_silent","after_ms":"1"}', "after_ms", "'after_ms' must be a number."),
    (b'{"fault":"packet_loss"}', "percent", "'percent' (0-100) is required."),
    (b'{"fault":"packet_loss","percent":100.5}', "percent", "'percent' must be from 0 to 100."),
    (
        b'{"fault":"packet_loss","percent":1,"direction":"up"}',
        "direction",
        "'direction' must be 'in', 'out' or 'both'.",
    ),
    (
        b'{"fault":"packet_loss","percent":1,"direction":"IN"}',
        "direction",
        "'direction' must be 'in', 'out' or 'both'.",
    ),
    (
        b'{"fault":"packet_loss","percent":1,"direction":null}',
        "direction",
        "'direction' must be 'in', 'out' or 'both'.",
    ),
    (
        b'{"fault":"packet_loss","percent":1,"direction":["in"]}',
        "direction",
        "'direction' must be 'in', 'out' or 'both'.",
    ),
    (b'{"fault":"hangup","email":""}', "email", "'email' must be a non-empty string."),
    (b'{"fault":"hangup","email":1}', "email", "'email' must be a non-empty string."),
    (b'{"fault":"hangup","api_key":[]}', "api_key", "'api_key' must be a non-empty string."),
    (b'{"fault":"hangup","token":""}', "token", "'token' must be a non-empty string."),
    (b'{"fault":"hangup","test_id":false}', "test_id", "'test_id' must be a non-empty string."),
    # Several faults in one rule: the first in check order is named (fields, endpoint, times,
    # probability, the kind's parameters, then the scope).
    (
        b'{"fault":"hangup","x":1,"endpoint":"calls","times":0}',
        "x",
        "Unknown field(s) for hangup: ['x'].",
    ),
    (
        b'{"fault":"hangup","endpoint":"calls","times":0}',
        "endpoint",
        "hangup applies to sessions or TURN, not an endpoint.",
    ),
    (b'{"fault":"hangup","times":0,"probability":2}', "times", "'times' must be at least 1."),
    (
        b'{"fault":"hangup","probability":2,"after_ms":-1}',
        "probability",
        "'probability' must be from 0.0 to 1.0.",
    ),
    (
        b'{"fault":"hangup","after_ms":-1,"email":""}',
        "after_ms",
        "'after_ms' must be from 0 to 86400000.",
    ),
    (b'{"fault":"hangup","test_id":"","email":""}', "email", "'email' must be a non-empty string."),
]


@pytest.mark.parametrize(
    ("body", "param", "message"), REFUSED, ids=[r[0].decode() for r in REFUSED]
)
def test_refused(body, param, message):
    assert refusal(body) == (param, message)


# --- values json.loads lets through ----------------------------------------------------------
# The control plane reads bodies with json.loads, which accepts NaN, Infinity and any JSON
# type as the `fault`. Each of these is a FaultSpecError (a 400 naming the field); they were a
# crash (a 500, and in a batch the rules added before it stayed) or a rule holding NaN.


@pytest.mark.parametrize("body", [b'{"fault":["hangup"]}', b'{"fault":{"kind":"hangup"}}'])
def test_unhashable_fault_is_refused(body):
    assert refusal(body)[0] == "fault"


@pytest.mark.parametrize(
    "body", [b'{"fault":"hangup","times":Infinity}', b'{"fault":"hangup","times":NaN}']
)
def test_non_finite_times_is_refused(body):
    assert refusal(body)[0] == "times"


def test_nan_status_is_refused():
    assert refusal(b'{"fault":"http_status","status":NaN}')[0] == "status"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"fault":"hangup","probability":NaN}', "probability"),
        (b'{"fault":"packet_loss","percent":NaN}', "percent"),
        (b'{"fault":"hangup","after_ms":NaN}', "after_ms"),
        (b'{"fault":"latency","delay_ms":NaN}', "delay_ms"),
    ],
)
def test_nan_parameter_is_refused(body, param):
    assert refusal(body)[0] == param


# --- scope matching -------------------------------------------------------------------------


def test_facts_from_claims():
    claims = {"api_key_id": "key_1", "email": "a@x.org", "sub": "u-1", "jti": "j-1"}
    assert Facts.from_claims(claims, "hdr") == Facts("key_1", "a@x.org", "u-1", "j-1", "hdr")
    assert Facts.from_claims({**claims, "test_id": "minted"}, "hdr").test_id == "minted"
    assert Facts.from_claims({}) == Facts()


@pytest.mark.parametrize(
    ("facts", "matches"),
    [
        (Facts(email="ada@example.com"), True),
        (Facts(email=" ADA@Example.com\n"), True),
        (Facts(email="bob@example.com"), False),
        (Facts(email="bob@example.com", user=user_id_for("ada@example.com")), False),
        # A TURN request knows only the token's sub: the email's user id stands for it.
        (Facts(user=user_id_for("ada@example.com")), True),
        (Facts(user=user_id_for("ADA@example.com ")), True),
        (Facts(user=user_id_for("bob@example.com")), False),
        (Facts(), False),
    ],
)
def test_email_scope(facts, matches):
    rule = rule_from(b'{"fault":"hangup","email":"Ada@Example.com"}')
    assert rule.matches(facts) is matches


def test_every_scope_key_must_match():
    rule = rule_from(b'{"fault":"hangup","api_key":"orga_dev_key","test_id":"t-1","token":"j-1"}')
    full = Facts(api_key_id="key_05aa332b07207bf4", test_id="t-1", jti="j-1")
    assert rule.matches(full)
    assert not rule.matches(Facts(api_key_id="key_05aa332b07207bf4", test_id="t-1"))
    assert not rule.matches(Facts(api_key_id="key_other", test_id="t-1", jti="j-1"))
    assert not rule.matches(Facts(api_key_id="key_05aa332b07207bf4", test_id="T-1", jti="j-1"))


def test_no_scope_matches_anything():
    rule = rule_from(b'{"fault":"hangup"}')
    assert rule.matches(Facts()) and rule.matches(Facts(email="x@y.z", jti="j"))


# --- the FaultBook ----------------------------------------------------------------------------


def book(seed: int = 0) -> FaultBook:
    return FaultBook(random.Random(seed))


def test_ids_count_only_rules_that_parse():
    faults = book()
    assert faults.add({"fault": "hangup"}).id == "fault_1"
    with pytest.raises(FaultSpecError):
        faults.add({"fault": "nope"})
    assert faults.add({"fault": "turn_quota"}).id == "fault_2"


def test_rules_are_listed_in_numeric_id_order():
    faults = book()
    specs = [{"fault": "hangup"}, {"fault": "turn_quota"}, {"fault": "latency", "delay_ms": 1}]
    for n in range(11):
        faults.add(specs[n % 3])
    assert [r.id for r in faults.rules()] == [f"fault_{n}" for n in range(1, 12)]
    assert (faults.active(HTTP), faults.active(SESSION), faults.active(TURN)) == (True, True, True)
    assert faults.remove("fault_10") and not faults.remove("fault_10")
    assert not faults.remove("fault_99")
    assert [r.id for r in faults.rules()][-2:] == ["fault_9", "fault_11"]
    faults.clear()
    assert faults.rules() == [] and not faults.active(SESSION)


def test_take_by_endpoint():
    faults = book()
    faults.add({"fault": "http_status", "status": 503, "endpoint": "calls"})
    assert faults.take(HTTP, Facts(), "ice-config") == []
    assert faults.take(SESSION, Facts(), "calls") == []
    (rule,) = faults.take(HTTP, Facts(), "calls")
    assert rule.applied == 1
    assert [r.id for r in faults.take(HTTP, Facts())] == ["fault_1"]  # no endpoint: any


def test_times_exhausts_and_removes():
    faults = book()
    faults.add({"fault": "turn_quota", "times": 2})
    assert [len(faults.take(TURN, Facts())) for _ in range(3)] == [1, 1, 0]
    assert faults.rules() == [] and not faults.active(TURN)


def test_first_or_all():
    faults = book()
    faults.add({"fault": "latency", "delay_ms": 5})
    faults.add({"fault": "http_status", "status": 500, "email": "ada@example.com"})
    faults.add({"fault": "http_status", "status": 502})
    ada = Facts(email="ada@example.com")
    assert [r.id for r in faults.take(HTTP, ada, "calls")] == ["fault_1"]
    assert [r.id for r in faults.take(HTTP, ada, "calls", first=False)] == [
        "fault_1",
        "fault_2",
        "fault_3",
    ]
    assert [r.id for r in faults.take(HTTP, Facts(email="bob@x.org"), first=False)] == [
        "fault_1",
        "fault_3",
    ]
    assert [r.to_json()["applied"] for r in faults.rules()] == [3, 1, 2]


def test_probability_uses_the_seeded_dice():
    # random.Random(0) draws 0.844, 0.758, 0.421, 0.259, 0.511, 0.405, 0.784, 0.303, 0.477, 0.583
    faults = book(0)
    faults.add({"fault": "hangup", "probability": 0.5})
    applied = [bool(faults.take(SESSION, Facts())) for _ in range(10)]
    assert applied == [False, False, True, True, False, True, False, True, True, False]
    assert faults.rules()[0].applied == 5


def test_probability_bounds():
    faults = book(0)
    faults.add({"fault": "hangup", "probability": 0})
    faults.add({"fault": "turn_quota", "probability": 1})
    assert [bool(faults.take(SESSION, Facts())) for _ in range(20)] == [False] * 20
    assert [bool(faults.take(TURN, Facts())) for _ in range(20)] == [True] * 20


def test_only_matching_rules_roll_the_dice():
    faults = book(0)
    faults.add({"fault": "hangup", "probability": 0.5, "email": "ada@example.com"})
    for _ in range(5):
        assert faults.take(SESSION, Facts(email="bob@example.com")) == []
    # Ada's first take gets the first draw (0.844: not applied), her third the third (0.421).
    ada = Facts(email="ada@example.com")
    assert [bool(faults.take(SESSION, ada)) for _ in range(3)] == [False, False, True]


def test_the_points_view_follows_every_change_of_the_book():
    """The HTTP interceptor holds `points` and reads it on every request: it must see each
    add, removal, clear and load (which fills the same dict, never a new one)."""
    book = FaultBook(random.Random(1))
    points = book.points
    assert not points.get(HTTP)
    rule = book.add({"fault": "http_status", "status": 503})
    assert points.get(HTTP) == [rule]
    assert book.remove(rule.id) and not points.get(HTTP)
    book.add({"fault": "http_status", "status": 503})
    book.clear()
    assert not points.get(HTTP)
    book.load([("fault_7", {"fault": "http_status", "status": 500})], {})
    assert [r.id for r in points.get(HTTP, [])] == ["fault_7"] and book.points is points
    book.load([], {})
    assert not points.get(HTTP)
