"""The session's parameters (voice, model, ...): defaults and validation.

Shared by POST /v1/realtime/calls (`params`) and the data channel's `session.update`, so both
accept and refuse exactly the same values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from emulator.ai import voices

MODELS = ("orga-1-beta",)
MODALITIES = ("audio", "video")
TEMPERATURE_RANGE = (0.0, 1.0)
# Orga documents no limit. 16 KiB of UTF-8 is a long system prompt (about 4,000 tokens), and
# keeps every event that echoes the session within one 64 KiB data-channel message (aiortc
# peers accept no more), since JSON escaping at most triples text without control characters.
MAX_INSTRUCTIONS_BYTES = 16 * 1024
# Tab, line feed and carriage return are text; other C0 controls would grow 6-fold as JSON.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# How much of a refused value an error message quotes: errors stay small whatever was sent.
SHOWN_CHARS = 64


class ParamError(ValueError):
    """A value that cannot be used, and the parameter it was given for (the `param` of the
    error envelope). Scenarios and fault rules raise their own kinds of it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True)
class SessionParams:
    """The defaults are the ones @orga-ai/core fills in when the app gives none."""

    model: str = "orga-1-beta"
    voice: str = voices.DEFAULT
    temperature: float = 0.5
    instructions: str | None = None
    modalities: tuple[str, ...] = ("audio", "video")
    return_transcription: bool = False
    history: bool = True

    def updated(self, changes: Mapping[str, Any]) -> SessionParams:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["modalities"] = list(self.modalities)
        return data


def shown(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut at SHOWN_CHARS characters."""
    text = _short_repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _short_repr(value: Any) -> str:
    # Neither a huge string nor a huge list is turned into text in full just to be cut.
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return repr(value[:SHOWN_CHARS])
    if isinstance(value, list) and len(value) > SHOWN_CHARS:
        return repr(value[:SHOWN_CHARS])
    try:
        return repr(value)
    except (ValueError, RecursionError):  # an int past Python's digit limit, deep nesting
        return f"<{type(value).__name__}>"


def _check_model(value: Any, param: str) -> str:
    if value not in MODELS:
        raise ParamError(
            param, f"Invalid model {shown(value)}; expected one of: {', '.join(MODELS)}."
        )
    return value


def _check_voice(value: Any, param: str) -> str:
    if not voices.is_voice(value):
        raise ParamError(
            param, f"Invalid voice {shown(value)}; expected one of: {voices.accepted_names()}."
        )
    return value


def _check_temperature(value: Any, param: str) -> float:
    low, high = TEMPERATURE_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ParamError(
            param, f"Invalid temperature {shown(value)}; expected a number from 0 to 1."
        )
    return float(value)


def _check_instructions(value: Any, param: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParamError(param, "Invalid instructions; expected a string or null.")
    if len(value) > MAX_INSTRUCTIONS_BYTES or utf8_length(value) > MAX_INSTRUCTIONS_BYTES:
        raise ParamError(
            param, f"Invalid instructions; limited to {MAX_INSTRUCTIONS_BYTES} bytes of UTF-8."
        )
    if _CONTROL.search(value):
        raise ParamError(
            param,
            "Invalid instructions; control characters other than tab, line feed and carriage "
            "return are not accepted.",
        )
    return value


def utf8_length(text: str) -> int:
    """Bytes of `text` in UTF-8; a lone surrogate (valid in JSON, not in UTF-8) counts 3."""
    return len(text.encode("utf-8", "surrogatepass"))


def _check_modalities(value: Any, param: str) -> tuple[str, ...]:
    if not isinstance(value, list) or any(m not in MODALITIES for m in value):
        raise ParamError(
            param, f"Invalid modalities {shown(value)}; expected a list of 'audio', 'video'."
        )
    if len(set(value)) != len(value):
        raise ParamError(param, f"Invalid modalities {shown(value)}; each may appear once.")
    return tuple(value)


def _check_bool(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise ParamError(param, f"Invalid value {shown(value)}; expected true or false.")
    return value


CHECKS = {
    "model": _check_model,
    "voice": _check_voice,
    "temperature": _check_temperature,
    "instructions": _check_instructions,
    "modalities": _check_modalities,
    "return_transcription": _check_bool,
    "history": _check_bool,
}


def validate_params(data: Any, prefix: str) -> dict[str, Any]:
    """The valid changes in `data`; raises ParamError naming the first bad one.

    Unknown keys are ignored (as FastAPI ignores extra fields), and a null means "not given"
    except for `instructions`, where null is a value.
    """
    if not isinstance(data, Mapping):
        raise ParamError(prefix.rstrip("."), "Expected an object.")
    changes: dict[str, Any] = {}
    for key, check in CHECKS.items():
        if key not in data or (data[key] is None and key != "instructions"):
            continue
        changes[key] = check(data[key], prefix + key)
    return changes
