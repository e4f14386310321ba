"""What the journals keep per API request and per token is shared where it repeats: each
object kept alive per request cost a request measurably (bench/http_ab.py)."""

from __future__ import annotations

from emulator.control.journal import PATH_KEPT, REQUEST_FIELDS, TokenJournal, as_entry
from emulator.control.plane import CONTROL
from emulator.identity.clock import Clock
from emulator.identity.ids import IdFactory
from emulator.identity.tokens import TokenAuthority


def _authority(clock: Clock) -> TokenAuthority:
    return TokenAuthority(
        "s" * 32, issuer="orga-emulator", ttl=900, leeway=0, clock=clock, ids=IdFactory(3)
    )


def test_tokens_of_one_second_share_their_iat_and_exp():
    clock = Clock()
    clock.freeze()
    authority = _authority(clock)
    a = authority.mint(user_id="u", api_key_id="k").claims
    b = authority.mint(user_id="u", api_key_id="k").claims
    assert a["jti"] != b["jti"]
    assert a["iat"] is b["iat"] and a["exp"] is b["exp"]
    clock.advance(1)
    c = authority.mint(user_id="u", api_key_id="k").claims
    assert (c["iat"], c["exp"]) == (a["iat"] + 1, a["exp"] + 1)


async def test_journalled_requests_of_one_path_share_its_string(emulator):
    for _ in range(3):
        await emulator.mint()
    long_path = "/v1/realtime/" + "x" * (PATH_KEPT + 10)
    for _ in range(2):
        assert (await emulator.http.get(long_path)).status == 404
    rows = [(entry["path"],) for entry in emulator.app[CONTROL].requests.select()]
    secrets = [row[0] for row in rows if row[0] == "/v1/realtime/client-secrets"]
    assert len(secrets) == 3 and secrets[0] is secrets[1] is secrets[2]
    long_rows = [row[0] for row in rows if row[0].startswith("/v1/realtime/x")]
    assert len(long_rows) == 2 and long_rows[0] is long_rows[1]
    assert long_rows[0] == long_path[:PATH_KEPT] + "…"


def test_a_request_row_reads_as_the_fields_in_order():
    row = (1.5, "req_1", "POST", "/v1/realtime/calls", 200, 1.26, "conv_1", "t", "fault_1")
    entry = as_entry(row)
    assert list(entry) == list(REQUEST_FIELDS)
    assert entry == {**dict(zip(REQUEST_FIELDS, row, strict=True)), "latency_ms": 1.3}


def test_the_token_journal_keeps_the_last_tokens_and_their_consumptions_only():
    clock = Clock()
    clock.freeze()
    journal = TokenJournal(clock, size=4)
    authority = _authority(clock)
    authority.on_mint = journal.append
    jtis = [authority.mint(user_id="u", api_key_id="k").claims["jti"] for _ in range(4)]
    journal.consumed(jtis[1], "conv_kept")
    for n in range(20):  # tokens the journal never kept, or no longer keeps
        journal.consumed(f"tok_other_{n}", f"conv_{n}")
    assert len(journal._consumed) <= 8
    by_jti = {token["jti"]: token for token in journal.select()}
    assert list(by_jti) == jtis
    assert by_jti[jtis[1]]["status"] == "consumed"
    assert by_jti[jtis[1]]["conversation_id"] == "conv_kept"
    assert [t["status"] for t in journal.select()].count("live") == 3
    newer = [authority.mint(user_id="u", api_key_id="k").claims["jti"] for _ in range(3)]
    assert [token["jti"] for token in journal.select()] == [jtis[3], *newer]


def test_a_sink_set_on_the_token_journal_is_told_of_each_mint():
    journal = TokenJournal(Clock(), size=4)
    told: list[dict] = []
    journal.sink = told.append
    journal.append({"jti": "tok_1", "exp": 1})
    assert told == [{"minted": {"jti": "tok_1", "exp": 1}}]
    assert [token["jti"] for token in journal.select()] == ["tok_1"]
    journal.sink = None
    journal.append({"jti": "tok_2", "exp": 1})
    assert len(told) == 1 and len(journal.select()) == 2
