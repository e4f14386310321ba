"""Per-request facts the handlers learn and the access log reports.

A leaf: it imports nothing of ours. App keys live beside the code that owns each part.
"""

from __future__ import annotations

from aiohttp import web

REQUEST_ID = web.RequestKey("request_id", str)
CONVERSATION_ID = web.RequestKey("conversation_id", str)
TOKEN_JTI = web.RequestKey("token_jti", str)
AUTH_FAILURE = web.RequestKey("auth_failure", str)
# The X-Test-Id header, or the test_id claim of the request's token.
TEST_ID = web.RequestKey("test_id", str)
# The fault rule applied to this request, if any.
FAULT_ID = web.RequestKey("fault_id", str)
