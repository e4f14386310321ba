"""`python -m turn_stub.healthcheck`: exit 0 when the TURN/STUN server answers a STUN Binding.

For container HEALTHCHECKs; the port comes from ORGA_TURN_STUB_PORT, as for the server itself.
"""

from __future__ import annotations

import os
import socket
import sys

from . import stun
from .policy import local_host_for
from .server import TurnConfig


def binding_succeeds(host: str, port: int, timeout: float = 2.0) -> bool:
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(bytes(request), (host, port))
        try:
            data, _ = sock.recvfrom(2048)
        except OSError:
            return False
    try:
        response = stun.parse_message(data)
    except ValueError:
        return False
    return (
        response.transaction_id == request.transaction_id
        and response.message_class == stun.Class.RESPONSE
    )


def main() -> int:
    host = local_host_for(os.environ.get("ORGA_TURN_STUB_HOST", TurnConfig.host))
    port = int(os.environ.get("ORGA_TURN_STUB_PORT", TurnConfig.port))
    if binding_succeeds(host, port):
        return 0
    print(f"no STUN Binding response from {host}:{port}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
