#!/usr/bin/env bash
# A stand-in for python:3.11-slim, built locally where Docker Hub cannot be reached (as in CI
# here): Debian bookworm from `debootstrap --variant=minbase` with the python3 of the real image's
# Debian base, imported and tagged python:3.11-slim so the Dockerfile builds unchanged.
#   bash deploy/base/build-stand-in.sh        (as root; needs debootstrap and a running dockerd)
# Does nothing if the tag exists. The root filesystem is kept as a tarball in a cache directory
# (ORGA_STAND_IN_CACHE, default ~/.cache/orga-emulator), so a dockerd that lost its images gets
# the tag back from `docker import` in seconds, without debootstrap.
set -euo pipefail

TAG=${ORGA_STAND_IN_TAG:-python:3.11-slim}
DOCKER=${DOCKER:-docker}
CACHE=${ORGA_STAND_IN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orga-emulator}
TARBALL=$CACHE/stand-in-python-3.11-slim-bookworm.tar
PACKAGES=python3,python3-pip,python3-venv,python-is-python3,passwd,ca-certificates
# What the real image's PATH starts with: pip installs console scripts in /usr/local/bin.
IMAGE_PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin

if "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  echo "$TAG present"
  exit 0
fi

debian_mirror() {  # the Debian archive apt uses on this machine (deb822 or one-line sources)
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk 'tolower($1)=="uris:" {uri=$2} tolower($1)=="suites:" && / bookworm( |$)/ {print uri; exit}' "$file"
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1=="deb" && $0 ~ / bookworm( |$)/ {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' || true
}

if [ ! -s "$TARBALL" ]; then
  mirror=$(debian_mirror | head -n1) || true
  if [ -z "$mirror" ]; then
    echo "build-stand-in: no bookworm archive in /etc/apt/sources.list*" >&2
    exit 1
  fi
  mkdir -p "$CACHE"
  root=$(mktemp -d)
  # debootstrap mounts proc and sys in the target: never delete through a mount left behind.
  cleanup() {
    umount -R "$root/proc" "$root/sys" 2>/dev/null || true
    rm -rf --one-file-system "$root"
  }
  trap cleanup EXIT
  echo "debootstrap bookworm from $mirror"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" "$mirror" \
    >"$CACHE/debootstrap.log" 2>&1 || { tail -n 40 "$CACHE/debootstrap.log" >&2; exit 1; }
  # The official image's pip installs system-wide; Debian's marks the interpreter as
  # externally managed (PEP 668).
  rm -f "$root/usr/lib/python3.11/EXTERNALLY-MANAGED"
  # This machine reaches the package registries through a TLS-inspecting path: trust what it
  # trusts. Its extra CAs go where update-ca-certificates keeps them, and the bundle is copied.
  if [ -d /usr/local/share/ca-certificates ]; then
    cp -R /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
  fi
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar --numeric-owner -C "$root" -cf "$TARBALL.part" .
  mv "$TARBALL.part" "$TARBALL"
fi

"$DOCKER" import --change "ENV PATH=$IMAGE_PATH" --change 'CMD ["python3"]' \
  "$TARBALL" "$TAG" >/dev/null
echo "$TAG imported from $TARBALL"
