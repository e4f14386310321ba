"""A traceback says what failed, not that uvloop is absent (issue 13, finding 9): the event
loop runs outside the `except ImportError` that looks for uvloop."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.kit.paths import ROOT

pytestmark = pytest.mark.slow

PROGRAM = textwrap.dedent(
    """
    import builtins, sys
    real_import = builtins.__import__

    def no_uvloop(name, *args, **kwargs):
        if name == "uvloop":
            raise ModuleNotFoundError("No module named 'uvloop'")
        return real_import(name, *args, **kwargs)

    builtins.__import__ = no_uvloop
    from {module} import {runner}

    async def fails():
        raise RuntimeError("the real failure")

    {call}
    """
)


@pytest.mark.parametrize(
    "module,runner,call",
    [
        ("emulator.process.cli", "_run", "_run(fails())"),
        ("turn_stub.cli", "_run", "_run(fails())"),
    ],
    ids=["orga-emulator", "orga-turn-stub"],
)
def test_a_failure_without_uvloop_is_not_chained_to_its_absence(module, runner, call):
    source = PROGRAM.format(module=module, runner=runner, call=call)
    done = subprocess.run(
        [sys.executable, "-c", source], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0
    assert "RuntimeError: the real failure" in done.stderr
    assert "uvloop" not in done.stderr, done.stderr
