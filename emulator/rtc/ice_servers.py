"""The ICE servers handed to a client: STUN and TURN on the emulator's own turn_stub.

TURN credentials follow the TURN REST scheme and expire with the token (`exp`), so a client can
reach the relay exactly as long as its token lives.
"""

from __future__ import annotations

from typing import Any

from turn_stub.credentials import rest_password, rest_username


def ice_servers(host: str, port: int, secret: str, claims: dict[str, Any]) -> list[dict[str, Any]]:
    """STUN first, then TURN with UDP before TCP: aiortc uses only the first TURN URL it sees."""
    username = rest_username(int(claims["exp"]), claims["sub"])
    return [
        {"urls": [f"stun:{host}:{port}"]},
        {
            "urls": [f"turn:{host}:{port}?transport=udp", f"turn:{host}:{port}?transport=tcp"],
            "username": username,
            "credential": rest_password(secret, username),
        },
    ]
