"""Fixtures every suite may use: the emulator as a real process, as CI and users run it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_process import EmulatorProcess, start_emulator

pytest_plugins = ("pytester",)


@pytest.fixture
def emulator_process() -> Iterator:
    """A factory; every process it starts is stopped at the end of the test."""
    started: list[EmulatorProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> EmulatorProcess:
        process = start_emulator(*args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(10)
