#!/usr/bin/env bash
# Restarts the hermodd of a bench state directory (see bench/lib.sh), for
# `hermod bench queues --restart-cmd`: SIGTERM to the PID in STATE/pid, wait
# until it exited, print "stopped", start hermodd again on the same data
# directory and address, wait until it listens, print "listening on ADDR".
#
#   bench/restart-broker.sh STATE [HERMODD FLAGS...]
#
# The new broker keeps running after this script exits; its PID is in
# STATE/pid (stop it with bench/lib.sh's stop_broker, or kill that PID).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
state=$1
shift
listen=$(cat "$state/listen")
stop_broker "$state"
echo stopped
: >"$state/out"
flags=("$@")
case " $* " in *" --log-level "*) ;; *) flags+=(--log-level warn) ;; esac
"$HERMOD_BIN/hermodd" --listen "$listen" --data-dir "$state/data" --sync always "${flags[@]}" \
  >"$state/out" 2>>"$state/err" </dev/null &
echo $! >"$state/pid"
wait_listening "$state"
echo "listening on $addr"
