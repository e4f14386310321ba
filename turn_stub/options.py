"""One table of options drives a command line, its environment variables and its README table.

Each option is a field of a configuration dataclass, a flag (`--name-with-dashes`) and an
environment variable (`<PREFIX><NAME>`); the flag wins over the variable, which wins over the
field's default. `orga-turn-stub` and `orga-emulator` both build their CLI from such a table.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


@dataclass(frozen=True)
class Option:
    name: str  # the configuration field
    help: str
    type: Callable[[str], Any] = str
    flag: str | None = None  # defaults to --name-with-dashes
    repeatable: bool = False
    boolean: bool = False
    choices: Sequence[str] | None = None
    metavar: str | None = None
    default: Any = None  # when the option is no field of the configuration
    env_prefix: str = ""  # set by the table
    config: Any = field(default=None, compare=False)  # the dataclass; set by the table

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def env_var(self) -> str:
        return self.env_prefix + self.cli_flag.removeprefix("--").replace("-", "_").upper()

    @property
    def default_value(self) -> Any:
        """The default, or None where it is made per process (a random secret)."""
        fields = {f.name: f for f in dataclasses.fields(self.config)} if self.config else {}
        found = fields.get(self.name)
        if found is None or found.default_factory is not dataclasses.MISSING:
            return self.default
        return found.default

    def shown_default(self) -> str:
        value = self.default_value
        if value is None:
            return "random per process" if self.name.endswith("secret") else "—"
        if isinstance(value, tuple | list):
            return ", ".join(f"`{v}`" for v in value) or "—"
        return f"`{str(value).lower() if isinstance(value, bool) else value}`"

    def parse_env(self, text: str) -> Any:
        if self.boolean:
            return parse_bool(text)
        if self.repeatable:
            return tuple(self.type(part.strip()) for part in text.split(",") if part.strip())
        return self.type(text)


class OptionTable:
    """The options of one program, bound to its environment prefix and configuration class."""

    def __init__(self, env_prefix: str, config: type, options: Sequence[Option]) -> None:
        self.env_prefix = env_prefix
        self.options = tuple(
            dataclasses.replace(o, env_prefix=env_prefix, config=config) for o in options
        )

    def __iter__(self) -> Any:
        return iter(self.options)

    def __len__(self) -> int:
        return len(self.options)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        for opt in self.options:
            kwargs: dict[str, Any] = {
                "dest": opt.name,
                "default": None,  # None: not given, so the environment may say
                "help": f"{opt.help} [{opt.env_var}; default: {opt.shown_default()}]".replace(
                    "%", "%%"
                ).replace("`", ""),
            }
            if opt.boolean:
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["type"] = opt.type
                if opt.repeatable:
                    kwargs["action"] = "append"
                if opt.choices:
                    kwargs["choices"] = opt.choices
                if opt.metavar:
                    kwargs["metavar"] = opt.metavar
            parser.add_argument(opt.cli_flag, **kwargs)

    def values(self, namespace: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
        """What the flags, then the environment, set (ValueError names a bad variable)."""
        values: dict[str, Any] = {}
        for opt in self.options:
            value = getattr(namespace, opt.name, None)
            if value is None and opt.env_var in environ:
                try:
                    value = opt.parse_env(environ[opt.env_var])
                except ValueError as exc:
                    raise ValueError(f"{opt.env_var}: {exc}") from None
            if value is None:
                continue
            values[opt.name] = tuple(value) if opt.repeatable else value
        return values

    def markdown(self) -> str:
        """The README's table, generated so that it cannot drift from the CLI."""
        rows = ["| flag | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
        for opt in self.options:
            flag = f"`--[no-]{opt.cli_flag[2:]}`" if opt.boolean else f"`{opt.cli_flag}`"
            if opt.choices:
                flag += " " + "\\|".join(opt.choices)
            meaning = opt.help + (
                " Repeatable; comma-separated in the variable." if opt.repeatable else ""
            )
            rows.append(f"| {flag} | `{opt.env_var}` | {opt.shown_default()} | {meaning} |")
        return "\n".join(rows)
