"""Request bodies: JSON read once, the same way everywhere, and the body of
POST /v1/realtime/calls, validated in the order the real service reports it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from emulator.ai.params import ParamError, SessionParams, shown, validate_params
from emulator.http import errors


@dataclass(frozen=True)
class CallRequest:
    offer_sdp: str
    candidates: tuple[dict[str, Any], ...]
    params: SessionParams


# Pydantic v2's wording, as FastAPI reports a value of the wrong JSON type.
TYPE_ERRORS = {
    "model": (
        "model_attributes_type",
        "Input should be a valid dictionary or object to extract fields from",
    ),
    "string": ("string_type", "Input should be a valid string"),
    "list": ("list_type", "Input should be a valid list"),
}


def _type_error(loc: list[str | int], expected: str) -> errors.ApiError:
    kind, msg = TYPE_ERRORS[expected]
    return errors.validation_error([errors.validation_detail(loc, msg, kind)])


def parse_call_request(body: Any) -> CallRequest:
    """422 (FastAPI shape) for a missing or mistyped structure, 400 for bad values."""
    if not isinstance(body, dict):
        raise _type_error(["body"], "model")
    offer = body.get("offer")
    if offer is None:
        raise errors.field_required("body", "offer")
    if not isinstance(offer, dict):
        raise _type_error(["body", "offer"], "model")
    missing = [k for k in ("sdp", "type") if offer.get(k) is None]
    if missing:
        raise errors.validation_error(
            [
                errors.validation_detail(["body", "offer", k], "Field required", "missing")
                for k in missing
            ]
        )
    for key in ("sdp", "type"):
        if not isinstance(offer[key], str):
            raise _type_error(["body", "offer", key], "string")
    candidates = offer.get("candidates")
    if candidates is None:
        candidates = []
    if not isinstance(candidates, list):
        raise _type_error(["body", "offer", "candidates"], "list")
    params = body.get("params")
    if params is not None and not isinstance(params, dict):
        raise _type_error(["body", "params"], "model")

    if offer["type"] != "offer":
        raise errors.invalid_value(
            "offer.type", f"Expected offer.type 'offer', got {shown(offer['type'])}."
        )
    try:
        changes = validate_params(params or {}, "params.")
    except ParamError as exc:
        raise errors.invalid_value(exc.param, exc.message) from None
    return CallRequest(
        offer_sdp=offer["sdp"],
        candidates=tuple(c for c in candidates if isinstance(c, dict)),
        params=SessionParams().updated(changes),
    )


_REQUIRED = object()


async def read_json(request: web.Request, *, empty: Any = _REQUIRED) -> Any:
    """The JSON body; 413 over the size limit, 422 (FastAPI shape) when not JSON, and when
    absent unless `empty` says what an absent body means."""
    raw = await request.read()  # the app's client_max_size turns an oversized body into 413
    if not raw.strip():
        if empty is _REQUIRED:
            raise errors.field_required("body")
        return empty
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.json_invalid(str(exc)) from None
    except RecursionError:  # nesting deeper than the parser's stack
        raise errors.json_invalid("JSON nested too deeply") from None
