#!/usr/bin/env bash
# The foundation issue's two figures, measured against hermodd --sync always:
#   group commit:  --inflight 1000 vs --inflight 1   (want >= 20x)
#   spreading:     --spread 1000   vs --spread 1     (want >= 0.8x)
# Each run gets a fresh broker on a fresh data directory, so no run pays for
# the index apply of the one before; runs alternate and the median counts.
#
#   bench/foundation.sh [RUNS]      (default 5; binaries from build/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=build/bin
work=$(mktemp -d /tmp/hermod-bench.XXXXXX)
broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

start_broker() {
  rm -rf "$work/data"
  "$bin/hermodd" --listen 127.0.0.1:0 --data-dir "$work/data" --sync always \
    --log-level warn > "$work/out" 2>"$work/err" &
  broker_pid=$!
  for _ in $(seq 1 100); do
    if grep -q '^listening on ' "$work/out"; then break; fi
    sleep 0.05
  done
  addr=$(sed -n 's/^listening on //p' "$work/out")
  [ -n "$addr" ] || { echo "hermodd did not start" >&2; cat "$work/err" >&2; exit 1; }
}
stop_broker() { kill "$broker_pid"; wait "$broker_pid" || true; broker_pid=""; }

# run NAME ARGS... : one fresh-broker measurement, prints msgs/s
run() {
  start_broker
  "$bin/hermod" --server "$addr" pub bench "$@" --json | sed -n 's/.*"msgs_per_s":\([0-9.]*\).*/\1/p'
  stop_broker
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A results
for i in $(seq 1 "$runs"); do
  results[inflight1000]+="$(run --count 100000 --size 256 --inflight 1000) "
  results[inflight1]+="$(run --count 5000 --size 256 --inflight 1) "
  results[spread1000]+="$(run --count 100000 --size 256 --inflight 1000 --spread 1000) "
  results[spread1]+="$(run --count 100000 --size 256 --inflight 1000 --spread 1) "
done

m() { echo "${results[$1]}" | tr ' ' '\n' | grep -v '^$' | median; }
i1000=$(m inflight1000); i1=$(m inflight1); s1000=$(m spread1000); s1=$(m spread1)
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)"
echo "runs per figure: $runs (median), --sync always, 256-byte payloads"
printf '%-48s %12s msg/s   runs: %s\n' "pub --count 100000 --inflight 1000" "$i1000" "${results[inflight1000]}"
printf '%-48s %12s msg/s   runs: %s\n' "pub --count 5000 --inflight 1" "$i1" "${results[inflight1]}"
printf '%-48s %12s msg/s   runs: %s\n' "pub --count 100000 --inflight 1000 --spread 1000" "$s1000" "${results[spread1000]}"
printf '%-48s %12s msg/s   runs: %s\n' "pub --count 100000 --inflight 1000 --spread 1" "$s1" "${results[spread1]}"
awk -v a="$i1000" -v b="$i1" 'BEGIN {printf "group commit: inflight 1000 / inflight 1 = %.1fx (want >= 20x)\n", a/b}'
awk -v a="$s1000" -v b="$s1" 'BEGIN {printf "spreading:    spread 1000 / spread 1     = %.2fx (want >= 0.8x)\n", a/b}'
