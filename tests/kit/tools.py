"""The programs the suite drives. A missing one fails the test with what to install: never a
skip, so a machine without them cannot pass by testing less. (The one exception, the current SDK
sources, is tests/kit/sdk_sources.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.kit.paths import JS_DIR

RUN_SH = "bash tests/run.sh installs everything the suite needs"

# Debian package for each program.
PACKAGES = {
    "node": "nodejs npm",
    "turnutils_uclient": "coturn",
    "turnutils_peer": "coturn",
    "ip": "iproute2",
}


def require_program(name: str) -> str:
    """The path of program `name`; fails the test, naming the package, if it is missing."""
    path = shutil.which(name)
    if path is None:
        package = PACKAGES.get(name, name)
        pytest.fail(f"{name} not found: apt-get install {package} ({RUN_SH})", pytrace=False)
    return path


def require_file(path: str | Path, what: str, install: str) -> Path:
    """`path`, which must exist; fails the test saying how to install `what` otherwise."""
    path = Path(path)
    if not path.exists():
        pytest.fail(f"{what} not found at {path}: {install} ({RUN_SH})", pytrace=False)
    return path


def require_node_module(name: str) -> Path:
    """tests/js/node_modules/NAME, with node itself; fails the test if either is missing."""
    require_program("node")
    return require_file(
        JS_DIR / "node_modules" / name, f"the npm package {name}", "run `npm ci` in tests/js"
    )


def node_json(*args: str, timeout: float = 30) -> Any:
    """Run `node ARGS` in tests/js; the JSON on the last line it prints (it must exit 0)."""
    require_program("node")
    result = subprocess.run(
        ["node", *args], cwd=JS_DIR, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
