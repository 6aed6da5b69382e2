#!/usr/bin/env bash
# The console's queues page over many queues (issue 15's figure): a fresh
# broker gets COUNT queues (default 1,000,000; one message each, `hermod
# bench queues`) and the first DEEP of them more messages, so that sorting
# has something to rank. Then, RUNS times each (median printed):
#   - time to the first byte of /api/queues, by name (a page of 50) and
#     ranked by depth, bytes and age (the first 50), with curl;
#   - the same two questions through `hermod queue ls`, for comparison;
#   - time until a browser shows the queues table (bench/console_render.mjs:
#     Debian's chromium, headless, through playwright-core), by name and
#     by depth.
#
#   bench/console.sh [COUNT] [RUNS]      (HERMOD_BIN: default build/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
runs=${2:-5}
deep=1000
HERMOD_BIN=${HERMOD_BIN:-build/bin}
state=$(mktemp -d /tmp/hermod-console.XXXXXX)
cleanup() {
  if [ -f "$state/b/pid" ]; then kill "$(cat "$state/b/pid")" 2>/dev/null || true; fi
  rm -rf "$state"
}
trap cleanup EXIT
source bench/lib.sh

HERMODD_ARGS="--http-listen 127.0.0.1:0" start_broker "$state/b"
http=$(sed -n 's/^metrics on //p' "$state/b/out" | tail -1)
cli=("$HERMOD_BIN/hermod" --server "$addr")
echo "creating $count queues ..." >&2
"${cli[@]}" bench queues --count "$count" --size 64 --json >"$state/queues.json"
"${cli[@]}" bench publish --queues "$deep" --count $((deep * 20)) --size 64 --json >/dev/null

# Rankings read the index, which new queues reach after the apply lag:
# wait (bounded) until it holds all of them.
indexed() { "${cli[@]}" stats --json | grep -o '"queues":[0-9]*' | cut -d: -f2; }
for _ in $(seq 1 600); do
  [ "$(indexed)" -ge "$count" ] && break
  sleep 0.5
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ttfb() {
  local path=$1 times=()
  for _ in $(seq 1 "$runs"); do
    times+=("$(curl -s -o /dev/null -w '%{time_starttransfer}' "http://$http$path" |
      awk '{printf "%.1f", $1 * 1000}')")
  done
  printf '%s\n' "${times[@]}" | median
}

echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "queues in the index: $(indexed)"
for sort in name depth bytes age; do
  echo "GET /api/queues?sort=$sort&limit=50: first byte after $(ttfb "/api/queues?sort=$sort&limit=50") ms (median of $runs)"
done
echo "GET /api/overview: first byte after $(ttfb /api/overview) ms (median of $runs)"
# The same questions from the CLI (`queue ls`, over the wire protocol),
# process start included, for comparison.
for sort in name depth; do
  times=()
  for _ in $(seq 1 "$runs"); do
    t0=$(date +%s%N)
    "${cli[@]}" queue ls --sort "$sort" --limit 50 >/dev/null
    times+=("$(( ($(date +%s%N) - t0) / 100000 ))")
  done
  echo "hermod queue ls --sort $sort --limit 50: $(printf '%s\n' "${times[@]}" | median | awk '{printf "%.1f", $1 / 10}') ms (median of $runs, the CLI's start included)"
done
for sort in name depth; do
  node bench/console_render.mjs "http://$http" "$sort" "$runs"
done
