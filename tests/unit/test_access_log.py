"""The access log's own path (log_access writing the line itself) against the logging module's:
the same line, escaped the same way, and the logging module's path whenever anything else
could see the line (a test capturing logs, another handler, a filter, a level)."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
import threading
import time

import pytest

from emulator.process import logs

LINE = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (.*)")
TEXT = "POST /v1/realtime/client-secrets 200 0.4ms conversation_id=-"


@pytest.fixture(params=[None, "worker 2"])
def emulator_log(monkeypatch, request):
    """setup_logging("info") writing to a StringIO (untagged, and as a worker tags its lines);
    the logging setup is restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logs._installed
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    logs.setup_logging("info", tag=request.param)
    yield out
    assert not out.closed
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logs._installed = saved[2]


def only_the_emulators_handler() -> None:
    """Take out the handlers pytest adds to the root logger around a test's call."""
    assert logs._installed is not None
    logging.getLogger().handlers[:] = [logs._installed[0]]


def lines(out: io.StringIO) -> list[tuple[str, str]]:
    found = [LINE.fullmatch(line) for line in out.getvalue().splitlines()]
    assert all(found), out.getvalue()
    return [(m.group(1), m.group(2)) for m in found if m]


def through_logging(text: str) -> None:
    """The same line through Logger.info, as any other logger writes."""
    logging.getLogger(logs.ACCESS_LOGGER).info(text)


def test_the_own_path_writes_the_line_logging_writes(emulator_log):
    only_the_emulators_handler()
    assert logs._only_handler() is not None  # the own path is taken
    before = time.time()
    logs.log_access(TEXT)
    through_logging(TEXT)
    after = time.time()
    (own_time, own), (std_time, std) = lines(emulator_log)
    assert own == std
    assert own.replace("[worker 2] ", "") == (
        "INFO emulator.access: POST /v1/realtime/client-secrets 200 0.4ms conversation_id=-"
    )
    for stamp in (own_time, std_time):
        seconds = time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S"))
        assert int(before) <= seconds <= after


def test_what_a_client_sent_is_escaped_on_both_paths(emulator_log):
    """The own path writes its text as given: its caller escapes what a client sent, as the
    logging path's formatter escapes every message, so the lines are the same."""
    forged = "/x\n2026-11-30 12:00:00,000 INFO emulator.access: GET / 200\r\x1b[31m\x00\x85"
    only_the_emulators_handler()
    logs.log_access(f"GET {logs.escape(forged)} 404 0.1ms conversation_id=-")
    through_logging(f"GET {forged} 404 0.1ms conversation_id=-")
    (_, own), (_, std) = lines(emulator_log)
    assert own == std
    assert "\\n2026-11-30" in own and "\\r\\x1b[31m\\x00\\x85" in own


def test_a_second_handler_gets_the_record(emulator_log):
    records: list[logging.LogRecord] = []
    extra = logging.Handler()
    extra.emit = records.append  # type: ignore[method-assign]
    only_the_emulators_handler()
    logging.getLogger().addHandler(extra)
    try:
        assert logs._only_handler() is None
        logs.log_access(TEXT)
    finally:
        logging.getLogger().removeHandler(extra)
    assert [r.getMessage() for r in records] == [TEXT]
    assert records[0].name == logs.ACCESS_LOGGER and records[0].levelno == logging.INFO
    assert len(lines(emulator_log)) == 1


@pytest.mark.parametrize("where", ["emulator", "emulator.access"])
def test_a_handler_or_filter_on_the_way_takes_the_logging_path(emulator_log, where):
    logger = logging.getLogger(where)
    seen: list[str] = []
    only_the_emulators_handler()

    def note(record: logging.LogRecord) -> bool:
        seen.append(record.getMessage())
        return True

    logger.addFilter(note)
    try:
        logs.log_access(TEXT)
    finally:
        logger.removeFilter(note)
    if where == "emulator.access":
        assert seen == [TEXT]  # a filter on the logger itself sees its records
    assert len(lines(emulator_log)) == 1


def test_nothing_below_the_level(emulator_log):
    only_the_emulators_handler()
    logging.getLogger().setLevel(logging.WARNING)
    logs.log_access(TEXT)
    assert emulator_log.getvalue() == ""


def test_a_stopped_propagation_is_respected(emulator_log):
    logger = logging.getLogger(logs.ACCESS_LOGGER)
    only_the_emulators_handler()
    logger.propagate = False
    try:
        logs.log_access(TEXT)
    finally:
        logger.propagate = True
    assert "emulator.access" not in emulator_log.getvalue()


class CountingStream(io.StringIO):
    """A StringIO that counts its writes (each would be a write(2) on a real stderr)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_in_an_event_loop_a_turns_lines_are_written_at_once_and_in_order(monkeypatch):
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logs._installed
    out = CountingStream()
    monkeypatch.setattr(sys, "stderr", out)
    logs.setup_logging("info")
    try:
        only_the_emulators_handler()
        for status in (200, 201, 202):
            logs.log_access(f"POST /a {status} 0.1ms conversation_id=-")
        assert out.getvalue() == ""  # not yet: at the end of this turn of the loop
        logging.getLogger("emulator").warning("a record in between")
        logs.log_access("POST /b 203 0.1ms conversation_id=-")
        await asyncio.sleep(0)  # the loop's turn ends; the handler writes what waits
        await asyncio.sleep(0)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logs._installed = saved[2]
    written = [line for _, line in lines(out)]
    assert [line.split(" ")[0] for line in written] == ["INFO"] * 3 + ["WARNING", "INFO"]
    assert [line.split(" ")[4] for line in written if line.startswith("INFO")] == [
        "200",
        "201",
        "202",
        "203",
    ]
    assert out.writes == 3  # the first three lines at once, the record, the last line


def test_a_batch_is_written_in_pieces_a_pipe_keeps_whole(emulator_log):
    handler = logs._installed[0] if logs._installed else None
    assert handler is not None
    line = "x" * 1000 + "\n"
    chunks: list[str] = []
    handler.stream = type("Recorder", (), {"write": chunks.append, "flush": lambda self: None})()
    handler._write([line] * 9)
    assert [len(chunk) for chunk in chunks] == [4004, 4004, 1001]
    assert all(chunk.endswith("\n") for chunk in chunks)


async def test_lines_queued_while_another_thread_flushes_are_each_written_once(monkeypatch):
    """Another thread's record flushes the waiting lines while the loop queues more (aiortc
    logs from its loading thread): none is lost, none written twice."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logs._installed
    out = CountingStream()
    monkeypatch.setattr(sys, "stderr", out)
    logs.setup_logging("info")
    other = logging.getLogger("emulator.other")
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns every few bytecodes
    try:
        only_the_emulators_handler()
        thread = threading.Thread(target=lambda: [other.warning("r%d", n) for n in range(1000)])
        thread.start()
        for n in range(10000):
            logs.log_access(f"POST /a 200 0.1ms conversation_id=c{n}")
            if n % 100 == 0:
                await asyncio.sleep(0)  # a turn ends now and then, as under load
        thread.join()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    finally:
        sys.setswitchinterval(switch)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logs._installed = saved[2]
    written = [line for _, line in lines(out)]
    access = [line.rsplit("=", 1)[1] for line in written if "emulator.access" in line]
    assert access == [f"c{n}" for n in range(10000)]
    assert sum("emulator.other: r" in line for line in written) == 1000
