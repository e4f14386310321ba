"""The session's parameters (voice, model, ...): defaults and validation.

Shared by POST /v1/realtime/calls (`params`) and the data channel's `session.update`, so both
accept and refuse exactly the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from emulator.ai import voices

MODELS = ("orga-1-beta",)
MODALITIES = ("audio", "video")
TEMPERATURE_RANGE = (0.0, 1.0)


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


def _check_model(value: Any, param: str) -> str:
    if value not in MODELS:
        raise ParamError(param, f"Invalid model {value!r}; expected one of: {', '.join(MODELS)}.")
    return value


def _check_voice(value: Any, param: str) -> str:
    if not voices.is_voice(value):
        raise ParamError(
            param, f"Invalid voice {value!r}; expected one of: {voices.accepted_names()}."
        )
    return value


def _check_temperature(value: Any, param: str) -> float:
    low, high = TEMPERATURE_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ParamError(param, f"Invalid temperature {value!r}; expected a number from 0 to 1.")
    return float(value)


def _check_instructions(value: Any, param: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ParamError(param, "Invalid instructions; expected a string or null.")
    return value


def _check_modalities(value: Any, param: str) -> tuple[str, ...]:
    if not isinstance(value, list) or any(m not in MODALITIES for m in value):
        raise ParamError(
            param, f"Invalid modalities {value!r}; expected a list of 'audio', 'video'."
        )
    if len(set(value)) != len(value):
        raise ParamError(param, f"Invalid modalities {value!r}; each may appear once.")
    return tuple(value)


def _check_bool(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise ParamError(param, f"Invalid value {value!r}; expected true or false.")
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
