#!/usr/bin/env bash
# Runs CMD… against a throwaway PostgreSQL: initdb into a temp dir (as the `postgres` user when
# run as root), start it on a free loopback port below the ephemeral range with a random
# password, export HAECHI_TEST_PG_URL, run CMD, stop the server and remove the dir on exit.
# Exits with CMD's exit code. Same procedure as test/helpers/pg.ts.
#
#   scripts/with-postgres.sh node scripts/run-tests.mjs
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 CMD [ARGS…]" >&2
  exit 2
fi

find_bin() {
  if [ -n "${HAECHI_PG_BIN:-}" ]; then echo "$HAECHI_PG_BIN"; return; fi
  local d
  for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -nr); do
    if [ -x "$d/initdb" ]; then echo "$d"; return; fi
  done
  echo "with-postgres: PostgreSQL binaries not found (set HAECHI_PG_BIN)" >&2
  exit 1
}
BIN="$(find_bin)"

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

port_is_free() {
  # Succeeds when nothing accepts on 127.0.0.1:$1 and we can bind it.
  node -e '
    const s = require("net").createServer();
    s.once("error", () => process.exit(1));
    s.listen({ port: Number(process.argv[1]), host: "127.0.0.1", exclusive: true }, () => s.close(() => process.exit(0)));
  ' "$1"
}

pick_port() {
  local low=32768 high port i
  if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    low="$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range)"
  fi
  high=$((low - 1))
  for i in $(seq 1 50); do
    port=$((10000 + (RANDOM * 32768 + RANDOM) % (high - 10000 + 1)))
    if port_is_free "$port"; then echo "$port"; return; fi
  done
  echo "with-postgres: no free loopback port" >&2
  exit 1
}

ROOT="$(mktemp -d "${TMPDIR:-/tmp}/haechi-pg-XXXXXX")"
DATA="$ROOT/data"
LOG="$ROOT/postgres.log"
STARTED=0

cleanup() {
  if [ "$STARTED" -eq 1 ]; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
      as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

chmod 700 "$ROOT"
PASSWORD="$(head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
printf '%s' "$PASSWORD" >"$ROOT/pw"
chmod 600 "$ROOT/pw"
: >"$LOG"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$ROOT"; fi

as_owner "$BIN/initdb" -D "$DATA" -U haechi --pwfile="$ROOT/pw" -A scram-sha-256 \
  -E UTF8 --no-locale --no-sync --no-instructions >/dev/null
rm -f "$ROOT/pw"

for attempt in 1 2 3 4; do
  PORT="$(pick_port)"
  if as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-c port=$PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$ROOT -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null; then
    STARTED=1
    break
  fi
done
if [ "$STARTED" -ne 1 ]; then
  echo "with-postgres: PostgreSQL did not start:" >&2
  tail -n 20 "$LOG" >&2 || true
  exit 1
fi

export HAECHI_TEST_PG_URL="postgres://haechi:${PASSWORD}@127.0.0.1:${PORT}/postgres"
set +e
"$@"
status=$?
set -e
exit "$status"
