"""What hangs off the aiohttp application: one typed key per piece of state."""

from __future__ import annotations

from aiohttp import web

from emulator.config import Settings
from emulator.control.plane import ControlPlane
from emulator.identity.clock import Clock
from emulator.identity.ids import IdFactory
from emulator.identity.tokens import TokenAuthority, TokenLedger
from emulator.identity.users import UserDirectory
from emulator.rtc.relay import TurnService
from emulator.rtc.session import SessionRegistry


class Readiness:
    """Components that must be up before /readyz says yes."""

    def __init__(self, *components: str) -> None:
        self.state = {name: False for name in components}

    def expect(self, name: str) -> None:
        self.state.setdefault(name, False)

    def mark_ready(self, name: str) -> None:
        self.state[name] = True

    @property
    def ready(self) -> bool:
        return all(self.state.values())


SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
IDS = web.AppKey("ids", IdFactory)
TOKENS = web.AppKey("tokens", TokenAuthority)
LEDGER = web.AppKey("ledger", TokenLedger)
USERS = web.AppKey("users", UserDirectory)
SESSIONS = web.AppKey("sessions", SessionRegistry)
READINESS = web.AppKey("readiness", Readiness)
TURN = web.AppKey("turn", TurnService)
CONTROL = web.AppKey("control", ControlPlane)

# Per-request facts the handlers learn and the access log reports.
REQUEST_ID = web.RequestKey("request_id", str)
CONVERSATION_ID = web.RequestKey("conversation_id", str)
TOKEN_JTI = web.RequestKey("token_jti", str)
AUTH_FAILURE = web.RequestKey("auth_failure", str)
# The X-Test-Id header, or the test_id claim of the request's token.
TEST_ID = web.RequestKey("test_id", str)
# The fault rule applied to this request, if any.
FAULT_ID = web.RequestKey("fault_id", str)
