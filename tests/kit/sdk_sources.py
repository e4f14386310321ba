"""Where the current Orga SDK sources are, for the compatibility matrix's current-SDK cases.

The npm registry serves only the 1.0.x packages, so the current SDKs (core, react 1.1.1, node
1.0.1, widget 0.1.1, the Python `orga-ai`) are built from a source folder: `ORGA_SDK_SRC`, or
`../shared/orga-sdk-src` beside the checkout when that exists. A user's fresh clone has neither,
and the cases skip with a reason that says how to provide it; CI sets `ORGA_SDK_REQUIRED=1`, which
turns the skip into a failure. This is the suite's one skip for something missing: every tool
it drives fails when absent (tests/kit/tools.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.kit.paths import ROOT

DEFAULT_SOURCE = ROOT.parent / "shared" / "orga-sdk-src"
# A file each current SDK has: a folder without them is not the monorepo's layout.
MARKERS = (
    "packages/client/core/src/index.ts",
    "packages/client/react/src/index.ts",
    "packages/client/widget/src/init.tsx",
    "packages/server/node/src/index.ts",
    "packages/server/python/pyproject.toml",
)
HOW_TO = (
    "set ORGA_SDK_SRC to a checkout of Orga's SDK monorepo (OrgaAI/orga-ai-sdk-monorepo: "
    "packages/client/{core,react,widget}, packages/server/{node,python})"
)


def sdk_source() -> Path | None:
    """The source folder, or None when there is none."""
    configured = os.environ.get("ORGA_SDK_SRC")
    folder = Path(configured) if configured else DEFAULT_SOURCE
    if all((folder / marker).is_file() for marker in MARKERS):
        return folder.resolve()
    return None


def require_sdk_source() -> Path:
    """The source folder; skips the test (fails it under ORGA_SDK_REQUIRED=1) without one."""
    folder = sdk_source()
    if folder is not None:
        return folder
    configured = os.environ.get("ORGA_SDK_SRC")
    where = f"ORGA_SDK_SRC={configured}" if configured else f"{DEFAULT_SOURCE} does not exist"
    reason = f"current Orga SDK sources not found ({where}): {HOW_TO}"
    if os.environ.get("ORGA_SDK_REQUIRED") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
