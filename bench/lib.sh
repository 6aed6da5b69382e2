# Shell helpers shared by bench/run-suite.sh and bench/compare/redis.sh
# (sourced, not run): start and stop a fresh hermodd by PID, run one
# standard workload (W1-W6) against it, describe the machine.
#
# A broker's state lives in a directory: data/ (its store), pid, listen
# (its address), out/err (its output). bench/restart-broker.sh restarts the
# broker of such a directory, so the PID is always read from the file.

: "${HERMOD_BIN:=build/bin}"

# start_broker STATE: a fresh hermodd --sync always on STATE/data, on a
# free port of 127.0.0.1, with $HERMODD_ARGS (more arguments, split at
# spaces; e.g. "--tls-cert F --tls-key K"). Sets $addr.
start_broker() {
  local state=$1
  rm -rf "$state"
  mkdir -p "$state/data"
  # shellcheck disable=SC2086  # HERMODD_ARGS is a list of words
  "$HERMOD_BIN/hermodd" --listen 127.0.0.1:0 --data-dir "$state/data" --sync always \
    --log-level warn ${HERMODD_ARGS:-} >"$state/out" 2>"$state/err" &
  echo $! >"$state/pid"
  wait_listening "$state" || return 1
}

# wait_listening STATE: waits (10 s at most) for "listening on" in STATE/out;
# sets $addr and writes STATE/listen.
wait_listening() {
  local state=$1
  for _ in $(seq 1 1000); do
    addr=$(sed -n 's/^listening on //p' "$state/out" 2>/dev/null | tail -1)
    if [ -n "$addr" ]; then
      echo "$addr" >"$state/listen"
      return 0
    fi
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then break; fi
    sleep 0.01
  done
  echo "hermodd did not start:" >&2
  cat "$state/err" >&2
  return 1
}

# stop_broker STATE: SIGTERM to the PID in STATE/pid, then waits for it to
# exit (60 s, then SIGKILL). Works for a broker the restart script started,
# which is not this shell's child.
stop_broker() {
  local state=$1 pid
  [ -f "$state/pid" ] || return 0
  pid=$(cat "$state/pid")
  kill -TERM "$pid" 2>/dev/null || { rm -f "$state/pid"; return 0; }
  for _ in $(seq 1 6000); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "hermodd $pid did not stop in 60 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  rm -f "$state/pid"
}

# The standard workloads, as `hermod bench` arguments (256-byte payloads).
declare -A WORKLOAD_ARGS=(
  [W1]="publish --queues 1000 --count 100000 --size 256 --publishers 1 --inflight 1000"
  [W2]="consume --queues 1000 --credit 1000 --count 100000"
  [W3]="fanout --members 100 --count 10000 --size 256"
  [W4]="latency --rate 5000 --duration 10s --size 256"
  [W5]="connections --count 10000"
  [W6]="queues --count 1000000 --size 256"
)

# require_tool COMMAND PACKAGE: installs the Debian package when the command
# is missing.
require_tool() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "installing $2" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$2" >&2
}

# The load average when the run began: the cores may be shared, and a busy
# machine moves absolute figures (ratios from one run hold better).
LOADAVG_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

# machine_json: the machine, as one JSON object, with the load average at
# the start and at the end of the run.
machine_json() {
  local cpu mem
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  mem=$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
  jq -cn --arg cpu "$cpu" --arg kernel "$(uname -r)" --arg os "$(. /etc/os-release; echo "$PRETTY_NAME")" \
    --argjson cores "$(nproc)" --argjson mem "$mem" \
    --arg load_start "$LOADAVG_AT_START" --arg load_end "$(cut -d' ' -f1-3 /proc/loadavg)" \
    '{cpu: $cpu, cores: $cores, memory_gib: $mem, kernel: $kernel, os: $os,
      loadavg_start: $load_start, loadavg_end: $load_end}'
}

# proc_status PID: VmRSS, RssAnon and RssFile of a process, in bytes, as JSON.
proc_status() {
  awk '/^(VmRSS|RssAnon|RssFile):/ { sub(":", "", $1); printf "%s\"%s_bytes\": %d", sep, $1, $2 * 1024; sep = ", " }
       BEGIN { printf "{" } END { print "}" }' "/proc/$1/status" 2>/dev/null || echo '{}'
}

# disk_probe: the temp directory's disk, 2,000 x (4 KiB append + fdatasync),
# as JSON (hermod_fsync_probe): the floor under every synced commit.
disk_probe() {
  "$HERMOD_BIN/hermod_fsync_probe" --dir "${TMPDIR:-/tmp}" --bytes 4096 --count 2000 2>/dev/null || echo '{}'
}
# disk_line JSON: one line for people.
disk_line() {
  echo "$1" | jq -r 'def ms: . / 10 | round / 100 | tostring + " ms";
    "4 KiB append + fdatasync: p50 \(.p50_us | ms), p99 \(.p99_us | ms), p99.9 \(.p999_us | ms), max \(.max_us | ms)"'
}
