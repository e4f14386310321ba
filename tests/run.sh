#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine, then runs it.
#   bash tests/run.sh [pytest args...]
# Installs only what is missing: the Debian packages of the real clients the tests drive
# (coturn's turnutils_uclient, chromium, firefox-esr, node, curl, iproute2, and for the compose
# suite Debian's Docker engine, docker-compose and debootstrap), a virtualenv in .venv
# with the project and its test extras, the Python SDK orga-ai from the current SDK sources, and
# the published Orga SDKs from tests/js/package-lock.json. Then ruff, mypy, a wheel built and
# smoke-tested from a clean venv, and pytest. Installing starts no service and changes no
# default browser; its output goes to a log that is shown only if something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT

step() { printf '\n== %s\n' "$*"; }
quietly() {  # quietly NAME CMD...: run CMD, show its output (kept in NAME.log) only if it fails
  local name=$1
  shift
  if ! "$@" >"$LOGS/$name.log" 2>&1; then
    echo "failed: $*" >&2
    tail -n 60 "$LOGS/$name.log" >&2
    return 1
  fi
}

step "Debian packages"
packages=(coturn chromium firefox-esr iproute2 curl redis-server)
# tests/e2e/compose: dockerd (started by the suite itself, never as a service), compose v1, and
# debootstrap for the stand-in python:3.11-slim base image (deploy/base/build-stand-in.sh).
packages+=(docker.io docker-compose debootstrap)
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  # Keep the machine as it was: no service started (a policy-rc.d that says no, for the
  # install only), and the default browser left alone (firefox-esr and chromium register as
  # x-www-browser alternatives).
  browser=$(update-alternatives --query x-www-browser 2>/dev/null | sed -n 's/^Value: //p' || true)
  policy=/usr/sbin/policy-rc.d
  own_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy"
    own_policy=1
  fi
  apt_install() {
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
  }
  status=0
  quietly apt apt_install "${missing[@]}" || status=$?
  [ -n "$own_policy" ] && $SUDO rm -f "$policy"
  [ "$status" = 0 ] || exit "$status"
  # We want coturn's clients, not its service; and an engine the compose suite starts itself.
  units=()
  [[ " ${missing[*]} " == *" coturn "* ]] && units+=(coturn)
  [[ " ${missing[*]} " == *" docker.io "* ]] && units+=(docker.socket docker containerd)
  if [ ${#units[@]} -gt 0 ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now "${units[@]}" >/dev/null 2>&1 || true
  fi
  if [ -n "$browser" ]; then
    $SUDO update-alternatives --set x-www-browser "$browser" >/dev/null 2>&1 || true
  fi
  echo "installed: ${missing[*]}"
else
  echo "all present: ${packages[*]}"
fi

step "Python virtualenv (.venv)"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
quietly pip .venv/bin/python -m pip install --disable-pip-version-check -e '.[test]'
echo "orga-emulator $(.venv/bin/python -c 'import emulator; print(emulator.__version__)') (editable)"
# An editable install compiles no bytecode, and where PYTHONDONTWRITEBYTECODE is set nothing
# writes it later: every emulator the suite starts would compile its modules again (~80 ms).
.venv/bin/python -m compileall -q emulator turn_stub >/dev/null

step "Python SDK orga-ai from the current SDK sources"
ORGA_PY_SDK="${ORGA_SDK_SRC:-../shared/orga-sdk-src}/packages/server/python"
if [ -d "$ORGA_PY_SDK" ]; then
  # setuptools writes build/ and src/*.egg-info beside the sources: build from a writable copy.
  sdk_copy=$(mktemp -d)
  cp -R "$ORGA_PY_SDK" "$sdk_copy/python" && chmod -R u+w "$sdk_copy"
  quietly orga-ai .venv/bin/python -m pip install --disable-pip-version-check "$sdk_copy/python"
  rm -rf "$sdk_copy"
  echo "orga-ai installed from $ORGA_PY_SDK"
else
  echo "no $ORGA_PY_SDK: the orga-ai SDK tests skip (set ORGA_SDK_SRC to the SDK monorepo)"
fi

step "Orga SDKs from the npm registry (tests/js)"
(cd tests/js && quietly npm npm ci --no-audit --no-fund --loglevel=error)
echo "tests/js/node_modules ready"

step "ruff"
.venv/bin/ruff check emulator turn_stub tests bench fixtures
.venv/bin/ruff format --check emulator turn_stub tests bench fixtures

step "mypy (emulator/, turn_stub/)"
.venv/bin/mypy

step "wheel and sdist, smoke-tested from a clean venv"
dist="$LOGS/dist" && wheel_venv="$LOGS/wheel-venv"
quietly build .venv/bin/python -m build --outdir "$dist" .
ls "$dist"
"$PYTHON" -m venv "$wheel_venv"
quietly wheel-install "$wheel_venv/bin/python" -m pip install --disable-pip-version-check "$dist"/*.whl
(cd "$LOGS" && "$wheel_venv/bin/python" -I "$ROOT/tests/kit/wheel_smoke.py")

step "pytest"
cd "$ROOT"
.venv/bin/python -m pytest "$@"
