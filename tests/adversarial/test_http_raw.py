"""Raw-socket HTTP against the emulator as the CLI serves it (EmulatorServer, in this process):
requests aiohttp's parser refuses, and clients that are slow or silent.

Every refused request gets its status, the contract's JSON envelope, nothing of the request's
bytes echoed back, exactly one log line, and a closed connection; slow and silent connections are
closed after the configured timeouts (short ones here: the tests wait for the server's close,
never for a fixed time); and file descriptors come back to where they were.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import resource
from collections.abc import AsyncIterator, Iterator

import pytest

from emulator.config import Settings
from emulator.process.logs import EscapingFormatter
from emulator.process.server import EmulatorServer

MARKER = b"ECHOME"  # placed where aiohttp's text/plain answer quotes the request
BOUND = 10.0  # seconds any single wait may take before the test fails


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _wait_for(predicate, what: str, timeout: float = BOUND) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _fds_back_to(baseline: int) -> None:
    await _wait_for(lambda: _fds() <= baseline, f"fds back to {baseline} (now {_fds()})")


class LogLines(logging.Handler):
    """The server's log output as the CLI writes it (one formatted record may span lines)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.text += self.format(record) + "\n"

    def take(self) -> list[str]:
        lines, self.text = self.text.splitlines(), ""
        return lines


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    handler, root = LogLines(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def _serve(**timeouts: float) -> EmulatorServer:
    settings = Settings(port=0, turn=False)
    if timeouts:
        settings = dataclasses.replace(settings, **timeouts)
    server = EmulatorServer(settings)
    await server.start()
    return server


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    server = await _serve()
    yield server
    await server.close()


@pytest.fixture
async def quick_server() -> AsyncIterator[EmulatorServer]:
    """Timeouts short enough to wait for."""
    server = await _serve(
        http_header_timeout=0.5, http_body_timeout=0.5, http_keepalive_timeout=1.0
    )
    yield server
    await server.close()


async def _exchange(port: int, data: bytes) -> bytes:
    """Send `data`, then read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), BOUND)
    finally:
        writer.close()


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


HOST = b"Host: 127.0.0.1\r\n"
CALLS = b"POST /v1/realtime/calls HTTP/1.1\r\n" + HOST


# name: (request, status). MARKER sits where aiohttp would quote the request back.
PROTOCOL_ERRORS = {
    "bad method": (b"G@T /ECHOME HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "bad header name": (b"GET /healthz HTTP/1.1\r\n" + HOST + b"Bad ECHOME: y\r\n\r\n", 400),
    "header without a colon": (b"GET /healthz HTTP/1.1\r\n" + HOST + b"ECHOME\r\n\r\n", 400),
    "NUL in a header": (b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-A: ECHOME\x00b\r\n\r\n", 400),
    "header over 8190 bytes": (
        b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-A: ECHOME" + b"a" * 9000 + b"\r\n\r\n",
        400,
    ),
    "request line too long": (
        b"GET /ECHOME" + b"a" * 9000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
        400,
    ),
    "too many headers": (
        b"GET /healthz HTTP/1.1\r\n"
        + HOST
        + b"".join(b"X-%d: ECHOME\r\n" % i for i in range(200))
        + b"\r\n",
        400,
    ),
    "bad chunk size": (
        CALLS + b"Transfer-Encoding: chunked\r\n\r\nECHOME\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    "chunk without CRLF": (
        CALLS + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabECHOME\r\n0\r\n\r\n",
        400,
    ),
    "Content-Length with Transfer-Encoding": (
        CALLS + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nECHOME\r\n\r\n",
        400,
    ),
    "bad Content-Length": (CALLS + b"Content-Length: ECHOME\r\n\r\n", 400),
    "two Content-Lengths": (CALLS + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
    "bad Transfer-Encoding": (CALLS + b"Transfer-Encoding: ECHOME\r\n\r\n", 400),
    "bad HTTP version": (b"GET /ECHOME HTTP/9.9\r\n" + HOST + b"\r\n", 400),
    "bare LF line endings": (b"GET /ECHOME HTTP/1.1\n" + HOST.replace(b"\r", b"") + b"\n", 400),
    "obsolete line folding": (
        b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-A: a\r\n ECHOME\r\n\r\n",
        400,
    ),
    "URL without a slash": (b"GET ECHOME HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "CR in the URL": (b"GET /a\rECHOME HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nECHOME", 400),
    "TLS on the plain port": (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03ECHOME", 400),
    "bogus Expect": (
        CALLS + b"Expect: ECHOME-continue\r\nContent-Length: 2\r\n\r\n{}",
        417,
    ),
}


@pytest.mark.parametrize("request_bytes,status", PROTOCOL_ERRORS.values(), ids=PROTOCOL_ERRORS)
async def test_a_protocol_error_is_one_json_answer_and_one_log_line(
    server: EmulatorServer, log_lines: LogLines, request_bytes: bytes, status: int
) -> None:
    assert server.port is not None
    baseline = _fds()
    log_lines.take()
    raw = await _exchange(server.port, request_bytes)
    got, headers, body = _parse(raw)
    assert got == status, raw[:300]
    assert headers["content-type"].startswith("application/json"), raw[:300]
    envelope = json.loads(body)
    error = envelope["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == "invalid_request_error"
    assert isinstance(error["code"], str)
    assert MARKER.lower() not in raw.lower(), "the answer quotes the request"
    lines = log_lines.take()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0] and MARKER.decode() not in lines[0]
    await _fds_back_to(baseline)


async def test_a_good_request_after_them_still_works(server: EmulatorServer) -> None:
    assert server.port is not None
    for request_bytes, _ in PROTOCOL_ERRORS.values():
        await _exchange(server.port, request_bytes)
    raw = await _exchange(
        server.port, b"GET /healthz HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
    )
    assert _parse(raw)[0] == 200 and json.loads(_parse(raw)[2]) == {"status": "ok"}


# --- slow and silent clients ------------------------------------------------------------------


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (bounded)."""
    return await asyncio.wait_for(reader.read(), BOUND)


async def test_a_connection_that_never_sends_is_closed(quick_server: EmulatorServer) -> None:
    baseline = _fds()
    reader, writer = await asyncio.open_connection("127.0.0.1", quick_server.port)
    try:
        assert await _closed_by_server(reader) == b""
    finally:
        writer.close()
    await _fds_back_to(baseline)


async def _trickle_a_head_until_closed(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bytes:
    """Send a request head a byte every 50 ms (the pace of a slowloris client); what the
    server sent until it closed the connection (bounded)."""

    async def trickle() -> None:
        for byte in b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-Slow: " + b"a" * 10_000:
            if writer.is_closing():
                return
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)

    task = asyncio.create_task(trickle())
    try:
        return await _closed_by_server(reader)
    finally:
        task.cancel()
        writer.close()


async def test_a_trickled_request_head_is_closed_at_the_header_timeout(
    quick_server: EmulatorServer, log_lines: LogLines
) -> None:
    """Slowloris: a byte every 50 ms keeps every per-read timer happy, not the head's."""
    baseline = _fds()
    log_lines.take()
    reader, writer = await asyncio.open_connection("127.0.0.1", quick_server.port)
    assert await _trickle_a_head_until_closed(reader, writer) == b""
    lines = log_lines.take()
    assert len(lines) == 1 and "no complete request head" in lines[0], lines
    await _fds_back_to(baseline)


async def test_a_trickled_head_on_a_kept_alive_connection_is_closed_at_the_header_timeout(
    quick_server: EmulatorServer, log_lines: LogLines
) -> None:
    """The second request's head has a deadline of its own, armed by its first bytes: the
    head timer closes the connection (and says so), not the keep-alive timeout later."""
    baseline = _fds()
    reader, writer = await asyncio.open_connection("127.0.0.1", quick_server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\n" + HOST + b"\r\n")
    assert (await asyncio.wait_for(reader.readuntil(b'"ok"}'), BOUND)).startswith(b"HTTP/1.1 200")
    log_lines.take()
    assert await _trickle_a_head_until_closed(reader, writer) == b""
    lines = [line for line in log_lines.take() if "closed a connection" in line]
    assert len(lines) == 1 and "no complete request head within 0.5 s" in lines[0], lines
    await _fds_back_to(baseline)


async def test_a_body_that_never_finishes_gets_408_and_a_close(
    quick_server: EmulatorServer,
) -> None:
    """/calls reads its body once the token checks out: the wait for the rest ends in 408."""
    assert quick_server.port is not None
    baseline = _fds()
    secret = await _exchange(
        quick_server.port,
        b"POST /v1/realtime/client-secrets HTTP/1.1\r\n"
        + HOST
        + b"Authorization: Bearer sk_orga_ai_emulator_dev_key\r\nConnection: close\r\n"
        + b"Content-Length: 0\r\n\r\n",
    )
    token = json.loads(_parse(secret)[2])["ephemeral_token"]
    reader, writer = await asyncio.open_connection("127.0.0.1", quick_server.port)
    try:
        writer.write(
            CALLS
            + f"Authorization: Bearer {token}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            + b'{"offer": '
        )
        raw = await _closed_by_server(reader)
    finally:
        writer.close()
    status, headers, body = _parse(raw)
    assert status == 408, raw[:300]
    assert json.loads(body)["error"]["code"] == "body_timeout"
    await _fds_back_to(baseline)


async def test_an_unread_body_that_never_finishes_is_closed(
    quick_server: EmulatorServer,
) -> None:
    """/healthz answers without reading the body; the connection does not linger for it."""
    baseline = _fds()
    reader, writer = await asyncio.open_connection("127.0.0.1", quick_server.port)
    try:
        writer.write(
            b"POST /v1/realtime/calls HTTP/1.1\r\n" + HOST + b"Content-Length: 50\r\n\r\n{"
        )
        raw = await _closed_by_server(reader)
    finally:
        writer.close()
    assert _parse(raw)[0] == 403  # no token: answered before the body
    await _fds_back_to(baseline)


async def test_an_idle_kept_alive_connection_is_closed(quick_server: EmulatorServer) -> None:
    baseline = _fds()
    reader, writer = await asyncio.open_connection("127.0.0.1", quick_server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\n" + HOST + b"\r\n")
        raw = await _closed_by_server(reader)  # answered, kept alive, then closed when idle
    finally:
        writer.close()
    assert _parse(raw)[0] == 200
    await _fds_back_to(baseline)


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < wanted:
        pytest.fail(f"need {wanted} file descriptors, the hard limit is {hard}")


@pytest.mark.slow
async def test_healthz_answers_while_500_slow_clients_hold_connections() -> None:
    slow_clients = 500
    _raise_fd_limit(4 * slow_clients)
    # Long enough that all 500 are still open while /healthz is asked, short enough to wait for.
    server = await _serve(http_header_timeout=5.0, http_body_timeout=5.0)
    assert server.port is not None and server._runner.server is not None
    baseline = _fds()
    streams = []
    try:
        for _ in range(slow_clients):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-Slow: a")
            streams.append((reader, writer))
        runner_server = server._runner.server

        def held() -> int:
            return len(runner_server.connections)

        await _wait_for(lambda: held() >= slow_clients, "the slow connections to be accepted")
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n")
        raw = await asyncio.wait_for(reader.read(), BOUND)
        writer.close()
        assert _parse(raw)[0] == 200
        # They were all still held while /healthz answered, and each is closed by the server.
        assert held() >= slow_clients
        closed = await asyncio.gather(*(_closed_by_server(r) for r, _ in streams))
        assert closed == [b""] * slow_clients
    finally:
        for _, writer in streams:
            writer.close()
        await server.close()
    await _fds_back_to(baseline)
