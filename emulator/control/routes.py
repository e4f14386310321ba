"""The control plane's HTTP API: the one admin route table, served as a sub-app at /_emulator/
(the emulator's own; not Orga's API). Handlers read the main app's parts through
`request.config_dict`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web

from emulator.config import SETTINGS
from emulator.control.faults import FaultSpecError, parse_rule
from emulator.control.plane import CONTROL
from emulator.control.replica import REPLICA
from emulator.control.scenarios import ScenarioError, parse, parse_text
from emulator.control.status import process_status
from emulator.http import errors, guard
from emulator.http.auth import bearer_credential
from emulator.http.bodies import read_json
from emulator.identity.clock import CLOCK
from emulator.net import is_loopback_host
from emulator.rtc.lifecycle import EndReason
from emulator.rtc.registry import SESSIONS
from emulator.state.store import FAULTS, REQUESTS, STATE, TOKENS

routes = web.RouteTableDef()
MAX_LIST = 1000

ControlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def public(handler: ControlHandler) -> ControlHandler:
    """A route anyone may read (the dashboard page, the API description): no admin token."""
    PUBLIC.add(handler)
    return handler


PUBLIC: set[ControlHandler] = set()
# A POST takes JSON, or what its handler is listed with here.
BODY_TYPES: dict[ControlHandler, tuple[str, ...]] = {}
YAML_OR_JSON = (*guard.JSON, "application/yaml", "application/x-yaml", "text/yaml")


async def served_host_only(request: web.Request, handler: ControlHandler) -> None:
    """Open without a token (a loopback bind), the control plane answers only requests naming
    this emulator in Host: with --admin-token, the token is what protects it."""
    settings = request.config_dict[SETTINGS]
    if not settings.admin_token and is_loopback_host(settings.host):
        guard.check_host(request)


async def json_posts(request: web.Request, handler: ControlHandler) -> None:
    """A POST that changes state must say its body is JSON (YAML too for a scenario), which a
    web page of another origin cannot send without a preflight (which gets no CORS approval)."""
    if request.method == hdrs.METH_POST:
        guard.check_content_type(request, BODY_TYPES.get(handler, guard.JSON))


async def synced(request: web.Request, handler: ControlHandler) -> None:
    """With shared state: every control request reads the shared document through first."""
    await request.config_dict[REPLICA].sync()


async def admin_only(request: web.Request, handler: ControlHandler) -> None:
    """Open on a loopback bind; elsewhere only with --admin-token, as `Authorization: Bearer`
    (or `?access_token=` on a GET, for EventSource, which cannot set headers)."""
    if handler not in PUBLIC:
        require_admin(request)


def require_admin(request: web.Request) -> None:
    settings = request.config_dict[SETTINGS]
    if settings.admin_token:
        given = bearer_credential(request.headers.get("Authorization", ""))
        if not given and request.method == "GET":
            given = request.query.get("access_token", "")
        if not hmac.compare_digest(given.encode(), settings.admin_token.encode()):
            raise errors.invalid_admin_token()
    elif not is_loopback_host(settings.host):
        raise errors.admin_token_required()


def _limit(request: web.Request) -> int:
    try:
        return max(1, min(MAX_LIST, int(request.query.get("limit", MAX_LIST))))
    except ValueError:
        raise errors.invalid_control_request("'limit' must be a number.", "limit") from None


# --- pages ------------------------------------------------------------------------------------


def _package_file(name: str) -> bytes:
    return resources.files("emulator.control").joinpath(name).read_bytes()


@routes.get("/")
@public
async def dashboard(request: web.Request) -> web.Response:
    """The dashboard page (it reads the API below; no data in the page itself)."""
    return web.Response(
        body=_package_file("dashboard.html"),
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@routes.get("/openapi.json")
@public
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_package_file("openapi.json"), content_type="application/json")


# --- inspection -------------------------------------------------------------------------------


@routes.get("/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    """Live and recently ended sessions, newest last; ?state=live|ended, ?test_id=, ?email=."""
    registry = request.config_dict[SESSIONS]
    state = request.query.get("state")
    if state not in (None, "live", "ended"):
        raise errors.invalid_control_request("'state' is 'live' or 'ended'.", "state")
    found: list[dict[str, Any]] = []
    replica = request.config_dict.get(REPLICA)
    if replica is not None:  # every replica's, from their heartbeats
        found = [
            s for s in await replica.sessions() if state is None or _live(s) == (state == "live")
        ]
    else:
        if state != "live":
            found += [r.summary() for r in registry.ended]
        if state != "ended":
            found += [s.summary() for s in registry.sessions.values()]
    for key in ("test_id", "email"):
        if key in request.query:
            found = [s for s in found if s[key] == request.query[key]]
    return web.json_response({"sessions": found[-_limit(request) :]})


def _live(summary: dict[str, Any]) -> bool:
    return summary.get("end_reason") is None


@routes.get("/sessions/{conversation_id}")
async def inspect_session(request: web.Request) -> web.Response:
    """A live or recently ended session's full description (RealtimeSession.describe())."""
    conversation_id = request.match_info["conversation_id"]
    registry = request.config_dict[SESSIONS]
    session = registry.get(conversation_id) or next(
        (r for r in registry.ended if r.conversation_id == conversation_id), None
    )
    if session is None:
        raise errors.session_not_found(conversation_id)
    return web.json_response(session.describe())


@routes.get("/status")
async def status(request: web.Request) -> web.Response:
    """Sessions, the ended ones kept and their size, asyncio tasks, open fds, RSS."""
    return web.json_response(process_status(request.config_dict[SESSIONS]))


@routes.get("/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    """Tokens minted, with status live, consumed or expired; ?status=, ?test_id=."""
    status = request.query.get("status")
    if status not in (None, "live", "consumed", "expired"):
        raise errors.invalid_control_request("'status' is live, consumed or expired.", "status")
    journal = request.config_dict[CONTROL].tokens
    if request.config_dict[STATE].shared:
        journal = journal.replayed(await request.config_dict[STATE].entries(TOKENS))
    tokens = journal.select(status, request.query.get("test_id"))
    return web.json_response({"tokens": tokens[-_limit(request) :]})


@routes.get("/requests")
async def list_requests(request: web.Request) -> web.Response:
    """The request journal; ?test_id=, ?conversation_id=, ?path=."""
    filters = {k: request.query.get(k) for k in ("test_id", "conversation_id", "path")}
    shared = request.config_dict[STATE]
    journal = await shared.entries(REQUESTS) if shared.shared else None
    entries = request.config_dict[CONTROL].requests.select(journal, **filters)
    return web.json_response({"requests": entries[-_limit(request) :]})


@routes.get("/events")
async def live_feed(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: session.started/ended, datachannel, request, fault."""
    return await request.config_dict[CONTROL].feed.stream(request)


@routes.post("/reset")
async def reset(request: web.Request) -> web.Response:
    """Close every session (waiting until they are gone), clear journals, rules and posted
    scenarios. The clock and the consumed-token ledger are left alone. With shared state, every
    replica's."""
    registry = request.config_dict[SESSIONS]
    replica = request.config_dict.get(REPLICA)
    if replica is not None:
        closed = await replica.reset()
        return web.json_response({"closed_sessions": closed, "live_sessions": len(registry)})
    closed = len(registry)
    await registry.close_all(EndReason.RESET)
    registry.ended.clear()
    control = request.config_dict[CONTROL]
    control.clear_journals()
    control.faults.clear()
    control.scenarios.clear()
    return web.json_response({"closed_sessions": closed, "live_sessions": len(registry)})


# --- determinism: the clock -------------------------------------------------------------------


def _clock_state(request: web.Request) -> dict[str, Any]:
    clock = request.config_dict[CLOCK]
    return {"now": clock.time(), "frozen": clock.frozen, "seed": request.config_dict[CONTROL].seed}


@routes.get("/clock")
async def get_clock(request: web.Request) -> web.Response:
    return web.json_response(_clock_state(request))


@routes.post("/clock")
async def set_clock(request: web.Request) -> web.Response:
    """{"advance": seconds} and/or {"freeze": true|false}; token and TURN expiry follow."""
    body = await read_json(request, empty={})
    if not isinstance(body, dict) or not set(body) <= {"advance", "freeze"}:
        raise errors.invalid_control_request("Expected {advance?: seconds, freeze?: bool}.")
    clock = request.config_dict[CLOCK]
    freeze = body.get("freeze")
    if freeze is not None and not isinstance(freeze, bool):
        raise errors.invalid_control_request("'freeze' must be true or false.", "freeze")
    advance = body.get("advance")
    if advance is not None and (
        isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0
    ):
        raise errors.invalid_control_request("'advance' must be seconds >= 0.", "advance")
    replica = request.config_dict.get(REPLICA)
    if replica is not None:
        await replica.change_clock(advance or 0.0, freeze)
        return web.json_response(_clock_state(request))
    if freeze is True:
        clock.freeze()
    if advance:
        clock.advance(advance)
    if freeze is False:
        clock.unfreeze()
    return web.json_response(_clock_state(request))


# --- faults -----------------------------------------------------------------------------------


@routes.get("/faults")
async def list_faults(request: web.Request) -> web.Response:
    """Active rules, and the faults applied so far (?test_id= filters those)."""
    control = request.config_dict[CONTROL]
    shared = request.config_dict[STATE]
    journal = await shared.entries(FAULTS) if shared.shared else None
    applied = control.applied_faults.select(journal, test_id=request.query.get("test_id"))
    return web.json_response(
        {"rules": [r.to_json() for r in control.faults.rules()], "applied": applied}
    )


@routes.post("/faults")
async def add_faults(request: web.Request) -> web.Response:
    """One rule, a list of them, or {"rules": [...]}; all or none are added."""
    body = await read_json(request, empty={})
    specs = body.get("rules") if isinstance(body, dict) and "rules" in body else body
    specs = specs if isinstance(specs, list) else [specs]
    faults = request.config_dict[CONTROL].faults
    replica = request.config_dict.get(REPLICA)
    added = []
    try:
        for spec in specs:
            added.append(parse_rule(spec, "new") if replica else faults.add(spec))
    except FaultSpecError as exc:
        index = len(added)
        for rule in [] if replica else added:
            faults.remove(rule.id)
        param = f"rules[{index}].{exc.param}" if len(specs) > 1 else exc.param
        raise errors.invalid_control_request(exc.message, param) from None
    if replica is not None:
        added = await replica.add_rules([rule.spec for rule in added])
    return web.json_response({"rules": [r.to_json() for r in added]}, status=201)


@routes.delete("/faults")
async def clear_faults(request: web.Request) -> web.Response:
    replica = request.config_dict.get(REPLICA)
    if replica is not None:
        await replica.clear_rules()
    request.config_dict[CONTROL].faults.clear()
    return web.json_response({"rules": []})


@routes.delete("/faults/{rule_id}")
async def delete_fault(request: web.Request) -> web.Response:
    rule_id = request.match_info["rule_id"]
    replica = request.config_dict.get(REPLICA)
    if replica is not None:
        removed = await replica.remove_rule(rule_id)
    else:
        removed = request.config_dict[CONTROL].faults.remove(rule_id)
    if not removed:
        raise errors.api_error(
            404, f"No fault rule {rule_id!r}.", errors.NOT_FOUND, code="fault_not_found"
        )
    return web.json_response({"deleted": rule_id})


# --- scenarios --------------------------------------------------------------------------------


@routes.get("/scenarios")
async def list_scenarios(request: web.Request) -> web.Response:
    return web.json_response(request.config_dict[CONTROL].scenarios.to_json())


@routes.post("/scenarios")
async def add_scenario(request: web.Request) -> web.Response:
    """A scenario as JSON or YAML; ?email= and/or ?test_id= scope it (else: every session).
    Or JSON {"scenario": {...}, "email"?, "test_id"?}."""
    raw = (await request.read()).decode("utf-8", "replace")
    await request.config_dict[SESSIONS].loader.ready()  # a scenario's audio is encoded with av
    email, test_id = request.query.get("email"), request.query.get("test_id")
    # Relative audio paths of a posted scenario: from --scenario-dir, else the working dir.
    configured = request.config_dict[SETTINGS].scenario_dir
    base = Path(configured) if configured else Path.cwd()
    try:
        data = json.loads(raw) if raw.strip().startswith("{") else None
        if isinstance(data, dict) and "scenario" in data:
            email = data.get("email", email)
            test_id = data.get("test_id", test_id)
            scenario = parse(data["scenario"], base=base)
        else:
            scenario = parse_text(raw, base=base)
    except ScenarioError as exc:
        raise errors.invalid_control_request(exc.message, exc.param) from None
    except ValueError as exc:
        raise errors.json_invalid(str(exc)) from None
    for key, value in (("email", email), ("test_id", test_id)):
        if value is not None and (not isinstance(value, str) or not value):
            raise errors.invalid_control_request(f"'{key}' must be a non-empty string.", key)
    replica = request.config_dict.get(REPLICA)
    if replica is not None:
        entry = {"email": email, "test_id": test_id, "source": scenario.source, "base": str(base)}
        await replica.add_scenario(entry)
    else:
        request.config_dict[CONTROL].scenarios.add(scenario, email=email, test_id=test_id)
    return web.json_response({**scenario.summary(), "email": email, "test_id": test_id}, status=201)


BODY_TYPES[add_scenario] = YAML_OR_JSON


@routes.delete("/scenarios")
async def clear_scenarios(request: web.Request) -> web.Response:
    """Forget the posted scenarios (a --scenario file stays)."""
    control = request.config_dict[CONTROL]
    replica = request.config_dict.get(REPLICA)
    if replica is not None:
        await replica.clear_scenarios()
    control.scenarios.clear()
    return web.json_response(control.scenarios.to_json())
