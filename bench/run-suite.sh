#!/usr/bin/env bash
# The standard suite of `hermod bench` workloads (docs/benchmarks.md), each
# against a fresh `hermodd --sync always` on a temporary data directory,
# 256-byte payloads:
#   W1 publish 100,000 over 1,000 queues, 1 publisher, 1,000 in flight
#   W2 consume those (same broker, right after W1) with credit 1,000
#   W3 fanout 10,000 to a group of 100 online members
#   W4 latency at 5,000/s for 10 s
#   W5 10,000 idle subscribed connections
#   W6 1,000,000 queues of one message, then a restart (bench/restart-broker.sh)
# Writes bench/results/<date>.json (machine, disk, load, commands, every
# report; <date>-W1-W2.json when given workloads) and prints a markdown table.
#
#   bench/run-suite.sh [W1 W2 ...]     (default: all; binaries from build/bin,
#                                       or $HERMOD_BIN)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
require_tool jq jq

workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(W1 W2 W3 W4 W5 W6)
work=$(mktemp -d /tmp/hermod-suite.XXXXXX)
state="$work/broker"
cleanup() {
  stop_broker "$state" || true
  rm -rf "$work"
}
trap cleanup EXIT

declare -A reports commands proc
run_workload() {
  local w=$1 args
  args=${WORKLOAD_ARGS[$w]}
  if [ "$w" = W6 ]; then
    args="$args --restart-cmd 'bench/restart-broker.sh $state'"
  fi
  # W2 consumes what W1 left, on W1's broker.
  if [ "$w" != W2 ] || [ ! -f "$state/pid" ]; then
    stop_broker "$state"
    start_broker "$state"
    if [ "$w" = W2 ]; then
      echo "W2 without W1: filling the queues first" >&2
      eval "$HERMOD_BIN/hermod --server $addr bench ${WORKLOAD_ARGS[W1]} --json" >/dev/null
    fi
  fi
  addr=$(cat "$state/listen")
  commands[$w]="hermod bench $args --json"
  echo "$w: hermod bench $args" >&2
  reports[$w]=$(eval "$HERMOD_BIN/hermod --server $addr bench $args --json")
  # The broker's RSS split as the kernel sees it once the workload is done:
  # anonymous memory (its heap) and file pages (LMDB's map). Stats'
  # rss_bytes counts both.
  proc[$w]=$(proc_status "$(cat "$state/pid")")
  # W2 follows W1 on the same broker; every other workload gets a new one.
  if [ "$w" != W1 ]; then stop_broker "$state"; fi
}

disk_before=$(disk_probe)
for w in "${workloads[@]}"; do run_workload "$w"; done
stop_broker "$state"
disk_after=$(disk_probe)

date=$(date -u +%Y-%m-%d)
mkdir -p bench/results
# A run of the whole suite is bench/results/<date>.json; a run of some
# workloads names them, so it never replaces the whole suite's file.
if [ $# -eq 0 ]; then out="bench/results/$date.json"; else out="bench/results/$date-$(IFS=-; echo "$*").json"; fi
{
  echo "{"
  echo "\"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "\"git\": \"$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo -dirty)\","
  echo "\"machine\": $(machine_json),"
  echo "\"disk_before\": $disk_before, \"disk_after\": $disk_after,"
  echo "\"command\": \"bench/run-suite.sh ${workloads[*]}\","
  echo "\"workloads\": {"
  sep=""
  for w in "${workloads[@]}"; do
    printf '%s"%s": {"command": %s, "report": %s, "broker_proc_status": %s}\n' "$sep" "$w" \
      "$(jq -Rn --arg c "${commands[$w]}" '$c')" "${reports[$w]}" "${proc[$w]}"
    sep=","
  done
  echo "}}"
} | jq . >"$out.tmp"
mv "$out.tmp" "$out"
echo "results: $out" >&2

# The markdown table.
get() { jq -r ".workloads.$1.report.results$2" "$out"; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
n() { printf "%.0f" "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo
echo "| workload | figure | measured | target |"
echo "|---|---|---|---|"
for w in "${workloads[@]}"; do
  case $w in
    W1) echo "| W1 publish | confirmed msg/s | $(n "$(get W1 .msgs_per_s)") ($(get W1 .mb_per_s) MB/s) | ≥ 2x Redis always, ≥ 1x everysec (bench/compare/redis.sh) |"
        echo "| W1 publish | confirm latency p50 / p99 / p99.9 / max | $(ms "$(get W1 .confirm_latency.p50_us)") / $(ms "$(get W1 .confirm_latency.p99_us)") / $(ms "$(get W1 .confirm_latency.p999_us)") / $(ms "$(get W1 .confirm_latency.max_us)") | |" ;;
    W2) echo "| W2 consume | deliveries+acks/s | $(n "$(get W2 .deliveries_per_s)") | ≥ 1.5x Redis always |" ;;
    W3) echo "| W3 fanout | deliveries+acks/s | $(n "$(get W3 .deliveries_per_s)") | ≥ 3x Redis always |"
        echo "| W3 fanout | group publishes/s | $(n "$(get W3 .publishes_per_s)") | |"
        echo "| W3 fanout | end to end p50 / p99 / p99.9 | $(ms "$(get W3 .end_to_end.p50_us)") / $(ms "$(get W3 .end_to_end.p99_us)") / $(ms "$(get W3 .end_to_end.p999_us)") | |" ;;
    W4) echo "| W4 latency | end to end p50 / p99 / p99.9 / max | $(ms "$(get W4 .end_to_end.p50_us)") / $(ms "$(get W4 .end_to_end.p99_us)") / $(ms "$(get W4 .end_to_end.p999_us)") / $(ms "$(get W4 .end_to_end.max_us)") | p99 ≤ Redis always; p99.9 < 2 ms |" ;;
    W5) echo "| W5 connections | broker RSS per idle subscribed connection | $(n "$(get W5 .rss_per_connection_bytes)") B | ≤ 2 KiB |"
        echo "| W5 connections | connections/s (connect, Hello, Subscribe) | $(n "$(get W5 .connects_per_s)") | |" ;;
    W6) echo "| W6 queues | 1,000,000 queues created | $(awk -v s="$(get W6 .seconds)" 'BEGIN {printf "%.1f s", s}') ($(n "$(get W6 .queues_per_s)")/s) | |"
        echo "| W6 queues | broker RSS growth, loaded / after restart | $(mib "$(get W6 .rss_growth_bytes)") / $(mib "$(get W6 .restart.rss_growth_bytes)") | after restart ≤ 100 MB |"
        echo "| W6 queues | broker RSS after restart: anonymous (heap) / file pages (LMDB map), from /proc | $(mib "$(jq -r '.workloads.W6.broker_proc_status.RssAnon_bytes' "$out")") / $(mib "$(jq -r '.workloads.W6.broker_proc_status.RssFile_bytes' "$out")") | |"
        echo "| W6 queues | store used | $(mib "$(get W6 .store_used_bytes)") | |"
        echo "| W6 queues | first queue ls page, loaded / after restart | $(ms "$(awk -v s="$(get W6 .first_page_seconds)" 'BEGIN {print s * 1e6}')") / $(ms "$(awk -v s="$(get W6 .restart.first_page_seconds)" 'BEGIN {print s * 1e6}')") | |"
        echo "| W6 queues | restart to accepting | $(awk -v s="$(get W6 .restart.accepting_seconds)" 'BEGIN {printf "%.3f s", s}') | ≤ 2 s |" ;;
  esac
done
echo
echo "Disk before the run: $(disk_line "$disk_before")"
echo "Disk after the run:  $(disk_line "$disk_after")"
echo "Load average (1, 5, 15 min) at the start: $(jq -r .machine.loadavg_start "$out"); at the end: $(jq -r .machine.loadavg_end "$out")"
