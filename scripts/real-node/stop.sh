#!/usr/bin/env bash
# Stop the node started by start.sh: SIGTERM, then (after 20 s) SIGKILL.
#
#   scripts/real-node/stop.sh [NODE_DIR]
set -euo pipefail
NODE_DIR=${1:-/work/realnode/ain-blockchain}
PIDFILE=$(dirname "$(cd "$NODE_DIR" && pwd)")/node.pid
if [ ! -f "$PIDFILE" ]; then
  echo "no pid file ($PIDFILE): not started by start.sh" >&2
  exit 0
fi
pid=$(cat "$PIDFILE")
if kill -0 "$pid" 2>/dev/null; then
  # pid is the `timeout` wrapper: it passes SIGTERM on to the node.
  kill -TERM "$pid"
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "node did not stop in 20 s: SIGKILL" >&2
    pkill -KILL -P "$pid" || true
    kill -KILL "$pid" 2>/dev/null || true
  fi
  echo "node stopped (pid $pid)"
fi
rm -f "$PIDFILE"
