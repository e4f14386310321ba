"""The voice catalogue: the current SDKs' voices in exact Unicode, the 1.0.x names, one list."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from current_sdks import require_sdk_source
from service_helpers import bearer, call_body, mint

from emulator.ai import voices
from emulator.ai.params import ParamError, validate_params
from emulator.identity.tokens import LEDGER

SDK_VOICES = "packages/client/core/src/types/OrgaVoices.ts"
ENTRY = re.compile(
    r'name: "([^"]+)",\s*description: "([^"]+)",\s*gender: "([^"]+)",\s*language: "([^"]+)"'
)


def test_the_catalogue_is_the_current_sdks_list_in_its_order():
    source = (require_sdk_source() / SDK_VOICES).read_text(encoding="utf-8")
    listed = source.split("export const ORGAAI_VOICES = [", 1)[1].split("] as const", 1)[0]
    entries = [voices.Voice(*match) for match in ENTRY.findall(listed)]
    assert entries == list(voices.CURRENT)
    default = re.search(r"DEFAULT_ORGAAI_VOICE: OrgaAIVoice = ORGAAI_VOICES\[(\d+)\]", source)
    assert voices.DEFAULT == entries[int(default.group(1))].name


def test_names_are_unique_and_in_composed_unicode():
    names = [voice.name for voice in voices.CATALOGUE]
    assert len(names) == len(set(names)) == len(voices.NAMES)
    assert all(unicodedata.is_normalized("NFC", name) for name in names)
    assert {"Sofía", "Chloé", "Chloe", "Álvaro", "Élise"} <= voices.NAMES
    assert {v.name for v in voices.LEGACY} == {
        "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
    }  # fmt: skip


@pytest.mark.parametrize(
    "name",
    [
        "Sofia",  # no accent
        "sofía",  # another case
        unicodedata.normalize("NFD", "Sofía"),  # the same letters, decomposed
        "Sofía ",
        "",
        "Alloy",
    ],
)
def test_a_name_must_match_exactly(name):
    with pytest.raises(ParamError) as refused:
        validate_params({"voice": name}, "params.")
    assert refused.value.param == "params.voice"
    # The message lists what is accepted, current names and 1.0.x names alike.
    assert "Sofía" in refused.value.message and "shimmer" in refused.value.message


@pytest.mark.parametrize("name", ["Sofía", "Victoria", "Chloé", "Álvaro", "Élise", "coral"])
async def test_calls_accepts_current_and_legacy_voices(client, offer_sdp, name):
    token = await mint(client)
    # As browsers send it: JSON.stringify leaves "í" as UTF-8, not as \u00ed.
    body = json.dumps(call_body(offer_sdp, voice=name), ensure_ascii=False).encode()
    resp = await client.post(
        "/v1/realtime/calls",
        data=body,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert resp.status == 200, await resp.text()


async def test_an_unknown_voice_is_400_listing_the_names_and_spends_nothing(client, offer_sdp):
    token = await mint(client)
    resp = await client.post(
        "/v1/realtime/calls", json=call_body(offer_sdp, voice="Sofia"), headers=bearer(token)
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["param"] == "params.voice" and error["code"] == "invalid_value"
    assert all(name in error["message"] for name in voices.NAMES)
    assert not client.app[LEDGER]


async def test_the_demo_list_is_the_catalogue_with_the_sdk_default(client):
    resp = await client.get("/_emulator/demo/voices.json")
    assert resp.status == 200
    body = json.loads(await resp.text())
    assert body["default"] == voices.DEFAULT == "Sofía"
    assert [v["name"] for v in body["voices"]] == [v.name for v in voices.CATALOGUE]
    sofia = body["voices"][0]
    assert sofia == {
        "name": "Sofía",
        "description": "Soft Calm Spanish Woman",
        "gender": "feminine",
        "language": "Español",
        "legacy": False,
    }
