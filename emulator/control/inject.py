"""Applying fault rules and scenarios: to HTTP requests, to new sessions, to TURN requests.

faults.py decides which rules apply; this module makes them happen and records each one in the
fault journal, the live feed and (for session faults) the session itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.control.faults import ENDPOINT_BY_PATH, HTTP, SESSION, TURN, Facts, FaultRule
from emulator.control.plane import ControlPlane
from emulator.control.replica import Replica
from emulator.control.scenarios import ScriptedResponder
from emulator.http import errors
from emulator.http.auth import api_key_id, bearer_credential
from emulator.http.exchange import EXCHANGE
from emulator.http.middleware import CLIENT_CLOSED_REQUEST, Handler, Interceptor
from emulator.identity.jws import InvalidJws, unverified_claims

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from emulator.rtc.session import RealtimeSession

# The status the journal shows for a request whose connection a fault dropped (nginx's
# "client closed request"; nothing is sent).
DROPPED = CLIENT_CLOSED_REQUEST


def record(control: ControlPlane, rule: FaultRule, target: str, **context: Any) -> dict[str, Any]:
    entry = control.applied_faults.record(
        {"rule": rule.id, "fault": rule.kind, "target": target, **context}
    )
    control.feed.publish("fault", entry)
    return entry


# --- HTTP -------------------------------------------------------------------------------------


def request_facts(request: web.Request) -> Facts:
    """Who a request is from, read without verifying anything (only to match scopes)."""
    credential = bearer_credential(request.headers.get("Authorization", ""))
    facts = Facts(email=request.query.get("email"), test_id=request[EXCHANGE].test_id)
    if not credential:
        return facts
    if credential.startswith("sk_"):
        facts.api_key_id = api_key_id(credential)
        return facts
    try:
        claims = unverified_claims(credential)
    except InvalidJws:
        return facts
    found = Facts.from_claims(claims, facts.test_id)
    found.email = found.email or facts.email
    return found


def fault_interceptor(control: ControlPlane, replica: Replica | None) -> Interceptor:
    """The request middleware's interceptor: the HTTP fault a rule sets for a request to one of
    the API's endpoints. With shared state (a `replica`) each API request reads the control
    document through first (the control plane syncs before each of its own handlers), unless
    the replica knows at once that its copy is current; then, as without shared state, a
    request pays one look-up while no HTTP rule is active."""

    points = control.faults.points

    def intercept(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse] | None:
        if (replica is None or replica.current()) and not points.get(HTTP):
            return None
        endpoint = ENDPOINT_BY_PATH.get(request.path)
        if endpoint is None:
            return None
        if replica is not None:
            return _shared_faults(request, handler, control, replica, endpoint)
        facts = request_facts(request)
        rules = control.faults.take(HTTP, facts, endpoint)
        if not rules:
            return None
        return _inject(request, handler, control, rules[0], facts, endpoint)

    return intercept


async def _shared_faults(
    request: web.Request,
    handler: Handler,
    control: ControlPlane,
    replica: Replica,
    endpoint: str,
) -> web.StreamResponse:
    """Rules counted across replicas (StateUnavailable, while the state cannot be reached,
    is the request middleware's 503)."""
    await replica.sync()
    if not control.faults.active(HTTP):
        return await handler(request)
    facts = request_facts(request)
    rules = await replica.take(HTTP, facts, endpoint)
    if not rules:
        return await handler(request)
    return await _inject(request, handler, control, rules[0], facts, endpoint)


async def _inject(
    request: web.Request,
    handler: Handler,
    control: ControlPlane,
    rule: FaultRule,
    facts: Facts,
    endpoint: str,
) -> web.StreamResponse:
    exchange = request[EXCHANGE]
    exchange.fault_id = rule.id
    record(
        control,
        rule,
        "request",
        endpoint=endpoint,
        request_id=exchange.request_id,
        test_id=facts.test_id,
    )
    kind, params = rule.kind, rule.params
    if kind == "http_status":
        raise errors.injected(params["status"], endpoint, params["message"], params["code"])
    if kind in ("invalid_token", "expired_token"):
        exchange.auth_failure = f"{kind.replace('_token', '')} (fault {rule.id})"
        raise errors.injected(401, endpoint)  # worded as that endpoint's own 401
    if kind == "connection_reset":
        return _drop(request)
    # latency, slow_answer: the request is handled after the delay, if the client still waits.
    await asyncio.sleep(params["delay_ms"] / 1000)
    if _client_gone(request):
        return _drop(request)  # e.g. the SDK gave up after 10 s: no session is opened
    return await handler(request)


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _drop(request: web.Request) -> web.Response:
    """Reset the connection (RST, not FIN): the client sees a reset, not an answer."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=DROPPED)  # never sent; for the access log and the journal


# --- sessions: scenario and WebRTC faults -----------------------------------------------------

# SDP lines end in CRLF.
_ICE_PWD = re.compile(r"^a=ice-pwd:(\S+)(?=\r?$)", re.MULTILINE)
_FINGERPRINT = re.compile(r"^a=fingerprint:(\S+) (\S+)(?=\r?$)", re.MULTILINE)


def _wrong_ice_password(sdp: str) -> str:
    # The client's connectivity checks fail integrity at our agent, so it never nominates a
    # pair: ICE stays in checking until the client gives up.
    return _ICE_PWD.sub(lambda m: "a=ice-pwd:" + m.group(1)[::-1].swapcase(), sdp)


def _wrong_fingerprint(sdp: str) -> str:
    # ICE connects; the client's DTLS check of our certificate then fails.
    def flip(match: re.Match[str]) -> str:
        digest = match.group(2)
        first = "00" if not digest.startswith("00") else "FF"
        return f"a=fingerprint:{match.group(1)} {first}{digest[2:]}"

    return _FINGERPRINT.sub(flip, sdp)


def session_preparer(
    control: ControlPlane, replica: Replica | None = None
) -> Callable[[RealtimeSession], Awaitable[None] | None]:
    """The registry's on_open hook: a session's scenario and WebRTC faults (with shared state,
    counted across replicas: then the hook is awaited)."""

    def prepare(session: RealtimeSession) -> Awaitable[None] | None:
        token = session.token
        scenario = control.scenarios.for_claims(token)
        if scenario is not None:
            session.use_responder(lambda echo: ScriptedResponder(scenario, echo))
            if scenario.hang_up_after_seconds is not None:
                session.after_connected(scenario.hang_up_after_seconds, session.hang_up)
        if not control.faults.active(SESSION):
            return None
        facts = Facts(
            api_key_id=token.get("api_key_id"),
            email=token.get("email"),
            user=session.user_id,
            jti=token.get("jti"),
            test_id=token.get("test_id"),
        )
        if replica is not None:
            return _apply_shared(control, replica, session, facts)
        for rule in control.faults.take(SESSION, facts, first=False):
            _apply_session_fault(control, session, rule)
        return None

    return prepare


async def _apply_shared(
    control: ControlPlane, replica: Replica, session: RealtimeSession, facts: Facts
) -> None:
    for rule in await replica.take(SESSION, facts, first=False):
        _apply_session_fault(control, session, rule)


def _apply_session_fault(control: ControlPlane, session: RealtimeSession, rule: FaultRule) -> None:
    def applied(**detail: Any) -> None:
        entry = record(
            control,
            rule,
            "session",
            conversation_id=session.conversation_id,
            test_id=session.token.get("test_id"),
            **detail,
        )
        session.faults.record({k: v for k, v in entry.items() if k != "at"})

    def later(action: Callable[[], None], **detail: Any) -> None:
        def run() -> None:
            applied(**detail)
            action()

        session.after_connected(rule.params["after_ms"] / 1000, run)

    kind, params = rule.kind, rule.params
    if kind == "ice_never_connects":
        session.faults.sdp_rewrites.append(_wrong_ice_password)
        applied()
    elif kind == "dtls_failure":
        session.faults.sdp_rewrites.append(_wrong_fingerprint)
        applied()
    elif kind == "packet_loss":
        # Its own generator, drawn from the seeded one: reproducible per session.
        rng = random.Random(control.rng.random())
        session.lose_packets(params["percent"] / 100, rng, params["direction"])
        applied(percent=params["percent"], direction=params["direction"])
    elif kind == "datachannel_close":
        later(session.channel.close)
    elif kind == "media_silent":
        later(session.silence_media)
    elif kind == "hangup":
        later(session.hang_up)


# --- TURN -------------------------------------------------------------------------------------

TURN_CODES = {"turn_unauthorized": 401, "turn_no_relay": 508, "turn_quota": 486}


def turn_hook(
    control: ControlPlane, replica: Replica | None = None
) -> Callable[[str, str], int | None]:
    """turn_stub's fault_hook: an error code for an authenticated TURN request, or None. It is
    synchronous: with shared state a rule is decided on this replica's copy and counted in the
    state just after, so `times` is exact per TURN server, not across them."""

    def hook(method: str, user: str) -> int | None:
        if not control.faults.active(TURN):
            return None
        if replica is not None:
            found = next(control.faults.candidates(TURN, Facts(user=user), method), None)
            rules = [] if found is None else [found]
            if found is not None:
                replica.count_later(found)
        else:
            rules = control.faults.take(TURN, Facts(user=user), method)
        if not rules:
            return None
        rule = rules[0]
        code = TURN_CODES[rule.kind]
        record(control, rule, "turn", method=method, user=user, code=code)
        return code

    return hook
