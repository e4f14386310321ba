"""Reply markup as the real service writes it (`<emotion value="..."/>`, `[laughter]`):
off by default, on with --reply-markup, per turn with a scenario's `markup` field. Checked
against @orga-ai/core's own stripEmotionTags, built from the current SDK source."""

from __future__ import annotations

import json

import pytest

from emulator.ai.responder import EchoResponder, Markup, SentenceSource, UserTurn
from emulator.config import Settings
from emulator.control.scenarios import ScenarioError, ScriptedResponder, parse
from tests.kit.sdk_sources import require_sdk_source
from tests.kit.tools import node_json, require_node_module

TAG = '<emotion value="'


def sdk_strip(*texts: str) -> list[str]:
    """What an app on @orga-ai/core >= 1.0.2 displays for each text."""
    source = require_sdk_source()
    require_node_module("esbuild")
    return node_json("strip_markup.mjs", str(source), *map(json.dumps, texts))


@pytest.fixture(scope="module")
def sentences() -> SentenceSource:
    return SentenceSource()


def test_markup_is_off_by_default(sentences):
    reply = EchoResponder("conv_1", sentences).respond(UserTurn(1, text="hi"))
    assert reply.text == "hi"
    assert Settings().reply_markup is False


def test_the_option_marks_up_every_reply_the_same_way_each_run(sentences):
    echo = EchoResponder("conv_1", sentences, markup=True)
    texts = [echo.respond(UserTurn(i, utterance=None)).text for i in range(1, 13)]
    assert texts == [echo.respond(UserTurn(i, utterance=None)).text for i in range(1, 13)]
    assert all(text.startswith(TAG) for text in texts)
    assert any("[laughter]" in text for text in texts)  # seeded: some turns laugh
    # The SDK shows the words without the tags, laughter as an emoji.
    shown = sdk_strip(*texts)
    plain = [echo.reply_text(UserTurn(i, utterance=None)) for i in range(1, 13)]
    for text, display, words in zip(texts, shown, plain, strict=True):
        assert "<" not in display and "[" not in display
        assert display.replace(" 😂", "") == " ".join(words.split())
        assert ("😂" in display) == ("[laughter]" in text)


def test_explicit_markup_as_the_sdk_shows_it():
    text = Markup("surprised", laughter=True).apply("Oh. That is new.")
    assert text == '<emotion value="surprised"/>Oh. [laughter] That is new.'
    assert sdk_strip(text) == ["Oh. 😂 That is new."]
    assert Markup(laughter=True).apply("No full stop") == "No full stop [laughter]"


def _scripted(sentences, markup_option: bool, **turn) -> str:
    scenario = parse({"turns": [turn]})
    echo = EchoResponder("conv_2", sentences, markup=markup_option)
    return ScriptedResponder(scenario, echo).respond(UserTurn(1, text="hello")).text


def test_a_scenario_turn_sets_its_own_markup(sentences):
    assert _scripted(sentences, False, reply="Sure.") == "Sure."
    assert _scripted(sentences, False, reply="Sure.", markup=True).startswith(TAG)
    assert _scripted(sentences, True, reply="Sure.").startswith(TAG)
    assert _scripted(sentences, True, reply="Sure.", markup=False) == "Sure."
    assert (
        _scripted(
            sentences, False, reply="Ha. Good one.", markup={"emotion": "happy", "laughter": True}
        )
        == '<emotion value="happy"/>Ha. [laughter] Good one.'
    )
    # Without a scripted reply, the echo's words get the turn's markup.
    assert _scripted(sentences, False, markup={"emotion": "calm"}) == '<emotion value="calm"/>hello'


@pytest.mark.parametrize(
    "markup,param",
    [
        ("yes", "turns[0].markup"),
        ({"emotion": 'a"/><script>'}, "turns[0].markup.emotion"),
        ({"emotion": "happy", "laughter": "loud"}, "turns[0].markup.laughter"),
        ({"mood": "happy"}, "turns[0].markup"),
    ],
)
def test_bad_markup_in_a_scenario_is_refused(markup, param):
    with pytest.raises(ScenarioError) as refused:
        parse({"turns": [{"reply": "x", "markup": markup}]})
    assert refused.value.param == param


@pytest.fixture
def orga_emulator_settings() -> Settings:
    return Settings(port=0, turn_port=0, reply_markup=True)


async def test_the_option_reaches_the_data_channel(orga_emulator, orga_client):
    await orga_client.connect()
    await orga_client.next_event("conversation.created")
    orga_client.send_text("What is new?")
    reply = await orga_client.next_event("response.output_item.done")
    # The conversation id seeds the markup: laughter may follow the words, or not.
    assert reply["text"].startswith(TAG) and "What is new?" in reply["text"]
    assert sdk_strip(reply["text"])[0].replace("😂", "").split() == ["What", "is", "new?"]
