"""When a user turn ends (emulator.ai.vad.TurnPolicy), as arithmetic. Real calls with
microphones that never pause long enough are in tests/rtc/test_fake_microphones.py."""

from __future__ import annotations

import pytest

from emulator.ai.vad import MIN_HANGOVER, TurnPolicy


def test_the_hangover_holds_for_half_the_longest_utterance_then_shrinks():
    policy = TurnPolicy(hangover=0.6, max_utterance=3.0)
    assert policy.silence_needed(0.0) == policy.silence_needed(1.5) == 0.6
    assert policy.silence_needed(2.25) == pytest.approx(0.4)
    assert policy.silence_needed(3.0) == pytest.approx(MIN_HANGOVER)
    assert policy.silence_needed(10.0) == pytest.approx(MIN_HANGOVER)
    assert not policy.too_long(2.99) and policy.too_long(3.0)


def test_zero_means_silence_alone_ends_a_turn():
    policy = TurnPolicy(hangover=0.6, max_utterance=0)
    assert policy.silence_needed(100.0) == 0.6
    assert not policy.too_long(1e6)


@pytest.mark.parametrize(
    "kwargs", [{"min_hangover": 0.0}, {"min_hangover": 0.7}, {"max_utterance": -1}]
)
def test_inconsistent_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        TurnPolicy(hangover=0.6, **kwargs)
