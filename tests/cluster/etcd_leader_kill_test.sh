#!/usr/bin/env bash
# The control plane loses its etcd leader: SIGKILL the etcd member that
# leads the etcd cluster (3 members) under a running hermod cluster. etcd
# elects another leader; hermod keeps serving (its etcd client moves to a
# live member), and a hermod leader killed afterwards still fails over: the
# lease expiry, the controller's transaction and the watches all go through
# the remaining two members. Every confirmed message is consumed at the end.
#   tests/cluster/etcd_leader_kill_test.sh BIN_DIR
set -euo pipefail
bin=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d /tmp/hermod-etcd-kill.XXXXXX)
export HERMOD_BIN=$bin
cleanup() {
  "$repo/scripts/local-cluster.sh" down "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/node-*/log; do echo "--- $f" >&2; tail -15 "$f" >&2; done; exit 1; }

timeout 120 "$repo/scripts/local-cluster.sh" up "$dir" --nodes 3 --partitions 1 >/dev/null || fail "up failed"
urls=$(awk '$1 == "etcd" { printf "%s%s", sep, $3; sep = "," }' "$dir/cluster.txt")
status() { timeout 10 "$bin/hermod" cluster status --etcd "$urls" --json; }
leader_addr() {
  status | jq -r '.partitions[0].leader as $l | .nodes[] | select(.id == $l) | .client_address'
}
leader_id() { status | jq -r '.partitions[0].leader'; }
# publish N PREFIX: publishes N messages to the partition's leader, retrying
# each (bounded) until confirmed; prints nothing, fails the test if one
# never is.
publish() {
  local n=$1 prefix=$2 i deadline addr
  for i in $(seq 1 "$n"); do
    deadline=$((SECONDS + 30))
    until addr=$(leader_addr 2>/dev/null) && [ -n "$addr" ] &&
      timeout 10 "$bin/hermod" --server "$addr" pub etcd-kill "$prefix-$i" >/dev/null 2>&1; do
      [ $SECONDS -lt $deadline ] || fail "$prefix-$i was never confirmed"
      sleep 0.1
    done
  done
}

publish 5 before

# The etcd leader, by asking any member.
any=$(awk '$1 == "etcd" {print $3; exit}' "$dir/cluster.txt")
etcd_leader=$(curl -sf -X POST "$any/v3/maintenance/status" -d '{}' | jq -r .leader)
victim=""
while read -r kind id url pid; do
  [ "$kind" = etcd ] || continue
  me=$(curl -sf -X POST "$url/v3/maintenance/status" -d '{}' | jq -r .header.member_id)
  if [ "$me" = "$etcd_leader" ]; then victim=$pid; victim_url=$url; fi
done <"$dir/cluster.txt"
[ -n "$victim" ] || fail "no etcd member is the leader"
kill -KILL "$victim"
echo "killed the etcd leader ($victim_url)"
urls=$(echo "$urls" | tr ',' '\n' | grep -v "^$victim_url$" | paste -sd, -)

publish 5 after-etcd-kill

# A hermod leader dies now: failover must still happen through etcd.
node=$(leader_id)
pid=$(awk -v id="$node" '$1 == "node" && $2 == id {print $4}' "$dir/cluster.txt")
kill -KILL "$pid"
start=$SECONDS
publish 5 after-node-kill
echo "hermod failover with two etcd members took about $((SECONDS - start)) s"
[ "$(leader_id)" != "$node" ] || fail "the partition still names the killed node"

got=$(timeout 30 "$bin/hermod" --server "$(leader_addr)" sub etcd-kill --count 15 --timeout 10s | tr -s "\n" " " || true)
for want in before-{1..5} after-etcd-kill-{1..5} after-node-kill-{1..5}; do
  case " $got " in *" $want "*) ;; *) fail "confirmed $want was not delivered (got: $got)" ;; esac
done
echo "etcd leader killed, then a hermod leader: all 15 confirmed messages delivered"
