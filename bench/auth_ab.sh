#!/usr/bin/env bash
# W1 with principals and name patterns beside W1 without authentication:
# one build, alternating pairs, each run on a fresh broker and data
# directory (docs/benchmarks.md, "Principals"). Ratios of medians hold on a
# noisy machine; single runs do not.
#
#   bench/auth_ab.sh [PAIRS] [-- BENCH ARGS...]
#
# The authenticated side runs hermodd with --principals-file holding four
# principals; the bench client is principal "bench", whose publish patterns
# are checked for every publish (the matching pattern last, so each new name
# is tried against all of them before the session caches the decision). It
# is also an admin, only because `hermod bench` reads the broker's stats
# before and after; admin grants no publish. HERMOD_BIN (environment):
# directory of hermodd and hermod, default build/bin. FIELD as in ab.sh.
# BROKER_ARGS (environment): more hermodd flags for both sides, e.g.
# "--store memory --sync none" for the network path alone, where a
# per-message cost shows most.
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
: "${HERMOD_BIN:=build/bin}"
field=${FIELD:-msgs_per_s}

state=$(mktemp -d /tmp/hermod-auth-ab.XXXXXX)
source bench/lib.sh
cleanup() {
  stop_broker "$state/b" || true
  rm -rf "$state"
}
trap cleanup EXIT

token=$("$HERMOD_BIN/hermod" auth token)
hash=$(printf '%s\n' "$token" | "$HERMOD_BIN/hermod" auth hash)
other=$(printf '%s\n' "$("$HERMOD_BIN/hermod" auth token)" | "$HERMOD_BIN/hermod" auth hash)
cat >"$state/principals.toml" <<TOML
[[principal]]
name = "chat-frontend"
token_hash = "$other"
publish = ["user:*", "room:*"]
manage = ["room:*"]

[[principal]]
name = "alice"
token_hash = "$other"
consume = ["user:{principal}", "user:{principal}/*"]

[[principal]]
name = "ops"
token_hash = "$other"
admin = true

[[principal]]
name = "bench"
token_hash = "$hash"
publish = ["user:{principal}", "user:{principal}/*", "room:*", "audit.*", "bench.*"]
consume = ["user:{principal}", "bench.*"]
admin = true
TOML

# start MODE: a fresh broker, with principals when MODE is "auth"; sets $addr.
start() {
  local dir=$state/b extra=()
  [ "$1" = auth ] && extra=(--principals-file "$state/principals.toml")
  rm -rf "$dir"
  mkdir -p "$dir/data"
  "$HERMOD_BIN/hermodd" --listen 127.0.0.1:0 --data-dir "$dir/data" --sync always \
    --log-level warn ${BROKER_ARGS:-} "${extra[@]}" >"$dir/out" 2>"$dir/err" &
  echo $! >"$dir/pid"
  wait_listening "$dir" || return 1
}

# one MODE: the workload against a fresh broker; prints the field.
one() {
  start "$1"
  if [ "$1" = auth ]; then
    HERMOD_USER=bench HERMOD_TOKEN=$token "$HERMOD_BIN/hermod" --server "$addr" \
      bench "${args[@]}" --json
  else
    env -u HERMOD_USER -u HERMOD_TOKEN -u HERMOD_TOKEN_FILE "$HERMOD_BIN/hermod" \
      --server "$addr" bench "${args[@]}" --json
  fi | grep -o "\"$field\":[0-9.]*" | head -1 | cut -d: -f2
  stop_broker "$state/b"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

plains=()
auths=()
for i in $(seq 1 "$pairs"); do
  if [ $((i % 2)) -eq 1 ]; then
    p=$(one plain)
    a=$(one auth)
  else
    a=$(one auth)
    p=$(one plain)
  fi
  plains+=("$p")
  auths+=("$a")
  printf 'pair %d: no auth %s  principals %s %s\n' "$i" "$p" "$a" "$field"
done
mp=$(printf '%s\n' "${plains[@]}" | median)
ma=$(printf '%s\n' "${auths[@]}" | median)
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "workload: hermod bench ${args[*]} (hermodd --sync always ${BROKER_ARGS:-}, fresh broker per run)"
awk -v p="$mp" -v a="$ma" -v f="$field" \
  'BEGIN { printf "median %s: no auth %s, principals %s, principals/no auth %.3fx\n", f, p, a, a / p }'
