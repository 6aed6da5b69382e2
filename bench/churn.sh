#!/usr/bin/env bash
# Store growth under churn: rounds of "publish COUNT messages of SIZE bytes
# to one queue, then drain it with acks" against a fresh hermodd --sync
# always (apply lag 100 ms), printing the store's used bytes (its high-water
# mark: LMDB reuses freed pages before it grows) after each round. With
# SIZE over 2,000 bytes each envelope is stored in slices (message_chunks);
# see docs/benchmarks.md, "Large messages and store growth, chunked".
#
#   bench/churn.sh [SIZE] [ROUNDS] [COUNT]   (default 3000 20 20000;
#                                            binaries from $HERMOD_BIN or build/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
require_tool jq jq
size=${1:-3000}
rounds=${2:-20}
count=${3:-20000}
state=$(mktemp -d /tmp/hermod-churn.XXXXXX)
trap 'stop_broker "$state"; rm -rf "$state"' EXIT

rm -rf "$state"
mkdir -p "$state/data"
"$HERMOD_BIN/hermodd" --listen 127.0.0.1:0 --data-dir "$state/data" --sync always \
  --apply-lag-ms 100 --log-level warn >"$state/out" 2>"$state/err" &
echo $! >"$state/pid"
wait_listening "$state"
hermod() { "$HERMOD_BIN/hermod" --server "$addr" "$@"; }

echo "| round | store used after the round (bytes) |"
echo "|---|---|"
for round in $(seq 1 "$rounds"); do
  hermod pub churn --count "$count" --size "$size" --inflight 500 >/dev/null
  hermod sub churn --count "$count" >/dev/null
  # The acks reach the index an apply lag later; their pages are free once
  # nothing is left in the index or the log (10 s at most).
  for _ in $(seq 1 200); do
    left=$(hermod stats --json | jq -r '.entries_stored + .log_unapplied_bytes')
    [ "$left" = 0 ] && break
    sleep 0.05
  done
  used=$(hermod stats --json | jq -r '.store_used_bytes')
  echo "| $round | $used |"
done
