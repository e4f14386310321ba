"""The voice catalogue: the current SDKs' voices in exact Unicode, the 1.0.x names, one list.

What /calls and the demo make of it: tests/api/test_voices.py."""

from __future__ import annotations

import re
import unicodedata

import pytest

from emulator.ai import voices
from emulator.ai.params import ParamError, validate_params
from tests.kit.sdk_sources import require_sdk_source

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
