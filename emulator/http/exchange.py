"""One request's exchange: what the handlers learn while answering it, for the access log,
the request journal and the fault journal.

The request middleware opens one per request and hangs it on the request under EXCHANGE;
handlers and hooks write its fields. One object read by attribute, rather than a request key
per fact: a missing key costs a raised KeyError on every look-up, and these are looked up on
every request. A leaf: it imports nothing of ours.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web


@dataclass(slots=True)
class Exchange:
    request_id: str
    # The X-Test-Id header, or the test_id claim of the request's token.
    test_id: str | None = None
    conversation_id: str | None = None
    token_jti: str | None = None
    # Why the request's credential was refused (logged, never sent).
    auth_failure: str | None = None
    # The fault rule applied to this request, if any.
    fault_id: str | None = None


EXCHANGE = web.RequestKey("exchange", Exchange)
