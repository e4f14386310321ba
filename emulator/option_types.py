"""The types of option values: each parses a flag's or variable's text, or raises ValueError
saying what it expected."""

from __future__ import annotations

import argparse
import ipaddress
import os


def port_range(text: str) -> str:
    low, sep, high = text.partition("-")
    if not (sep and low.isdigit() and high.isdigit() and 1 <= int(low) <= int(high) <= 65535):
        raise ValueError(f"not a port range LOW-HIGH: {text}")
    return text


MAX_WORKERS = 256


def available_cores() -> int:
    """The cores this process may run on (its affinity mask), as `--workers auto` counts them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class _BadWorkers(argparse.ArgumentTypeError, ValueError):
    """argparse prints its message as it is; the environment's parser catches a ValueError."""


def workers(text: str) -> int:
    if text.strip().lower() == "auto":
        return available_cores()
    try:
        value = int(text)
    except ValueError:
        raise _BadWorkers(f"not a number of workers or 'auto': {text}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise _BadWorkers(f"workers must be between 1 and {MAX_WORKERS} (or 'auto'): {text}")
    return value


def ipv4(text: str) -> str:
    ipaddress.IPv4Address(text)
    return text


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"not a port: {text}")
    return value
