"""Fixtures of the SDK tests: one emulator process for a whole module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.testing.process import EmulatorProcess, start_emulator
from tests.kit.paths import ROOT


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[EmulatorProcess]:
    """`python -m emulator --turn-port 0`, shared by the module's tests, stopped cleanly after."""
    emulator = start_emulator("--turn-port", "0", cwd=ROOT)
    try:
        yield emulator
        assert emulator.stop() == 0
    finally:
        emulator.kill()
