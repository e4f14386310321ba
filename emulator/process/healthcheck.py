"""`python -m emulator.process.healthcheck`: exit 0 when the emulator's /readyz answers 200.

For container HEALTHCHECKs. It reads the port the emulator itself reads (ORGA_EMULATOR_PORT, or
the file named by ORGA_EMULATOR_PORT_FILE), so the check follows the configuration instead of a
hard-coded port.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Mapping

from emulator.config import Settings
from turn_stub.policy import local_host_for


def readyz_url(environ: Mapping[str, str]) -> str:
    port_file = environ.get("ORGA_EMULATOR_PORT_FILE")
    if port_file and os.path.exists(port_file):
        port = int(open(port_file).read().strip())
    else:
        port = int(environ.get("ORGA_EMULATOR_PORT", Settings.port))
    host = local_host_for(environ.get("ORGA_EMULATOR_HOST", Settings.host))
    return f"http://{host}:{port}/readyz"


def main() -> int:
    url = readyz_url(os.environ)
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
