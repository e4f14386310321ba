#!/bin/sh
# orga-turn-secret [--secret NAME] VAR COMMAND [ARGS...]: run COMMAND with the compose stack's
# TURN secret in VAR.
#
# Both services of docker-compose.yml run through this: the emulator signs ice-config credentials
# with the secret, turn_stub checks them with it, so they must share it, and port 3478 is
# published, so it must not be one anybody can read (with it, anyone who reaches the port mints
# credentials). The secret is ORGA_TURN_SECRET when set, refused if it is too short or the
# constant older compose files fell back to. Unset, the first service to start generates a random
# one into the stack's named volume (ORGA_TURN_SECRET_DIR) and both read it from there: zero
# configuration, and private to the stack.
#
# `--secret NAME` does the same for another secret of the stack: ORGA_<NAME>_SECRET, or the file
# NAME-secret beside turn-secret. docker-compose.replicas.yml chains two calls so that both
# emulator replicas share the token signing secret (`--secret signing`) as well as the TURN one.
set -eu

MIN_LENGTH=16
PUBLIC_SECRETS="orga-emulator-dev-turn-secret"  # published in this repository's history

refuse() {
  echo "orga-turn-secret: $*" >&2
  exit 78  # EX_CONFIG
}

usage="usage: orga-turn-secret [--secret NAME] VAR COMMAND [ARGS...]"
name=turn
if [ "${1:-}" = "--secret" ]; then
  [ $# -ge 2 ] || refuse "$usage"
  name=$2
  shift 2
fi
case $name in
  "" | *[!a-z]*) refuse "--secret takes a lowercase name (letters only): $name" ;;
esac
[ $# -ge 2 ] || refuse "$usage"
var=$1
shift
source_var=ORGA_$(echo "$name" | tr a-z A-Z)_SECRET
eval "secret=\${$source_var:-}"
if [ -n "$secret" ]; then
  for known in $PUBLIC_SECRETS; do
    [ "$secret" != "$known" ] \
      || refuse "$source_var is a publicly known value: unset it (a random secret is made) or choose your own, e.g. \$(openssl rand -hex 16)"
  done
  [ "${#secret}" -ge "$MIN_LENGTH" ] \
    || refuse "$source_var is ${#secret} characters; it needs at least $MIN_LENGTH, e.g. \$(openssl rand -hex 16)"
else
  dir=${ORGA_TURN_SECRET_DIR:-/var/lib/orga-emulator/secret}
  file=$dir/$name-secret
  if [ ! -s "$file" ]; then
    umask 077
    draft=$(mktemp "$dir/.$name-secret.XXXXXX") || refuse "cannot write to $dir"
    python -c 'import secrets; print(secrets.token_urlsafe(32))' >"$draft"
    # link(2) fails if the file exists: when both services start at once, the first one wins
    # and the other reads its secret.
    ln "$draft" "$file" 2>/dev/null || true
    rm -f "$draft"
  fi
  secret=$(cat "$file")
  [ "${#secret}" -ge "$MIN_LENGTH" ] || refuse "$file holds no usable secret: remove the volume"
fi
unset "$source_var"
export "$var=$secret"
exec "$@"
