#!/usr/bin/env bash
# TLS beside plaintext: one build, one workload, in alternating pairs (a
# plaintext run and a TLS run, each on a fresh broker and data directory),
# so both sides meet the same machine; ratios of medians, as bench/ab.sh.
#
#   bench/tls.sh [PAIRS] [-- BENCH ARGS...]
#
# The TLS side runs hermodd with --tls-cert/--tls-key (a P-256 certificate
# made here with the openssl CLI) and the CLI with $HERMOD_TLS_CA; the rest
# is the same. HERMOD_BIN (environment) is the build's bin directory
# (default build/bin); FIELDS the result fields, space-separated, each the
# first of its name in the --json output (default msgs_per_s; for W4
# FIELDS="p50_us p99_us"; broker_cpu_ms is the broker's CPU time for the
# run, from /proc); HERMODD_ARGS more hermodd arguments for both
# sides (e.g. "--store memory" to see the network path without the disk).
# Default workload: W1.
set -euo pipefail
cd "$(dirname "$0")/.."
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

state=$(mktemp -d /tmp/hermod-tls.XXXXXX)
cleanup() {
  if [ -f "$state/b/pid" ]; then kill "$(cat "$state/b/pid")" 2>/dev/null || true; fi
  rm -rf "$state"
}
trap cleanup EXIT
source bench/lib.sh

read -r -a fields <<<"${FIELDS:-msgs_per_s}"
common_args=${HERMODD_ARGS:-}

# A CA and a server certificate for 127.0.0.1.
pki=$state/pki
mkdir -p "$pki"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$pki/ca.key" -out "$pki/ca.pem" -days 2 \
  -subj "/CN=hermod bench CA" 2>/dev/null
openssl req "${ec[@]}" -keyout "$pki/server.key" -out "$pki/server.csr" \
  -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$pki/ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
  -set_serial 2 -days 2 -extfile "$pki/ext" -out "$pki/server.pem" 2>/dev/null

# one plain|tls: a fresh broker, the workload; prints the fields, one line.
one() {
  if [ "$1" = tls ]; then
    HERMODD_ARGS="$common_args --tls-cert $pki/server.pem --tls-key $pki/server.key"
    export HERMOD_TLS_CA=$pki/ca.pem
  else
    HERMODD_ARGS=$common_args
    unset HERMOD_TLS_CA
  fi
  start_broker "$state/b"
  local json values=()
  json=$("$HERMOD_BIN/hermod" --server "$addr" bench "${args[@]}" --json)
  for f in "${fields[@]}"; do
    if [ "$f" = broker_cpu_ms ]; then
      # The broker's CPU time (user + system) for the whole run: steadier
      # than throughput on a shared machine.
      values+=("$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' \
        "/proc/$(cat "$state/b/pid")/stat")")
      continue
    fi
    values+=("$(grep -o "\"$f\":[0-9.]*" <<<"$json" | head -1 | cut -d: -f2)")
  done
  echo "${values[*]}"
  stop_broker "$state/b"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

plains=()
tlss=()
for i in $(seq 1 "$pairs"); do
  # Alternate which side goes first, so a drift in the machine's speed
  # does not favour one side.
  if [ $((i % 2)) -eq 1 ]; then
    p=$(one plain)
    t=$(one tls)
  else
    t=$(one tls)
    p=$(one plain)
  fi
  plains+=("$p")
  tlss+=("$t")
  printf 'pair %d (%s): plaintext %s  tls %s\n' "$i" "${fields[*]}" "$p" "$t"
done
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "workload: hermod bench ${args[*]} (--sync always ${common_args}, fresh broker per run)"
for k in "${!fields[@]}"; do
  col=$((k + 1))
  mp=$(printf '%s\n' "${plains[@]}" | cut -d' ' -f"$col" | median)
  mt=$(printf '%s\n' "${tlss[@]}" | cut -d' ' -f"$col" | median)
  awk -v p="$mp" -v t="$mt" -v f="${fields[$k]}" \
    'BEGIN {printf "median %s: plaintext %.2f  tls %.2f: tls/plaintext = %.2fx\n", f, p, t, t/p}'
done
