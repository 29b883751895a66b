#!/usr/bin/env bash
# Real clients against a real remedy: starts the built binary (`remedy serve --demo`) on a
# fresh SQLite database, and again on a fresh PostgreSQL database when
# REMEDY_TEST_DATABASE_URL names a PostgreSQL server, and runs the Node tests (node --test,
# TAP output) against each. Run `npm ci` here first; build the binary with `cargo build`.
#
#   tests/clients/run.sh                       # SQLite only
#   REMEDY_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test tests/clients/run.sh
#
# REMEDY_BIN overrides the binary ($CARGO_TARGET_DIR/debug/remedy, else target/debug/remedy);
# CHROMIUM_PATH the browser (/usr/bin/chromium). Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(cd ../.. && pwd)"
BIN="${REMEDY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/remedy}"
# absolute: the notification tests spawn their own servers from it
[[ -d "$(dirname "$BIN")" ]] && BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
if [[ ! -x "$BIN" ]]; then
  echo "no remedy binary at $BIN: run cargo build (or set REMEDY_BIN)" >&2
  exit 2
fi
if [[ ! -d node_modules ]]; then
  echo "run npm ci in tests/clients first" >&2
  exit 2
fi

WORK="$(mktemp -d)"
PG_BASE=""
PIDS=()
DROP=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for db in "${DROP[@]}"; do
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_against LABEL DATABASE_URL: serves the demo plan over the database, issues tokens,
# runs every test; returns node's exit status.
run_against() {
  local label="$1" url="$2" port secret pid admin status=0
  port="$(free_port)"
  secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  echo "# remedy on $label, http://127.0.0.1:$port"
  REMEDY_DATABASE_URL="$url" REMEDY_LISTEN="127.0.0.1:$port" REMEDY_JWT_SECRET="$secret" \
    REMEDY_WORKERS=2 REMEDY_LOG="${REMEDY_LOG:-warn}" OTEL_EXPORTER_OTLP_ENDPOINT= \
    "$BIN" serve --demo >"$WORK/$label.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "remedy exited before it was ready:" >&2
      cat "$WORK/$label.log" >&2
      return 1
    fi
    sleep 0.2
  done
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null
  admin="$(REMEDY_DATABASE_URL="$url" REMEDY_JWT_SECRET="$secret" \
    "$BIN" token issue --subject node-clients --role ADMIN --ttl 1h 2>/dev/null)"
  REMEDY_URL="http://127.0.0.1:$port" REMEDY_TOKEN="$admin" \
    REMEDY_BIN="$BIN" REMEDY_TEST_BACKEND="$label" REMEDY_PG_BASE="$PG_BASE" \
    node --test --test-reporter=tap --test-concurrency=1 test/ || status=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [[ $status -ne 0 ]]; then
    echo "# remedy's log ($label):"
    sed 's/^/#   /' "$WORK/$label.log" | tail -50
  fi
  return "$status"
}

failed=0
run_against sqlite "sqlite://$WORK/remedy.db?mode=rwc" || failed=1

if [[ "${REMEDY_TEST_DATABASE_URL:-}" == postgres* ]]; then
  PG_BASE="${REMEDY_TEST_DATABASE_URL%/*}"
  db="remedy_node_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  psql "$PG_BASE/postgres" -qc "CREATE DATABASE \"$db\"" >/dev/null
  DROP+=("$db")
  run_against postgresql "$PG_BASE/$db" || failed=1
fi

exit "$failed"
