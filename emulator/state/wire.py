"""The local state's wire (local.py, host.py): length-prefixed JSON frames on a Unix socket.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. A request is
`{"id": N, "op": NAME, "args": [...]}` and gets `{"id": N, "ok": RESULT}` or
`{"id": N, "error": TEXT}`; without an id it is one-way (append, publish) and gets nothing.
A connection that sends `{"op": "events"}` receives `{"event": [ID, KIND, DATA]}` frames from
then on. (The control version and whether the feed has readers are not sent: the workers read
them from the control page, page.py.) A frame
`{"op": "batch", "args": [[OP, ARGS], ...]}` carries the one-way operations of one turn of a
worker's event loop; `{"ask": N, ...}` is the host asking a worker (its journal entries), which
answers `{"answer": N, "ok": ...}`; `{"notice": "reset"}` tells it to clear them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import struct
from typing import Any

from emulator.state.store import ControlDoc

LOCAL_SCHEME = "local:"
HEADER = struct.Struct(">I")
MAX_FRAME = 16 << 20  # a journal read of 1000 entries is well below


class FrameError(Exception):
    """The peer sent something that is not a frame of this protocol."""


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), default=str).encode()
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at the end of the stream."""
    try:
        head = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_FRAME:
        raise FrameError(f"a frame of {size} bytes")
    try:
        message = json.loads(await reader.readexactly(size))
    except asyncio.IncompleteReadError:
        return None
    except ValueError as exc:
        raise FrameError(str(exc)) from None
    if not isinstance(message, dict):
        raise FrameError("a frame that is not an object")
    return message


def doc_to_json(doc: ControlDoc) -> dict[str, Any]:
    return dataclasses.asdict(doc)


def doc_from_json(data: dict[str, Any]) -> ControlDoc:
    return ControlDoc(
        version=data["version"],
        clock_offset=data["clock_offset"],
        clock_frozen_at=data["clock_frozen_at"],
        rules=tuple((rule_id, spec) for rule_id, spec in data["rules"]),
        applied=dict(data["applied"]),
        scenarios=tuple(data["scenarios"]),
        reset_epoch=data["reset_epoch"],
    )


def socket_path(url: str) -> str:
    """`local:/run/x/state.sock` -> `/run/x/state.sock`."""
    return url.removeprefix(LOCAL_SCHEME).removeprefix("//")
