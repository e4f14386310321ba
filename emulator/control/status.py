"""GET /_emulator/status: the process at a glance, for leak checks (bench/soak.py, the
adversarial tests). Linux's /proc gives fds and RSS; elsewhere they are null."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from emulator.rtc.registry import SessionRegistry


def process_status(registry: SessionRegistry) -> dict[str, Any]:
    ended = registry.ended
    return {
        "pid": os.getpid(),
        "sessions": {
            "live": len(registry),
            "ended_kept": len(ended),
            "ended_bytes": ended.bytes,
            "ended_dropped": ended.dropped,
        },
        "tasks": len(asyncio.all_tasks()),
        "fds": _count_fds(),
        "rss_bytes": _rss_bytes(),
    }


def _count_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None
