"""Where the suite finds things: the repository, its fixtures, the JavaScript side."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FIXTURES = ROOT / "fixtures"
OFFERS = FIXTURES / "offers"
SCENARIOS = FIXTURES / "scenarios"
SPEECH = FIXTURES / "speech"
USERS_FILE = FIXTURES / "users.txt"
JS_DIR = ROOT / "tests" / "js"
ARTIFACTS = ROOT / "test-artifacts"
