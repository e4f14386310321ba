"""Logging setup, redaction and escaping: keys and tokens never reach a log whole, and nothing a
client sends can start a line of its own."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from typing import TextIO

ACCESS_LOGGER = "emulator.access"


def redact(secret: str | None) -> str:
    """Enough to tell two secrets apart, too little to use one."""
    if not secret:
        return "-"
    if len(secret) <= 12:
        return "…"
    return f"{secret[:6]}…{secret[-4:]}"


# C0 and C1 controls and DEL: a CR or LF would forge a log line, an ESC drive the terminal.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROLS.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def escape(text: str) -> str:
    """`text` on one line, control characters written as escapes."""
    if text.isascii() and text.isprintable():  # no control at all: the common case, in C
        return text
    return text.translate(_CONTROLS)


class EscapingFormatter(logging.Formatter):
    """Escapes each record's message; a traceback below it keeps its own lines.

    The date and time of the default format are worked out once per second: the access log
    writes thousands of lines a second, and localtime() and strftime() (which checks the time
    zone each time) were a good part of each line's cost."""

    _second: tuple[int, str] = (-1, "")  # one tuple, swapped whole: safe across threads
    # The last stamp_ns(): its millisecond and text (the access lines of one turn of the event
    # loop often share it, and log_access reads it without a call).
    stamped: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt or not self.default_msec_format or self.converter is not time.localtime:
            return super().formatTime(record, datefmt)
        return self.default_time(int(record.created), int(record.msecs))

    def default_time(self, second: int, msecs: int) -> str:
        """formatTime() of the default formats, for a time in whole seconds and milliseconds."""
        cached = self._second
        if cached[0] != second:
            cached = (second, time.strftime(self.default_time_format, time.localtime(second)))
            self._second = cached
        return self.default_msec_format % (cached[1], msecs)  # type: ignore[operator]

    def stamp_ns(self, now: int) -> str:
        """default_time() of a time.time_ns(), kept for the millisecond (`stamped`)."""
        millisecond = now // 1_000_000
        cached = self.stamped
        if cached[0] != millisecond:
            cached = (millisecond, self.default_time(millisecond // 1000, millisecond % 1000))
            self.stamped = cached
        return cached[1]

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)


# At most this much is written at once: a pipe's atomic write (PIPE_BUF), so that the lines of
# workers sharing one stderr pipe never interleave mid-line.
WRITE_CHUNK = 4096


class LineBatchingHandler(logging.StreamHandler[TextIO]):
    """A StreamHandler that also takes finished lines (the access log's) and writes them
    together once per turn of the event loop: one write for many requests, not one each.
    A record it emits, and any flush (logging.shutdown() at exit), writes the waiting lines
    first, so the log keeps its order. Outside an event loop a line is written at once.

    The waiting lines are a deque, never replaced: a line appended while another thread's
    record flushes them is written by that flush or the next, never lost."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.lines: deque[str] = deque()

    def add_line(self, line: str) -> None:
        """Queue `line`; the first of a turn schedules the turn's flush."""
        if not self.lines:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop here: written at once, as emit() writes
                self.acquire()
                try:
                    self._write([line])
                finally:
                    self.release()
                return
        self.lines.append(line)

    def flush(self) -> None:
        self.acquire()
        try:
            waiting = self.lines
            if waiting:
                self._write([waiting.popleft() for _ in range(len(waiting))])
            super().flush()
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        if self.lines:
            self.flush()
        super().emit(record)

    def _write(self, lines: list[str]) -> None:
        try:
            chunk: list[str] = []
            size = 0
            for line in lines:
                if chunk and size + len(line) > WRITE_CHUNK:
                    self.stream.write("".join(chunk))
                    self.stream.flush()
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            self.stream.write("".join(chunk))
            self.stream.flush()
        except RecursionError:  # as StreamHandler.emit() does
            raise
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": "".join(lines)}))


def setup_logging(level: str, tag: str | None = None) -> None:
    """Log to stderr at `level`; `tag` (a worker's "worker 1") starts every line after the
    level, so that the lines of workers sharing one stderr can be told apart."""
    handler = LineBatchingHandler(sys.stderr)
    who = f"[{tag}] " if tag else ""
    handler.setFormatter(EscapingFormatter(f"%(asctime)s %(levelname)s {who}%(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    _install(handler, who)
    root.setLevel(level.upper())
    # aiortc/aioice are chatty at INFO (every ICE check); keep them to warnings.
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_ACCESS = logging.getLogger(ACCESS_LOGGER)
_ROOT = logging.getLogger()
# The handler setup_logging() installed, its formatter, and an access line's text between
# the time and the message.
_Installed = tuple[LineBatchingHandler, EscapingFormatter, str]
_installed: _Installed | None = None


def log_access(text: str) -> None:
    """An INFO line on the access logger: what `access_logger.info(text)` writes. `text` is
    the message itself, formatted by the caller in one step, and written as given: the caller
    escape()s what a client sent (the logging module's way escapes the whole message anyway).

    While the line can only reach the handler of setup_logging() (no other handler, filter or
    level on the way, as when no test captures the logs), the line is formatted here, byte for
    byte as that handler would, and handed to it to write with the others of this turn of the
    event loop: a LogRecord and its trip through the logging machinery, then a write per line,
    were most of the cost of a request's line. The way is checked for a turn's first line: the
    lines waiting to be written mean it was, this turn."""
    installed = _installed
    queued = installed is not None and bool(installed[0].lines)
    if installed is None or not queued:
        if not _ACCESS.isEnabledFor(logging.INFO):
            return
        installed = _only_handler()
        if installed is None:
            _ACCESS.handle(
                _ACCESS.makeRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, text, (), None)
            )
            return
    handler, formatter, middle = installed
    # time_ns(), as a LogRecord takes `created` and `msecs` (Python 3.12 on)
    now, stamped = time.time_ns(), formatter.stamped
    when = stamped[1] if stamped[0] == now // 1_000_000 else formatter.stamp_ns(now)
    line = f"{when}{middle}{text}{handler.terminator}"
    if queued:  # the turn's flush is scheduled: the line joins the others
        handler.lines.append(line)
    else:
        handler.add_line(line)


def _only_handler() -> _Installed | None:
    """setup_logging()'s handler and formatter, if an access line would reach that handler,
    unchanged, and nothing else."""
    installed = _installed
    if installed is None:
        return None
    handler, formatter, _ = installed
    if (
        handler.filters
        or handler.level > logging.INFO
        or handler.formatter is not formatter
        or formatter.datefmt
    ):
        return None
    logger: logging.Logger | None = _ACCESS
    while logger is not None:
        if logger.filters:
            return None
        if logger.handlers:
            return installed if logger is _ROOT and logger.handlers == [handler] else None
        if not logger.propagate:
            return None
        logger = logger.parent
    return None


def _install(handler: LineBatchingHandler, who: str) -> None:
    """Note setup_logging()'s handler, for log_access."""
    global _installed
    assert isinstance(handler.formatter, EscapingFormatter)
    level_name = logging.getLevelName(logging.INFO)
    _installed = (handler, handler.formatter, f" {level_name} {who}{ACCESS_LOGGER}: ")
