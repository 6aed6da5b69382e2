#!/usr/bin/env bash
# A hermod cluster on this machine, for trying it and for benchmarks: N etcd
# members (one etcd cluster) and N hermodd, all on 127.0.0.1 with free
# ports, each process in its own directory under DIR.
#
#   scripts/local-cluster.sh up DIR [--nodes N] [--partitions P] [--replicas R]
#                                   [--min-insync M] [-- HERMODD ARGS...]
#   scripts/local-cluster.sh status DIR [--json]
#   scripts/local-cluster.sh restart DIR NODE_ID   (a stopped or killed node)
#   scripts/local-cluster.sh down DIR
#
# `up` starts everything, runs `hermod cluster init`, waits until every
# partition has a leader and a full ISR, and prints one line per process
# (also kept in DIR/cluster.txt, which `down` reads):
#
#   etcd ID CLIENT_URL PID
#   node ID CLIENT_ADDR PID
#
# Defaults: N=3, P=8, R=min(3,N), M=min(2,R). Binaries come from
# $HERMOD_BIN (default: build/bin of this checkout), etcd from PATH.
# Logs: DIR/<process>/log. `down` stops hermodd first, then etcd, each by
# its PID (SIGTERM, then SIGKILL after 10 s).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${HERMOD_BIN:-$repo/build/bin}

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# A loopback port nothing listens on, from a range below the kernel's
# ephemeral ports, not handed out before by this run.
used_ports=" "
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    case "$used_ports" in *" $port "*) continue ;; esac
    if ! ss -Htln "sport = :$port" | grep -q .; then
      used_ports="$used_ports$port "
      echo "$port"
      return 0
    fi
  done
  echo "local-cluster: no free port found" >&2
  return 1
}

# Waits (at most $2 seconds) until "$1" succeeds.
wait_for() {
  local deadline=$((SECONDS + $2))
  until eval "$1" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.1
  done
}

# stop_pid PID DIR: stops PID if it is still one of DIR's processes (its
# command line names DIR), so a reused PID is never signalled.
stop_pid() {
  local pid=$1 dir=$2
  kill -0 "$pid" 2>/dev/null || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# start_node DIR ID: starts hermodd ID with its saved arguments and puts
# its PID into DIR/cluster.txt.
start_node() {
  local dir=$1 id=$2 args pid addr
  eval "args=($(cat "$dir/$id/args"))"
  "$bin/hermodd" "${args[@]}" >>"$dir/$id/log" 2>&1 &
  pid=$!
  addr=${args[1]}
  if grep -q "^node $id " "$dir/cluster.txt"; then
    sed -i "s|^node $id .*|node $id $addr $pid|" "$dir/cluster.txt"
  else
    echo "node $id $addr $pid" >>"$dir/cluster.txt"
  fi
}

# restart DIR ID: starts a stopped (or killed) node again on its address
# and data directory.
cmd_restart() {
  local dir=$1 id=${2:?usage: local-cluster.sh restart DIR NODE_ID} pid
  pid=$(awk -v id="$id" '$1 == "node" && $2 == id {print $4}' "$dir/cluster.txt")
  [ -n "$pid" ] || { echo "local-cluster: no node $id in $dir" >&2; exit 1; }
  stop_pid "$pid" "$dir"
  start_node "$dir" "$id"
  grep "^node $id " "$dir/cluster.txt"
}

cmd_down() {
  local dir=$1 kind id addr pid
  [ -f "$dir/cluster.txt" ] || { echo "local-cluster: no $dir/cluster.txt" >&2; exit 1; }
  for want in node etcd; do
    while read -r kind id addr pid; do
      [ "$kind" = "$want" ] && stop_pid "$pid" "$dir"
    done <"$dir/cluster.txt"
  done
  echo "stopped the cluster in $dir"
}

etcd_urls() {
  awk '$1 == "etcd" { printf "%s%s", sep, $3; sep = "," }' "$1/cluster.txt"
}

cmd_status() {
  local dir=$1
  shift
  "$bin/hermod" cluster status --etcd "$(etcd_urls "$dir")" "$@"
}

cmd_up() {
  local dir=$1
  shift
  local nodes=3 partitions=8 replicas="" min_insync=""
  local extra=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes=$2; shift 2 ;;
      --partitions) partitions=$2; shift 2 ;;
      --replicas) replicas=$2; shift 2 ;;
      --min-insync) min_insync=$2; shift 2 ;;
      --) shift; extra=("$@"); break ;;
      *) usage ;;
    esac
  done
  [ -n "$replicas" ] || replicas=$((nodes < 3 ? nodes : 3))
  [ -n "$min_insync" ] || min_insync=$((replicas < 2 ? replicas : 2))
  command -v etcd >/dev/null || { echo "local-cluster: etcd not found (scripts/install-deps.sh installs etcd-server)" >&2; exit 1; }
  for b in hermodd hermod; do
    [ -x "$bin/$b" ] || { echo "local-cluster: $bin/$b is missing (make build)" >&2; exit 1; }
  done
  if [ -f "$dir/cluster.txt" ]; then
    echo "local-cluster: $dir holds a cluster already (down it first)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  : >"$dir/cluster.txt"
  # On any failure below, stop what was started.
  trap 'echo "local-cluster: failed; stopping what was started" >&2; cmd_down "$dir" >/dev/null' ERR

  local i initial="" client_ports=() peer_ports=()
  for i in $(seq 1 "$nodes"); do
    client_ports[i]=$(free_port)
    peer_ports[i]=$(free_port)
    initial="${initial:+$initial,}etcd-$i=http://127.0.0.1:${peer_ports[i]}"
  done
  local token="hermod-local-$$"
  for i in $(seq 1 "$nodes"); do
    mkdir -p "$dir/etcd-$i"
    etcd --name "etcd-$i" --data-dir "$dir/etcd-$i/data" \
      --listen-client-urls "http://127.0.0.1:${client_ports[i]}" \
      --advertise-client-urls "http://127.0.0.1:${client_ports[i]}" \
      --listen-peer-urls "http://127.0.0.1:${peer_ports[i]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${peer_ports[i]}" \
      --initial-cluster "$initial" --initial-cluster-state new \
      --initial-cluster-token "$token" \
      --heartbeat-interval 50 --election-timeout 500 \
      >"$dir/etcd-$i/log" 2>&1 &
    echo "etcd etcd-$i http://127.0.0.1:${client_ports[i]} $!" >>"$dir/cluster.txt"
  done
  local urls
  urls=$(etcd_urls "$dir")
  for i in $(seq 1 "$nodes"); do
    wait_for "curl -sf http://127.0.0.1:${client_ports[i]}/health | grep -q true" 30 ||
      { echo "local-cluster: etcd-$i is not healthy (see $dir/etcd-$i/log)" >&2; false; }
  done
  "$bin/hermod" cluster init --etcd "$urls" --partitions "$partitions" \
    --replicas "$replicas" --min-insync "$min_insync" >/dev/null

  for i in $(seq 1 "$nodes"); do
    local port peer attempt pid
    mkdir -p "$dir/node-$i"
    # A port found free can be taken by another process before hermodd
    # binds it (tests run side by side): a node that stops at once saying
    # so is started again on new ports, 5 times at most.
    for attempt in 1 2 3 4 5; do
      port=$(free_port)
      peer=$(free_port)
      # Kept for `restart`.
      # A 1 s lease (etcd runs with a 500 ms election timeout, so it allows
      # one) makes failover take under 2 s; arguments after -- may set another.
      local ttl=(--cluster-lease-ttl-s 1)
      case " ${extra[*]-} " in *" --cluster-lease-ttl-s "*) ttl=() ;; esac
      printf '%q ' --listen "127.0.0.1:$port" --data-dir "$dir/node-$i/data" \
        --cluster-etcd "$urls" --node-id "node-$i" --peer-listen "127.0.0.1:$peer" \
        ${ttl[@]+"${ttl[@]}"} ${extra[@]+"${extra[@]}"} >"$dir/node-$i/args"
      start_node "$dir" "node-$i"
      pid=$(awk -v id="node-$i" '$1 == "node" && $2 == id {print $4}' "$dir/cluster.txt")
      wait_for "grep -q 'listening on' '$dir/node-$i/log' || ! kill -0 $pid" 30 || true
      if kill -0 "$pid" 2>/dev/null || ! grep -q 'address already in use' "$dir/node-$i/log"; then
        break
      fi
      echo "local-cluster: node-$i found a port taken (attempt $attempt); new ports" >&2
      : >"$dir/node-$i/log"
    done
  done
  # Every partition led, with an ISR of R.
  wait_for "'$bin/hermod' cluster status --etcd '$urls' --json | jq -e '
      (.nodes | length) == $nodes and
      all(.partitions[]; .leader != \"\" and (.isr | length) == $replicas)'" 60 ||
    { echo "local-cluster: the cluster did not come up (see $dir/node-*/log)" >&2; false; }
  trap - ERR
  cat "$dir/cluster.txt"
}

[ $# -ge 2 ] || usage
command=$1
dir=$(realpath -m "$2")  # one spelling, so down finds what up started
shift 2
case "$command" in
  up) cmd_up "$dir" "$@" ;;
  down) cmd_down "$dir" ;;
  status) cmd_status "$dir" "$@" ;;
  restart) cmd_restart "$dir" "$@" ;;
  *) usage ;;
esac
