#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine, then runs it.
#   bash tests/run.sh [pytest args...]
# Installs (only what is missing): Debian packages for the real clients the tests drive
# (coturn's turnutils_uclient, chromium, firefox-esr, espeak-ng, sox, node), a virtualenv in .venv with the
# project and its test extras, and the published Orga SDKs from tests/js/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n== %s\n' "$*"; }

step "Debian packages"
packages=(coturn chromium firefox-esr espeak-ng sox iproute2)
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "all present: ${packages[*]}"
fi

step "Python virtualenv (.venv)"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

step "Python SDK orga-ai from the current SDK sources (tests/sdk/test_python_sdk.py)"
ORGA_PY_SDK="${ORGA_SDK_SRC:-../shared/orga-sdk-src}/packages/server/python"
if [ -d "$ORGA_PY_SDK" ]; then
  # setuptools writes build/ and src/*.egg-info beside the sources: build from a writable copy.
  sdk_copy=$(mktemp -d)
  cp -R "$ORGA_PY_SDK" "$sdk_copy/python" && chmod -R u+w "$sdk_copy"
  .venv/bin/python -m pip install -q --disable-pip-version-check "$sdk_copy/python"
  rm -rf "$sdk_copy"
else
  echo "no $ORGA_PY_SDK: the orga-ai SDK tests skip (set ORGA_SDK_SRC to the SDK monorepo)"
fi

step "Orga SDKs from the npm registry (tests/js)"
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)

step "ruff"
.venv/bin/ruff check emulator turn_stub tests bench fixtures
.venv/bin/ruff format --check emulator turn_stub tests bench fixtures

step "mypy (emulator/, turn_stub/)"
.venv/bin/mypy

step "pytest"
cd "$ROOT"
exec .venv/bin/python -m pytest "$@"
