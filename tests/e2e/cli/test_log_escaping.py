"""Nothing a client sends can forge a log line (issue 13, finding 8): the access line carries
the path as sent (percent-encoded, no query), and every message is written on one line with its
control characters escaped."""

from __future__ import annotations

import socket
import time

import pytest

pytestmark = pytest.mark.slow

FORGED = "2026-11-30 12:00:00,000 INFO emulator.access: POST /v1/realtime/calls 200"


def raw_request(port: int, target: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_forged_line_in_the_path_stays_in_its_own_line(emulator_process):
    emu = emulator_process("--turn-port", "0")
    port = int(emu.base_url.rsplit(":", 1)[1])
    target = b"/x%0a" + FORGED.replace(" ", "%20").encode() + b"%0d%1b[31m%00?email=a%40b.co"
    answer = raw_request(port, target)
    assert answer.startswith(b"HTTP/1.1 404")
    deadline = time.monotonic() + 5
    while "GET /x" not in emu.text():
        assert time.monotonic() < deadline, emu.text()
        time.sleep(0.02)
    lines = emu.text().splitlines()
    access = [line for line in lines if "GET /x" in line]
    assert len(access) == 1, lines
    assert "/x%0a2026-11-30%2012:00:00" in access[0] and "%1b[31m%00" in access[0]
    assert "a%40b.co" not in access[0] and "email" not in access[0]  # no query, no email
    assert not any(line.startswith("2026-11-30 12:00:00,000") for line in lines)
    assert not any(c in emu.text() for c in "\x1b\x00\r")


def test_messages_are_escaped_but_tracebacks_keep_their_lines():
    import io
    import logging

    from emulator.process.logs import EscapingFormatter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(EscapingFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test_log_escaping")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("user said %s", "hi\n" + FORGED + "\x1b[2J\x00")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed on %s", "a\rb")
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert lines[0] == "WARNING user said hi\\n" + FORGED + "\\x1b[2J\\x00"
    assert lines[1] == "ERROR failed on a\\rb"
    assert lines[2] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: boom"
