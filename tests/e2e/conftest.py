"""Fixtures shared by the e2e tests: the current SDKs, built once per session."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.kit.paths import JS_DIR
from tests.kit.sdk_sources import require_sdk_source
from tests.kit.tools import require_node_module

CURRENT_VERSIONS = {
    "@orga-ai/node": "1.0.1",
    "@orga-ai/core": "1.1.1",
    "@orga-ai/react": "1.1.1",
    "@orga-ai/widget": "0.1.1",
}


@pytest.fixture(scope="session")
def current_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/js/current/build.mjs's output for the SDK sources (one build per session); skips
    without the sources (tests/kit/sdk_sources.py)."""
    source = require_sdk_source()
    require_node_module("esbuild")
    out = tmp_path_factory.mktemp("current-sdks")
    result = subprocess.run(
        ["node", "current/build.mjs", str(out), str(source)],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, "build.mjs failed:\n" + result.stderr
    versions = json.loads((out / "versions.json").read_text())
    assert versions == CURRENT_VERSIONS, versions
    return out
