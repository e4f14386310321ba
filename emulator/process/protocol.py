"""HTTP/1.1 below the app: errors the parser raises before any handler runs, and how long a
client may take to send a request.

aiohttp answers a request its parser refuses (a bad method, a NUL in a header, a line over
8,190 bytes, a bad chunk, Content-Length with Transfer-Encoding...) with a `text/plain` body that
quotes the offending bytes, and logs a traceback for each. Here each one gets the contract's JSON
envelope, a message that names the fault without quoting the request, and one log line.

It also bounds the time a connection may hold the server: a request's head must arrive within
`header_timeout` of the connection's opening (or of its first byte, on a kept-alive connection)
and its body within `body_timeout` of its head; an idle kept-alive connection closes after
`keepalive_timeout`. Slowloris clients and silent sockets thus cost a file descriptor for a few
seconds, not forever.

aiohttp builds its RequestHandler in `web.Server`; `EmulatorRunner` serves through
`ProtocolServer`, which builds ours.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import http_exceptions, web
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.web_protocol import RequestHandler

from emulator.http import errors
from emulator.http.middleware import REQUEST_MIDDLEWARE
from emulator.process.logs import ACCESS_LOGGER

if TYPE_CHECKING:
    from emulator.config import Settings

log = logging.getLogger(ACCESS_LOGGER)

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

# What each parser error says, in our words: aiohttp's own messages quote the request's bytes.
_REASONS: tuple[tuple[type[Exception], str, str], ...] = (
    (http_exceptions.LineTooLong, "A line is too long", "line_too_long"),
    (http_exceptions.BadHttpMethod, "Invalid method", "invalid_method"),
    (http_exceptions.BadStatusLine, "Invalid request line", "invalid_request_line"),
    (http_exceptions.InvalidHeader, "Invalid header", "invalid_header"),
    (http_exceptions.InvalidURLError, "Invalid URL", "invalid_url"),
    (http_exceptions.TransferEncodingError, "Invalid chunked body", "invalid_body"),
    (http_exceptions.ContentLengthError, "Invalid Content-Length", "invalid_body"),
)
# The C parser's messages start with llhttp's fixed reason ("Invalid header value char:"),
# then quote the bytes on the following lines: the reason alone is safe to repeat.
_SAFE_REASON = re.compile(r"[A-Za-z][A-Za-z0-9 ,.'`-]{0,99}")


def describe(exc: BaseException | None) -> tuple[str, str]:
    """A parser error as (reason, code), with nothing of the request in it."""
    if isinstance(exc, http_exceptions.BadHttpMethod) and "HTTPS" in exc.message:
        return "TLS on a plain HTTP port (use http://, or start the emulator with --tls)", (
            "tls_on_http_port"
        )
    for kind, reason, code in _REASONS:
        if isinstance(exc, kind):
            return reason, code
    if isinstance(exc, http_exceptions.HttpProcessingError):
        first = exc.message.split("\n", 1)[0].rstrip(":").strip()
        if _SAFE_REASON.fullmatch(first):
            return first, "malformed_request"
    return "Unreadable request", "malformed_request"


class EmulatorRequestHandler(RequestHandler):
    """aiohttp's connection handler with JSON protocol errors and request timeouts."""

    def __init__(
        self,
        manager: web.Server,
        *,
        header_timeout: float,
        body_timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        # When the request head being received must be complete (None: none is awaited). One
        # timer per connection checks it, re-armed only when it fires early: a request on a
        # kept-alive connection costs a clock read, not a timer scheduled and cancelled.
        self._head_deadline: float | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None  # the body being received, if any
        self._body_timer: asyncio.TimerHandle | None = None
        self._bytes_in = 0

    # --- errors ---------------------------------------------------------------------------

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A parser error (or a handler's crash) as JSON, with one log line."""
        if request.writer.output_size > 0:  # a response has started: nothing more can be said
            raise ConnectionError("response already started, cannot send the error")
        if status >= 500:
            log.error("%d in a request from %s", status, _peer(self), exc_info=exc)
            error = errors.api_error(
                status, "Internal error in the emulator; see its log.", errors.SERVER_ERROR
            )
        else:
            reason, code = describe(exc)
            log.info("%d protocol_error=%s from %s: %s", status, code, _peer(self), reason)
            error = errors.malformed_request(status, reason, code)
        response = error.to_response()
        response.force_close()
        return response

    # --- timeouts -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        # Called for every read. The common case, a whole request head in one read, costs a
        # count compared: the head's deadline is armed only by a read that leaves a head
        # incomplete, from that read (a head that arrives whole needs no deadline).
        self._bytes_in += len(data)
        before = self._request_count
        RequestHandler.data_received(self, data)  # super()'s, without building a super object
        if self._request_count != before:  # a whole head arrived (or a parser error)
            self._head_deadline = None  # the head timer, if any, finds nothing to do
            messages = self._messages
            if messages:
                payload = messages[-1][1]
                if (
                    payload is not EMPTY_PAYLOAD
                    and isinstance(payload, StreamReader)
                    and not payload.is_eof()
                ):
                    self._watch_body(payload)
        elif data and self._head_deadline is None:
            body = self._body
            if body is None or body.is_eof():  # part of a head, not the rest of a body
                self._arm_head_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_timer()
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body = self._body_timer = None
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._header_timeout <= 0:
            return
        self._head_deadline = self._loop.time() + self._header_timeout
        if self._head_timer is None:
            self._head_timer = self._loop.call_at(self._head_deadline, self._check_head)

    def _stop_head_timer(self) -> None:
        self._head_deadline = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _check_head(self) -> None:
        deadline = self._head_deadline
        if deadline is None:
            self._head_timer = None
        elif self._loop.time() < deadline:  # a later request's head: its own deadline
            self._head_timer = self._loop.call_at(deadline, self._check_head)
        else:
            self._head_timer = None
            self._head_deadline = None
            self._head_timed_out()

    def _head_timed_out(self) -> None:
        if self._force_close or self.transport is None:
            return
        level = logging.INFO if self._bytes_in else logging.DEBUG  # a silent socket is a preconnect
        log.log(
            level,
            "closed a connection from %s: no complete request head within %g s",
            _peer(self),
            self._header_timeout,
        )
        self.force_close()

    def _watch_body(self, payload: StreamReader) -> None:
        self._body = payload
        if self._body_timeout <= 0:
            return
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self._loop.call_later(self._body_timeout, self._body_timed_out, payload)
        payload.on_eof(self._body_timer.cancel)

    def _body_timed_out(self, payload: StreamReader) -> None:
        self._body_timer = None
        if payload.is_eof() or payload.exception() is not None or self.transport is None:
            return
        log.info(
            "closing a connection from %s: request body not received within %g s",
            _peer(self),
            self._body_timeout,
        )
        if self._request_in_progress:
            # The handler waiting on the body gets 408 in our envelope, then the connection
            # closes: the rest of the body is never read.
            self.close()
            payload.set_exception(errors.body_timeout(self._body_timeout))
            payload.feed_eof()
        else:
            self.force_close()


def _peer(handler: RequestHandler) -> str:
    peer = handler.peername
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "-"


class ProtocolServer(web.Server):
    """`web.Server` whose connections are `EmulatorRequestHandler`s."""

    def __init__(
        self, handler: Handler, *, header_timeout: float, body_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(handler, **kwargs)
        self._timeouts = {"header_timeout": header_timeout, "body_timeout": body_timeout}

    def __call__(self) -> RequestHandler:
        return EmulatorRequestHandler(self, loop=self._loop, **self._timeouts, **self._kwargs)


class EmulatorRunner(web.AppRunner):
    """`web.AppRunner` serving through `ProtocolServer`, with the app's request middleware
    (REQUEST_MIDDLEWARE) around it; the app's startup and cleanup hooks run as with aiohttp's
    own runner."""

    def __init__(
        self,
        app: web.Application,
        *,
        header_timeout: float,
        body_timeout: float,
        keepalive_timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, keepalive_timeout=keepalive_timeout, **kwargs)
        self._timeouts = {"header_timeout": header_timeout, "body_timeout": body_timeout}

    @classmethod
    def for_settings(
        cls, app: web.Application, settings: Settings, **kwargs: Any
    ) -> EmulatorRunner:
        """A runner with the settings' HTTP timeouts (the CLI's server and the tests' alike)."""
        kwargs.setdefault("keepalive_timeout", settings.http_keepalive_timeout)
        return cls(
            app,
            header_timeout=settings.http_header_timeout,
            body_timeout=settings.http_body_timeout,
            **kwargs,
        )

    async def _make_server(self) -> web.Server:
        # aiohttp's own server (the app started, its handler and request factory), rebuilt
        # with the same arguments as ours, the app's request middleware around its handler.
        server = await super()._make_server()
        handler: Handler = server.request_handler
        middleware = self.app.get(REQUEST_MIDDLEWARE)
        if middleware is not None:
            handler = functools.partial(middleware, handler=handler)
        return ProtocolServer(
            handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **self._timeouts,
            **server._kwargs,
        )
