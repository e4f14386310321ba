"""Logging setup and redaction: keys and tokens never reach a log whole."""

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


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiortc/aioice are chatty at INFO (every ICE check); keep them to warnings.
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
