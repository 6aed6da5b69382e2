#!/usr/bin/env bash
# scripts/local-cluster.sh end to end: `up` starts 3 etcd members and 3
# hermodd and prints one line per process with a live PID; the cluster
# serves through any node (the CLI routes to the leader of the queue's
# partition: a message published through each node is consumed back);
# `down` stops every process it started.
#   tests/cluster/local_cluster_test.sh BIN_DIR
set -euo pipefail
bin=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d /tmp/hermod-local-cluster.XXXXXX)
export HERMOD_BIN=$bin
cleanup() {
  "$repo/scripts/local-cluster.sh" down "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/node-*/log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }

out=$(timeout 120 "$repo/scripts/local-cluster.sh" up "$dir" --nodes 3 --partitions 4) || fail "up failed"
echo "$out"
[ "$(echo "$out" | grep -c '^etcd etcd-[0-9] http://127\.0\.0\.1:[0-9]* [0-9]*$')" = 3 ] || fail "expected 3 etcd lines"
[ "$(echo "$out" | grep -c '^node node-[0-9] 127\.0\.0\.1:[0-9]* [0-9]*$')" = 3 ] || fail "expected 3 node lines"
pids=$(echo "$out" | awk '{print $4}')
for pid in $pids; do kill -0 "$pid" || fail "process $pid is not running"; done

status=$(timeout 30 "$repo/scripts/local-cluster.sh" status "$dir" --json)
[ "$(echo "$status" | jq '.nodes | length')" = 3 ] || fail "status lists no 3 nodes: $status"
[ "$(echo "$status" | jq '[.nodes[] | select(.replica_lag_parts | type == "number")] | length')" = 3 ] ||
  fail "status shows no replication lag for every node: $status"
[ "$(echo "$status" | jq '[.partitions[] | select(.leader != "" and (.isr | length) == 3)] | length')" = 4 ] ||
  fail "not every partition has a leader and an ISR of 3: $status"

# Publish through every node: the CLI asks the node it is given for the
# partition map and sends the publish to the leader of the queue's
# partition, so every node accepts it. Then consume them all back through
# one node, whichever leads.
addrs=$(echo "$out" | awk '$1 == "node" {print $3}')
n=0
for addr in $addrs; do
  n=$((n + 1))
  reply=$(timeout 20 "$bin/hermod" --server "$addr" pub hello-cluster "hi $n from the cluster" 2>&1) ||
    fail "publishing through $addr failed: $reply"
done
[ "$n" = 3 ] || fail "published through $n nodes, not 3"
any=$(echo "$addrs" | tail -1)
# --raw prints the payloads as they are, in queue order: the order they
# were published in.
got=$(timeout 20 "$bin/hermod" --server "$any" sub hello-cluster --count 3 --raw --timeout 10)
want=$(printf 'hi %d from the cluster' 1 2 3)
[ "$got" = "$want" ] || fail "consumed '$got'"

# Each node reports its part in replication in its statistics (`stats` is
# per node): the leader of hello-cluster's partition shipped parts.
shipped=""
for addr in $addrs; do
  stats=$(timeout 20 "$bin/hermod" --server "$addr" stats --json)
  if [ "$(echo "$stats" | jq '.cluster_partitions_led >= 1 and .cluster_partitions_followed >= 1 and
      .cluster_parts_shipped_total >= 1')" = true ]; then
    shipped=$addr
  fi
done
[ -n "$shipped" ] || fail "no node reports replication statistics: $stats"

timeout 60 "$repo/scripts/local-cluster.sh" down "$dir" >/dev/null || fail "down failed"
for pid in $pids; do
  if kill -0 "$pid" 2>/dev/null; then fail "process $pid still runs after down"; fi
done
echo "local-cluster: up, status, publish/consume and down all worked"
