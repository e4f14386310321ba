"""Logging setup, redaction and escaping: keys and tokens never reach a log whole, and nothing a
client sends can start a line of its own."""

from __future__ import annotations

import logging
import sys

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
    return text.translate(_CONTROLS)


class EscapingFormatter(logging.Formatter):
    """Escapes each record's message; a traceback below it keeps its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)


def setup_logging(level: str, tag: str | None = None) -> None:
    """Log to stderr at `level`; `tag` (a worker's "worker 1") starts every line after the
    level, so that the lines of workers sharing one stderr can be told apart."""
    handler = logging.StreamHandler(sys.stderr)
    who = f"[{tag}] " if tag else ""
    handler.setFormatter(EscapingFormatter(f"%(asctime)s %(levelname)s {who}%(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiortc/aioice are chatty at INFO (every ICE check); keep them to warnings.
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
