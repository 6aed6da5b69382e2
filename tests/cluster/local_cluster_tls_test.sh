#!/usr/bin/env bash
# A TLS cluster end to end (issue 13): 3 hermodd with --tls-cert/--tls-key
# and --tls-peer-ca (one node certificate for 127.0.0.1, made here with the
# openssl CLI). `up` waits for every partition's ISR to fill, which needs
# the peer links up over TLS; the CLI then publishes through every node and
# consumes back with --tls-ca (its routing client dials the leaders over
# TLS); and a plaintext CLI is refused.
#   tests/cluster/local_cluster_tls_test.sh BIN_DIR
set -euo pipefail
bin=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d /tmp/hermod-tls-cluster.XXXXXX)
export HERMOD_BIN=$bin
cleanup() {
  "$repo/scripts/local-cluster.sh" down "$dir/c" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/c/node-*/log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }

# One CA; one certificate for every node, without extendedKeyUsage (so it
# serves both ends of a peer link) and for 127.0.0.1.
pki=$dir/pki
mkdir -p "$pki"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$pki/ca.key" -out "$pki/ca.pem" -days 2 \
  -subj "/CN=hermod cluster test CA" 2>/dev/null
openssl req "${ec[@]}" -keyout "$pki/node.key" -out "$pki/node.csr" -subj "/CN=node" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$pki/ext"
openssl x509 -req -in "$pki/node.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -set_serial 2 \
  -days 2 -extfile "$pki/ext" -out "$pki/node.pem" 2>/dev/null

out=$(timeout 120 "$repo/scripts/local-cluster.sh" up "$dir/c" --nodes 3 --partitions 4 -- \
  --tls-cert "$pki/node.pem" --tls-key "$pki/node.key" --tls-peer-ca "$pki/ca.pem") ||
  fail "up failed (the peer links did not fill the ISRs over TLS?)"
echo "$out"
for f in "$dir"/c/node-*/log; do grep -q "TLS on" "$f" || fail "$f does not say TLS is on"; done

addrs=$(echo "$out" | awk '$1 == "node" {print $3}')
n=0
for addr in $addrs; do
  n=$((n + 1))
  reply=$(timeout 20 "$bin/hermod" --server "$addr" --tls-ca "$pki/ca.pem" pub tls-cluster \
    "hi $n over tls" 2>&1) || fail "publishing through $addr failed: $reply"
done
[ "$n" = 3 ] || fail "published through $n nodes, not 3"
any=$(echo "$addrs" | tail -1)
got=$(timeout 20 "$bin/hermod" --server "$any" --tls-ca "$pki/ca.pem" sub tls-cluster --count 3 \
  --raw --timeout 10)
want=$(printf 'hi %d over tls' 1 2 3)
[ "$got" = "$want" ] || fail "consumed '$got'"

# cluster status asks each node for its lag over TLS too.
urls=$(echo "$out" | awk '$1 == "etcd" {print $3}' | paste -sd, -)
status=$(timeout 30 "$bin/hermod" --tls-ca "$pki/ca.pem" cluster status --etcd "$urls" --json)
[ "$(echo "$status" | jq '[.nodes[] | select(.replica_lag_parts | type == "number")] | length')" = 3 ] ||
  fail "status shows no replication lag for every node: $status"

if plain=$(timeout 20 "$bin/hermod" --server "$any" pub tls-cluster x 2>&1); then
  fail "a plaintext CLI was let in: $plain"
fi
echo "$plain" | grep -q "does not speak TLS" || fail "plaintext refusal unclear: $plain"
echo "PASS"
