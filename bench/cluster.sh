#!/usr/bin/env bash
# The cluster's figures (issue 12), on this machine, in one run:
#
# 1. Replicated W1 beside single-node W1: `hermod bench publish` (W1's
#    arguments) against the leader of a fresh 3-node local cluster (R=3,
#    min in-sync 2, one partition, so one leader takes every queue as the
#    single node does: the clients do not route by partition yet), then
#    against a fresh single hermodd --sync always; alternating, PAIRS times.
# 2. Failover: KILLS times, SIGKILL the partition's leader while a publisher
#    waits, and time until a publish to the partition is confirmed again
#    (by the new leader); the killed node is restarted before the next.
# 3. Rebuild: REBUILD_MB (environment, default 200) of 4 KiB messages left
#    in 1,000 queues, then a follower's data directory is wiped; the time
#    until it is back in the ISR, having been sent the partition whole (its
#    leader keeps only 8 MiB of recent parts here, so it must).
#
#   bench/cluster.sh [PAIRS] [KILLS]      (defaults 3 and 5; binaries from
#                                          build/bin or $HERMOD_BIN)
#
# NODE_ARGS (environment) go to every hermodd, e.g.
# NODE_ARGS="--cluster-lease-ttl-s 1".
#
# Prints each run, the medians and the ratio; every process it starts is
# stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
HERMOD_BIN=$(cd "$HERMOD_BIN" && pwd)
export HERMOD_BIN
pairs=${1:-3}
kills=${2:-5}
require_tool jq jq

work=$(mktemp -d /tmp/hermod-cluster-bench.XXXXXX)
cleanup() {
  scripts/local-cluster.sh down "$work/cluster" >/dev/null 2>&1 || true
  stop_broker "$work/single" || true
  rm -rf "$work"
}
trap cleanup EXIT
read -r -a w1 <<<"${WORKLOAD_ARGS[W1]}"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

cluster_up() {
  rm -rf "$work/cluster"
  scripts/local-cluster.sh up "$work/cluster" --nodes 3 --partitions 1 --replicas 3 \
    -- --log-level warn ${NODE_ARGS:-} "$@" >/dev/null
}
etcd_urls() { awk '$1 == "etcd" { printf "%s%s", sep, $3; sep = "," }' "$work/cluster/cluster.txt"; }
isr_size() {
  "$HERMOD_BIN/hermod" cluster status --etcd "$(etcd_urls)" --json | jq '.partitions[0].isr | length'
}
# The address and node id of partition 0's leader.
leader() {
  local urls
  urls=$(awk '$1 == "etcd" { printf "%s%s", sep, $3; sep = "," }' "$work/cluster/cluster.txt")
  "$HERMOD_BIN/hermod" cluster status --etcd "$urls" --json |
    jq -r '.partitions[0].leader as $l | (.nodes[] | select(.id == $l) | "\(.client_address) \(.id)")'
}

echo "== replicated W1 (3 nodes, R=3, min in-sync 2) beside single-node W1"
single=() replicated=()
for i in $(seq 1 "$pairs"); do
  cluster_up
  read -r addr _ < <(leader)
  r=$("$HERMOD_BIN/hermod" --server "$addr" bench "${w1[@]}" --json | jq '.results.msgs_per_s | floor')
  scripts/local-cluster.sh down "$work/cluster" >/dev/null
  start_broker "$work/single"
  s=$("$HERMOD_BIN/hermod" --server "$addr" bench "${w1[@]}" --json | jq '.results.msgs_per_s | floor')
  stop_broker "$work/single"
  echo "pair $i: replicated $r  single $s msgs_per_s"
  replicated+=("$r")
  single+=("$s")
done
mr=$(printf '%s\n' "${replicated[@]}" | median)
ms=$(printf '%s\n' "${single[@]}" | median)
echo "median msgs_per_s: replicated $mr  single $ms: replicated/single = $(echo "scale=2; $mr / $ms" | bc)x"

echo "== failover: SIGKILL of the leader -> first confirmed publish"
cluster_up
times=()
for k in $(seq 1 "$kills"); do
  read -r addr victim < <(leader)
  pid=$(awk -v id="$victim" '$1 == "node" && $2 == id {print $4}' "$work/cluster/cluster.txt")
  kill -KILL "$pid"
  start=$(date +%s%N)
  deadline=$((SECONDS + 30))
  until [ $SECONDS -ge $deadline ]; do
    read -r now_addr now_leader < <(leader) || true
    if [ -n "${now_leader:-}" ] && [ "$now_leader" != "$victim" ] &&
      timeout 5 "$HERMOD_BIN/hermod" --server "$now_addr" pub failover "k$k" >/dev/null 2>&1; then
      break
    fi
    sleep 0.02
  done
  took=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "kill $k: $victim killed; $now_leader confirms after $took ms"
  times+=("$took")
  scripts/local-cluster.sh restart "$work/cluster" "$victim" >/dev/null
  # Wait until it is back in the ISR.
  for _ in $(seq 1 300); do
    urls=$(awk '$1 == "etcd" { printf "%s%s", sep, $3; sep = "," }' "$work/cluster/cluster.txt")
    n=$("$HERMOD_BIN/hermod" cluster status --etcd "$urls" --json | jq '.partitions[0].isr | length')
    [ "$n" = 3 ] && break
    sleep 0.1
  done
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "failover ms: $(echo $sorted) median $(printf '%s\n' "${times[@]}" | median) max $(echo "$sorted" | tail -1)"
scripts/local-cluster.sh down "$work/cluster" >/dev/null

mb=${REBUILD_MB:-200}
echo "== rebuild: a wiped follower sent $mb MB whole (leader window 8 MiB)"
cluster_up --cluster-replica-window-mib 8
read -r addr leader_id < <(leader)
count=$((mb * 256))  # 4 KiB each
"$HERMOD_BIN/hermod" --server "$addr" bench publish --queues 1000 --count "$count" --size 4096 \
  --publishers 1 --inflight 1000 --json >/dev/null
victim=$(awk -v l="$leader_id" '$1 == "node" && $2 != l {print $2; exit}' "$work/cluster/cluster.txt")
pid=$(awk -v id="$victim" '$1 == "node" && $2 == id {print $4}' "$work/cluster/cluster.txt")
kill -TERM "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
rm -rf "$work/cluster/$victim/data"
start=$(date +%s%N)
scripts/local-cluster.sh restart "$work/cluster" "$victim" >/dev/null
deadline=$((SECONDS + 600))
until [ $SECONDS -ge $deadline ] || [ "$(isr_size)" = 3 ]; do sleep 0.1; done
took=$(( ($(date +%s%N) - start) / 1000000 ))
sent=$("$HERMOD_BIN/hermod" --server "$addr" stats --json |
  jq '.cluster_snapshot_bytes_sent_total // 0')
echo "rebuild: $victim back in the ISR $took ms after its restart; the leader sent $sent bytes of snapshot ($(echo "scale=1; $sent / 1048576 / ($took / 1000)" | bc) MiB/s)"
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
