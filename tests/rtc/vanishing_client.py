"""A client that connects, says so, then waits to be killed (run by test_lifecycle.py).

Usage: python vanishing_client.py BASE_URL. Prints "connected <conversation_id>" once the data
channel has delivered conversation.created.
"""

from __future__ import annotations

import asyncio
import sys

from emulator.testing.client import OrgaClient


async def main(base_url: str) -> None:
    client = OrgaClient(base_url)
    await client.connect()
    await client.event("conversation.created")
    print("connected", client.conversation_id, flush=True)
    await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
