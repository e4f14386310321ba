"""Every error the emulator sends, in the envelopes of Orga's contract.

This module owns the wire shapes. Handlers raise ApiError (or one of the constructors below);
the error middleware turns it into JSON. Nothing else builds an error body.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

INVALID_REQUEST = "invalid_request_error"
NOT_FOUND = "not_found_error"
SERVER_ERROR = "server_error"
SERVICE_UNAVAILABLE = "service_unavailable_error"


def error_envelope(
    message: Any, type_: str = INVALID_REQUEST, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class ApiError(Exception):
    """An error response: a status and the exact JSON body to send."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}

    def to_response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers=self.headers)


def api_error(
    status: int,
    message: str,
    type_: str = INVALID_REQUEST,
    param: str | None = None,
    code: str | None = None,
) -> ApiError:
    return ApiError(status, error_envelope(message, type_, param, code))


# --- client-secrets -------------------------------------------------------------------------


def invalid_api_key() -> ApiError:
    """401 of client-secrets. The real service nests the envelope in `message`; so do we."""
    inner = error_envelope("Incorrect or inactive API key provided.")
    return ApiError(401, error_envelope(inner))


def user_not_found() -> ApiError:
    return api_error(404, "User not found.", NOT_FOUND)


# --- ephemeral-token endpoints --------------------------------------------------------------


def not_authenticated() -> ApiError:
    """403 with no Authorization header, as FastAPI's HTTPBearer answers."""
    return api_error(403, "Not authenticated")


def invalid_credentials_scheme() -> ApiError:
    """403 for an Authorization header that is not `Bearer <token>` (FastAPI's HTTPBearer)."""
    return api_error(403, "Invalid authentication credentials")


def invalid_ephemeral_token() -> ApiError:
    """401 from /calls: `invalid_ephemeral_token` is the code the docs tell clients to react to."""
    return api_error(401, "Invalid ephemeral token", code="invalid_ephemeral_token")


def invalid_ice_config_token() -> ApiError:
    """401 from ice-config: the same message with `code: null`, as the docs' example shows."""
    return api_error(401, "Invalid ephemeral token")


def invalid_value(param: str, message: str) -> ApiError:
    return api_error(400, message, param=param, code="invalid_value")


def at_capacity(limit: int) -> ApiError:
    err = api_error(
        503,
        f"The emulator is at its limit of {limit} concurrent sessions; try again later.",
        SERVICE_UNAVAILABLE,
        code="max_sessions_reached",
    )
    err.headers["Retry-After"] = "1"
    return err


def state_unavailable(label: str) -> ApiError:
    """503 while the shared state (--state, Redis) cannot be reached; `label` has no password."""
    err = api_error(
        503,
        f"The emulator's shared state ({label}) is unavailable; try again shortly.",
        SERVICE_UNAVAILABLE,
        code="state_unavailable",
    )
    err.headers["Retry-After"] = "1"
    return err


# --- FastAPI validation shape (422) ---------------------------------------------------------


def validation_detail(loc: list[str | int], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": type_}


def validation_error(details: list[dict[str, Any]]) -> ApiError:
    return ApiError(422, {"detail": details})


def field_required(*loc: str | int) -> ApiError:
    return validation_error([validation_detail(list(loc), "Field required", "missing")])


def json_invalid(reason: str) -> ApiError:
    return validation_error(
        [validation_detail(["body", 0], f"JSON decode error: {reason}", "json_invalid")]
    )


# --- generic HTTP ---------------------------------------------------------------------------


def route_not_found(path: str) -> ApiError:
    return api_error(404, f"No route for {path}.", NOT_FOUND)


def method_not_allowed(method: str, allowed: set[str]) -> ApiError:
    err = api_error(405, f"Method {method} not allowed.", code="method_not_allowed")
    err.headers["Allow"] = ", ".join(sorted(allowed))
    return err


def body_too_large(limit: int) -> ApiError:
    return api_error(413, f"Request body is larger than {limit} bytes.", code="body_too_large")


def internal_error(request_id: str) -> ApiError:
    return api_error(
        500,
        f"Internal error in the emulator (request id {request_id}); see its log.",
        SERVER_ERROR,
        code=request_id,
    )


# --- the control plane (/_emulator/, the emulator's own) ------------------------------------


def admin_token_required() -> ApiError:
    return api_error(
        403,
        "The control plane is open only on a loopback bind; start the emulator with "
        "--admin-token TOKEN and send it as a Bearer token.",
        code="admin_token_required",
    )


def invalid_admin_token() -> ApiError:
    err = api_error(401, "Missing or wrong admin token.", code="invalid_admin_token")
    err.headers["WWW-Authenticate"] = 'Bearer realm="orga-emulator control plane"'
    return err


def host_not_allowed(host: str) -> ApiError:
    """403 for a Host this emulator does not serve: a page that rebound its name to us."""
    return api_error(
        403,
        f"Host {host!r} is not a name this emulator serves, so the control plane refuses it "
        "(a web page could have pointed that name at this machine). Use localhost or "
        "127.0.0.1, or start the emulator with --tls-name NAME (or --admin-token TOKEN).",
        code="host_not_allowed",
    )


def unsupported_media_type(content_type: str, accepted: Iterable[str]) -> ApiError:
    """415 for a control-plane POST that is not JSON: a web page can send text/plain or a form
    to another origin without asking first, but not JSON."""
    given = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
    return api_error(
        415,
        f"This endpoint takes {' or '.join(accepted)}; the request has {given}. "
        "Send the header, e.g. curl -H 'Content-Type: application/json'.",
        param="Content-Type",
        code="unsupported_media_type",
    )


def cross_origin_refused(origin: str) -> ApiError:
    """403 of the dev helper for a request from a page that is not the emulator's own."""
    return api_error(
        403,
        f"The dev endpoints answer only the emulator's own pages, not {origin}. "
        "An app's own backend mints tokens with an API key (POST /v1/realtime/client-secrets).",
        code="cross_origin_refused",
    )


def session_not_found(conversation_id: str) -> ApiError:
    return api_error(404, f"No session {conversation_id!r}.", NOT_FOUND, code="session_not_found")


def invalid_control_request(message: str, param: str | None = None) -> ApiError:
    return api_error(400, message, param=param, code="invalid_value")


# Injected HTTP faults: the contract's own bodies where the contract has one for the status.
_DEFAULT_REASONS = {
    400: "Bad request.",
    401: "Unauthorized.",
    403: "Forbidden.",
    404: "Not found.",
    408: "Request timeout.",
    409: "Conflict.",
    422: "Unprocessable entity.",
    429: "Too many requests.",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service unavailable.",
    504: "Gateway timeout.",
}


def injected(
    status: int, endpoint: str, message: str | None = None, code: str | None = None
) -> ApiError:
    """The error a fault rule asks for, shaped as the real endpoint would send it."""
    if message is None and code is None:
        if status == 401 and endpoint == "client-secrets":
            return invalid_api_key()
        if status == 401 and endpoint == "ice-config":
            return invalid_ice_config_token()
        if status == 401:
            return invalid_ephemeral_token()
        if status == 403:
            return not_authenticated()
        if status == 404 and endpoint == "client-secrets":
            return user_not_found()
        if status == 422:
            return field_required("body")
    if status >= 500:
        type_ = SERVICE_UNAVAILABLE if status == 503 else SERVER_ERROR
    elif status == 404:
        type_ = NOT_FOUND
    else:
        type_ = INVALID_REQUEST
    return api_error(
        status, message or _DEFAULT_REASONS.get(status, f"HTTP {status}."), type_, code=code
    )
