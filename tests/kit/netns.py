"""A network namespace of a test's own, for traffic to addresses that are not this machine's.

    with Namespace(["169.254.169.254", "203.0.113.7"]) as ns:
        emulator = start_emulator(..., preexec_fn=ns.enter)   # a process inside it
        ns.run_in(scenario)                                   # a coroutine inside it

Its only interface is its loopback, up, with the given addresses added to it, a multicast route
on it (so a multicast datagram sent inside is looped back to a listener inside, not dropped for
want of a route), and nothing else: no datagram sent inside can leave it. `enter` moves the
calling thread (or a child before exec) into it with setns(2); `run_in` runs a coroutine on an
event loop in a thread of its own that entered it, so every socket the coroutine opens, and every
thread it starts, is inside. Deleted on exit, whatever happened. Needs root (CAP_SYS_ADMIN).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import subprocess
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


class Namespace:
    def __init__(self, addresses: Iterable[str] = ()) -> None:
        self.name = f"orga-test-{uuid.uuid4().hex[:8]}"
        self.addresses = list(addresses)

    def __enter__(self) -> Namespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self.ip("link", "set", "lo", "up")
            self.ip("link", "set", "lo", "multicast", "on")
            self.ip("route", "add", "224.0.0.0/4", "dev", "lo")
            for address in self.addresses:
                prefix = 128 if ":" in address else 32
                self.ip("addr", "add", f"{address}/{prefix}", "dev", "lo")
        except BaseException:
            self.delete()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.delete()

    def ip(self, *args: str) -> None:
        subprocess.run(["ip", "-n", self.name, *args], check=True)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)

    def enter(self) -> None:
        """Move the calling thread (a child process before exec) into the namespace."""
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"setns into {self.name}: {os.strerror(errno)}")
        finally:
            os.close(fd)

    def run_in(self, scenario: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
        """`scenario()` on an event loop of its own, in a thread inside the namespace."""
        outcome: dict[str, Any] = {}

        def main() -> None:
            try:
                self.enter()
                outcome["value"] = asyncio.run(_coroutine(scenario))
            except BaseException as exc:  # handed to the caller's thread
                outcome["error"] = exc

        thread = threading.Thread(target=main, name=f"in {self.name}", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"the scenario in {self.name} ran over {timeout} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]  # type: ignore[no-any-return]


async def _coroutine(scenario: Callable[[], Awaitable[T]]) -> T:
    return await scenario()
