"""The README's configuration table is the CLI's own, and its commands exist."""

from __future__ import annotations

from emulator.config import options_table
from tests.kit.paths import README


def test_configuration_table_matches_the_cli():
    text = README.read_text()
    start = text.index("<!-- options:start -->") + len("<!-- options:start -->")
    end = text.index("<!-- options:end -->")
    assert text[start:end].strip() == options_table(), (
        "README's table is stale: regenerate it with `python -m emulator.config`"
    )


def test_the_two_commands_are_there():
    text = README.read_text()
    assert "bash tests/run.sh" in text
    assert ".venv/bin/orga-emulator" in text
    assert "bash tests/run.sh -q" in (README.parent / ".ci/run").read_text()


def test_turn_stub_table_matches_its_cli():
    from turn_stub.cli import options_table as turn_options_table

    text = README.read_text()
    start = text.index("<!-- turn-options:start -->") + len("<!-- turn-options:start -->")
    end = text.index("<!-- turn-options:end -->")
    assert text[start:end].strip() == turn_options_table()
