"""The control page: a few bytes of shared memory the supervisor's StateHost writes and its
workers read, so that an API request learns whether the control document moved (and whether
anyone reads the live feed) without a system call.

A file beside the state socket, mapped by both sides: the host maps it writable and sets each
word before it answers the change that set it (a client that hears back from any worker, then
asks another, finds the new word there); a worker maps it read-only. Each word is one aligned
8-byte store, so a reader never sees half of one. The layout is the WORDS below.
"""

from __future__ import annotations

import contextlib
import mmap
import os

VERSION = 0  # the control document's version
FEED = 1  # 1 while some worker's stream reads the live feed, else 0
WORDS = 2
PAGE_BYTES = WORDS * 8


def page_path(socket_path: str) -> str:
    """Where the page of the state socket `socket_path` is."""
    return socket_path + ".page"


class ControlPage:
    """One mapping of the page; `writable` for the host that creates it."""

    def __init__(self, path: str, *, writable: bool = False) -> None:
        if writable:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # a crashed host's, as asyncio does with a stale socket
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL if writable else os.O_RDONLY
        fd = os.open(path, flags, 0o600)  # the supervisor user's alone, as the socket
        try:
            if writable:
                os.ftruncate(fd, PAGE_BYTES)
            elif os.fstat(fd).st_size < PAGE_BYTES:
                raise OSError(f"{path}: not a control page")
            access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
            self._map = mmap.mmap(fd, PAGE_BYTES, access=access)
        finally:
            os.close(fd)  # the mapping keeps the file
        # Indexed by VERSION and FEED: a read is an item of a memoryview, no call of ours.
        self.words = memoryview(self._map).cast("q")

    def close(self) -> None:
        self.words.release()
        self._map.close()
