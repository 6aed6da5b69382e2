#!/usr/bin/env bash
# A/B check of two builds on one workload, in alternating pairs, each run on
# a fresh broker and data directory (so no run pays for the one before), to
# tell a regression from this machine's noise: ratios of medians hold on a
# noisy machine, single runs do not.
#
#   bench/ab.sh OLD_BIN NEW_BIN [PAIRS] [-- BENCH ARGS...]
#
# OLD_BIN and NEW_BIN are directories holding hermodd and hermod (e.g. a
# worktree's build/bin); each side uses its own CLI, so client-side changes
# count too. Default workload: W1 (bench publish, 1,000 queues, 100,000
# messages of 256 bytes, 1 publisher, 1,000 in flight), --sync always.
# Prints each pair and the medians of the result field FIELD (environment;
# default msgs_per_s; the first of that name in the --json output, e.g.
# FIELD=p99_us for the end-to-end p99 of `latency`; FIELD=broker_cpu_ms:
# the broker's CPU time for the run, from /proc). PREFILL (environment)
# names a bench run made first on each fresh broker, e.g. for W2:
#   PREFILL="publish --queues 1000 --count 100000 --size 256 --inflight 1000" \
#     FIELD=deliveries_per_s bench/ab.sh OLD NEW 5 -- consume --queues 1000 --credit 1000 --count 100000
# PREFILL_NEW, when set, is NEW's prefill instead (one build, two
# workloads: e.g. the same binary twice, NEW's prefill asking for receipts).
# HERMODD_ARGS_NEW, when set, is NEW's hermodd arguments instead of
# HERMODD_ARGS (one build, two configurations: e.g. the console's HTTP
# listener on, HERMODD_ARGS_NEW="--http-listen 127.0.0.1:0").
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: bench/ab.sh OLD_BIN NEW_BIN [PAIRS] [-- BENCH ARGS...]}
new=${2:?usage: bench/ab.sh OLD_BIN NEW_BIN [PAIRS] [-- BENCH ARGS...]}
shift 2
pairs=5
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  pairs=$1
  shift
fi
[ "${1:-}" = "--" ] && shift
args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  args=(publish --queues 1000 --count 100000 --size 256 --publishers 1 --inflight 1000)
fi

state=$(mktemp -d /tmp/hermod-ab.XXXXXX)
cleanup() {
  if [ -f "$state/b/pid" ]; then kill "$(cat "$state/b/pid")" 2>/dev/null || true; fi
  rm -rf "$state"
}
trap cleanup EXIT
source bench/lib.sh

field=${FIELD:-msgs_per_s}

# one BIN PREFILL: a fresh broker from BIN, the prefill and the workload
# with BIN's CLI; prints the field.
one() {
  HERMOD_BIN=$1
  local prefill=$2
  HERMODD_ARGS=$3
  start_broker "$state/b"
  if [ -n "$prefill" ]; then
    # shellcheck disable=SC2086  # a prefill is a list of words
    "$HERMOD_BIN/hermod" --server "$addr" bench $prefill --json >/dev/null
  fi
  local json
  json=$("$HERMOD_BIN/hermod" --server "$addr" bench "${args[@]}" --json)
  if [ "$field" = broker_cpu_ms ]; then
    # The broker's CPU time (user + system) for the whole run: steadier
    # than throughput on a shared machine.
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' "/proc/$(cat "$state/b/pid")/stat"
  else
    grep -o "\"$field\":[0-9.]*" <<<"$json" | head -1 | cut -d: -f2
  fi
  stop_broker "$state/b"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

old_args=${HERMODD_ARGS:-}
new_args=${HERMODD_ARGS_NEW:-${HERMODD_ARGS:-}}
olds=()
news=()
for i in $(seq 1 "$pairs"); do
  # Alternate which side goes first, so a drift in the machine's speed
  # does not favour one side.
  if [ $((i % 2)) -eq 1 ]; then
    o=$(one "$old" "${PREFILL:-}" "$old_args")
    n=$(one "$new" "${PREFILL_NEW:-${PREFILL:-}}" "$new_args")
  else
    n=$(one "$new" "${PREFILL_NEW:-${PREFILL:-}}" "$new_args")
    o=$(one "$old" "${PREFILL:-}" "$old_args")
  fi
  olds+=("$o")
  news+=("$n")
  printf 'pair %d: old %s  new %s %s\n' "$i" "$o" "$n" "$field"
done
mo=$(printf '%s\n' "${olds[@]}" | median)
mn=$(printf '%s\n' "${news[@]}" | median)
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "workload: hermod bench ${args[*]} (--sync always, fresh broker per run)"
awk -v o="$mo" -v n="$mn" -v f="$field" \
  'BEGIN {printf "median %s: old %.2f  new %.2f: new/old = %.2fx\n", f, o, n, n/o}'
