#!/usr/bin/env bash
# hermod side by side with Redis 7 Streams, in one run: the standard
# workloads W1-W4 (bench/run-suite.sh) against a fresh `hermodd --sync
# always`, then the same shapes against Debian's redis-server started here on
# 127.0.0.1 (its own temp dir and port, stopped by PID), once with
# appendonly yes + appendfsync always (durable before the reply, like
# --sync always) and once with appendfsync everysec. Redis runs through
# hermod_redis_bench (bench/compare/redis_bench.cc, on hiredis): a
# recipient is a stream with a consumer group; XADD, XREADGROUP, XACK; a
# fan-out is one XADD per member in one pipeline.
#
# Writes bench/results/<date>-redis.json and prints a markdown table with
# hermod/Redis ratios.
#
#   bench/compare/redis.sh      (binaries from build/bin, or $HERMOD_BIN)
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
require_tool jq jq
require_tool redis-server redis-server
redis_bench="$HERMOD_BIN/hermod_redis_bench"
[ -x "$redis_bench" ] || { echo "$redis_bench is missing: install libhiredis-dev and rebuild" >&2; exit 1; }

work=$(mktemp -d /tmp/hermod-redis.XXXXXX)
state="$work/broker"
redis_pid=""
cleanup() {
  stop_broker "$state" || true
  stop_redis || true
  rm -rf "$work"
}
trap cleanup EXIT

# start_redis FSYNC: a fresh redis-server with AOF on, appendfsync FSYNC, on
# a port below the ephemeral range (so no client socket holds it); another
# port when that one turns out to be taken.
start_redis() {
  local attempt
  for attempt in 1 2 3 4 5; do
    rm -rf "$work/redis"
    mkdir -p "$work/redis"
    redis_port=$((20000 + RANDOM % 12000))
    redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$work/redis" --save "" \
      --appendonly yes --appendfsync "$1" --daemonize no --protected-mode yes \
      --logfile "$work/redis/log" &
    redis_pid=$!
    for _ in $(seq 1 500); do
      redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && kill -0 "$redis_pid" 2>/dev/null && return 0
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.01
    done
    stop_redis
  done
  echo "redis-server did not start" >&2
  cat "$work/redis/log" >&2
  return 1
}
stop_redis() {
  [ -n "$redis_pid" ] || return 0
  kill -TERM "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=""
}

declare -A hermod redis_always redis_everysec
# The same shapes for Redis (its latency takes --duration in seconds).
declare -A REDIS_ARGS=(
  [W1]="publish --queues 1000 --count 100000 --size 256 --inflight 1000"
  [W2]="consume --queues 1000 --credit 1000"
  [W3]="fanout --members 100 --count 10000 --size 256 --inflight 1000"
  [W4]="latency --rate 5000 --duration 10 --size 256"
)
# run_hermod W...: the workloads on one fresh broker (W2 consumes what W1
# published).
run_hermod() {
  local w
  stop_broker "$state"
  start_broker "$state"
  for w in "$@"; do
    echo "hermod $w: hermod bench ${WORKLOAD_ARGS[$w]}" >&2
    hermod[$w]=$("$HERMOD_BIN/hermod" --server "$addr" bench ${WORKLOAD_ARGS[$w]} --json)
  done
  stop_broker "$state"
}
# run_redis FSYNC W...: the same on one fresh redis-server.
run_redis() {
  local fsync=$1 w out
  shift
  stop_redis
  start_redis "$fsync"
  for w in "$@"; do
    echo "redis ($fsync) $w: hermod_redis_bench ${REDIS_ARGS[$w]}" >&2
    out=$("$redis_bench" --port "$redis_port" ${REDIS_ARGS[$w]})
    if [ "$fsync" = always ]; then redis_always[$w]=$out; else redis_everysec[$w]=$out; fi
  done
  stop_redis
}

# The three systems take turns workload by workload, so that a change in
# the machine's load over the run touches all three alike.
disk_before=$(disk_probe)
for group in "W1 W2" "W3" "W4"; do
  run_hermod $group
  run_redis always $group
  run_redis everysec $group
done

disk_after=$(disk_probe)

date=$(date -u +%Y-%m-%d)
mkdir -p bench/results
out="bench/results/$date-redis.json"
{
  echo "{\"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "\"git\": \"$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo -dirty)\","
  echo "\"machine\": $(machine_json),"
  echo "\"disk_before\": $disk_before, \"disk_after\": $disk_after,"
  echo "\"redis_server\": $(jq -Rn --arg v "$(redis-server --version)" '$v'),"
  echo "\"command\": \"bench/compare/redis.sh\", \"workloads\": {"
  sep=""
  for w in W1 W2 W3 W4; do
    printf '%s"%s": {"hermod": %s, "redis_always": %s, "redis_everysec": %s}\n' "$sep" "$w" \
      "${hermod[$w]}" "${redis_always[$w]}" "${redis_everysec[$w]}"
    sep=","
  done
  echo "}}"
} | jq . >"$out.tmp"
mv "$out.tmp" "$out"
echo "results: $out" >&2

v() { jq -r ".workloads.$1.$2.results$3" "$out"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
n() { printf "%.0f" "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
row() {  # row LABEL W PATH TARGET [ms]
  local h a e
  h=$(v "$2" hermod "$3"); a=$(v "$2" redis_always "$3"); e=$(v "$2" redis_everysec "$3")
  if [ "${5:-}" = ms ]; then
    echo "| $1 | $(ms "$h") | $(ms "$a") | $(ms "$e") | $(ratio "$h" "$a") | $(ratio "$h" "$e") | $4 |"
  else
    echo "| $1 | $(n "$h") | $(n "$a") | $(n "$e") | $(ratio "$h" "$a") | $(ratio "$h" "$e") | $4 |"
  fi
}
echo
echo "| workload | hermod (--sync always) | Redis always | Redis everysec | hermod / always | hermod / everysec | target |"
echo "|---|---|---|---|---|---|---|"
row "W1 publish, confirmed msg/s" W1 .msgs_per_s "≥ 2x always, ≥ 1x everysec"
row "W1 confirm latency p99" W1 .confirm_latency.p99_us "" ms
row "W2 consume, deliveries+acks/s" W2 .deliveries_per_s "≥ 1.5x always"
row "W3 fanout, deliveries+acks/s" W3 .deliveries_per_s "≥ 3x always"
row "W3 fanout, publishes/s" W3 .publishes_per_s ""
row "W3 end to end p99" W3 .end_to_end.p99_us "" ms
row "W4 end to end p50" W4 .end_to_end.p50_us "" ms
row "W4 end to end p99" W4 .end_to_end.p99_us "≤ 1x always (lower is better)" ms
row "W4 end to end p99.9" W4 .end_to_end.p999_us "hermod < 2 ms" ms
row "W4 end to end max" W4 .end_to_end.max_us "" ms
echo
echo "Disk before the run: $(disk_line "$disk_before")"
echo "Disk after the run:  $(disk_line "$disk_after")"
echo "Load average (1, 5, 15 min) at the start: $(jq -r .machine.loadavg_start "$out"); at the end: $(jq -r .machine.loadavg_end "$out")"
