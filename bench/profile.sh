#!/usr/bin/env bash
# Profiles remedy under one workload of the benchmark with `perf record`.
#
#   bench/profile.sh WORKLOAD [SECONDS]
#   bench/profile.sh WORKLOAD cpu        (the CPU per request only, no profile)
#
# Needs a finished `bench/run.sh` in BENCH_WORK (its database `remedy_bench`, its request
# bodies in $BENCH_WORK/req, its release build and load generator). Starts remedy (release,
# BENCH_REMEDY_BIN to profile another build) on BENCH_PORT+400, drives WORKLOAD
# (order, walk, overdue, timeline, order-scoped, walk-scoped, overdue-scoped) with 16
# clients for 2 + SECONDS (default 15) seconds, records remedy's CPU samples for the last
# SECONDS - 2 with `perf record -F 499 --call-graph dwarf`, and prints:
#   - first, without the profiler: 10 s of the same load, and the CPU time remedy and the
#     PostgreSQL backends of the database spent per request (from /proc/PID/stat; steadier
#     from run to run than req/s on a shared VM);
#   - the load generator's line (req/s, p50, p99, errors) under the profiler (slower than
#     without it: compare profiles with each other, not with bench/run.sh's figures);
#   - the share of samples per top-level cost (inclusive), from `perf report --children`;
#   - the hottest functions by self time.
# The raw data is kept as $BENCH_WORK/profile-WORKLOAD.data (perf report -i ...).
set -euo pipefail

W="${1:?workload}"
SECONDS_="${2:-15}"
WORK="${BENCH_WORK:-/var/tmp/remedy-bench}"
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
PORT=$(( ${BENCH_PORT:-18090} + 400 ))
REMEDY="${BENCH_REMEDY_BIN:-$WORK/target/release/remedy}"
LOADGEN="$WORK/loadgen-target/release/remedy-loadgen"
SECRET="remedy-bench-secret-0123456789abcdef0123456789"
DB_URL="$PG/remedy_bench"
REQ="$WORK/req"
[[ -x $REMEDY && -x $LOADGEN && -d $REQ ]] || { echo "run bench/run.sh first" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }

case "$W" in
  *-scoped)
    order_args=()
    while read -r ref; do order_args+=(--order "$ref"); done < "$REQ/granted-references.txt"
    TOKEN=$(REMEDY_DATABASE_URL="$DB_URL" REMEDY_JWT_SECRET="$SECRET" "$REMEDY" token issue \
      --subject bench-profile-evaluator --role EVALUATOR "${order_args[@]}" --ttl 1h 2>/dev/null) ;;
  *)
    TOKEN=$(REMEDY_DATABASE_URL="$DB_URL" REMEDY_JWT_SECRET="$SECRET" "$REMEDY" token issue \
      --subject bench-profile --role ADMIN --ttl 1h 2>/dev/null) ;;
esac
case "$W" in
  order|timeline) ARGS=(--body "$REQ/remedy-$W.json" --values "$REQ/references.txt" --var reference) ;;
  order-scoped) ARGS=(--body "$REQ/remedy-order-scoped.json" --values "$REQ/granted-references.txt" --var reference) ;;
  walk) ARGS=(--mode walk --body "$REQ/remedy-measures.json" --page-info /data/measures/pageInfo) ;;
  walk-scoped) ARGS=(--mode walk --body "$REQ/remedy-measures-scoped.json" --page-info /data/measures/pageInfo) ;;
  overdue|overdue-scoped|progress) ARGS=(--body "$REQ/remedy-$W.json") ;;
  *) echo "unknown workload $W" >&2; exit 2 ;;
esac

REMEDY_DATABASE_URL="$DB_URL?sslmode=disable" REMEDY_JWT_SECRET="$SECRET" REMEDY_RATE_LIMIT_PER_MINUTE=0 \
  REMEDY_LISTEN="127.0.0.1:$PORT" REMEDY_LOG=warn "$REMEDY" serve >"$WORK/out/profile-$W.log" 2>&1 &
RPID=$!
trap 'kill $RPID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done

# CPU time (user + system, in clock ticks) of remedy and of every PostgreSQL backend.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() { local t=0 p; for p in $(pgrep -f 'postgres: .*[a-z_]+ remedy_bench [0-9]' || true); do t=$((t + $(ticks "$p"))); done; echo "$t"; }
HZ=$(getconf CLK_TCK)

# Unprofiled first: remedy's and PostgreSQL's CPU per request, then the same load profiled.
OUT=$("$LOADGEN" --url "http://127.0.0.1:$PORT/graphql" --token "$TOKEN" --concurrency 16 \
  --duration 2 --warmup 1 --label warm "${ARGS[@]}")
r0=$(ticks "$RPID"); p0=$(pg_ticks)
OUT=$("$LOADGEN" --url "http://127.0.0.1:$PORT/graphql" --token "$TOKEN" --concurrency 16 \
  --duration 10 --warmup 0 --label "$W/remedy" "${ARGS[@]}")
r1=$(ticks "$RPID"); p1=$(pg_ticks)
echo "$OUT"
OK=$(jq .ok <<<"$OUT")
awk -v r=$((r1 - r0)) -v p=$((p1 - p0)) -v n="$OK" -v hz="$HZ" 'BEGIN {
  printf "CPU per request (10 s, unprofiled): remedy %.2f ms, PostgreSQL backends %.2f ms\n", r * 1000 / hz / n, p * 1000 / hz / n }'
[[ $SECONDS_ == cpu ]] && exit 0

"$LOADGEN" --url "http://127.0.0.1:$PORT/graphql" --token "$TOKEN" --concurrency 16 \
  --duration "$SECONDS_" --warmup 2 --label "$W/remedy (profiled)" "${ARGS[@]}" &
LG=$!
sleep 4
perf record -q -F 499 --call-graph dwarf,16384 -p "$RPID" -o "$WORK/profile-$W.data" \
  -- sleep $(( SECONDS_ - 2 )) 2>/dev/null
wait $LG
echo
echo "== inclusive share (children), top entries"
perf report -i "$WORK/profile-$W.data" --children --sort symbol --stdio -g none \
  --percent-limit 4 2>/dev/null | grep -v '^#' | grep -v '^$' | sed 's/ *-  *- *$//' | cut -c1-200 | head -70
echo
echo "== self time, top 40"
perf report -i "$WORK/profile-$W.data" --no-children --sort dso,symbol --stdio -g none \
  --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$' | sed 's/ *$//' | cut -c1-200 | head -45
