#!/usr/bin/env bash
# Start the local 1-node ain-blockchain chain built by setup.sh, in the background.
#
#   scripts/real-node/start.sh [NODE_DIR] [--reset]
#
# NODE_DIR  the node from setup.sh (default /work/realnode/ain-blockchain)
# --reset   delete the chain data first (a new chain from genesis); without it the node replays
#           its chain from the data dir (a restart)
#
# JSON-RPC http://127.0.0.1:8081/json-rpc, event handler ws://127.0.0.1:5100, P2P 127.0.0.1:5001.
# Only loopback addresses (loopback-shim.js). The node key is the 1-node config's genesis
# validator (0x00ADEc28B6a845a085e03591bE7550dd68673C1C, funded in genesis_accounts.json).
# The node's output goes to NODE_DIR/../node.log (appended); its pid to NODE_DIR/../node.pid.
# It is bounded: it is stopped (SIGTERM) after NODE_MAX_LIFETIME (default 3h) at the latest.
# Any of the env settings below can be overridden from the environment.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NODE_DIR=/work/realnode/ain-blockchain
RESET=0
for a in "$@"; do
  case "$a" in
    --reset) RESET=1 ;;
    *) NODE_DIR=$a ;;
  esac
done
NODE_DIR=$(cd "$NODE_DIR" && pwd)
RUN_DIR=$(dirname "$NODE_DIR")
PIDFILE=$RUN_DIR/node.pid
LOG=$RUN_DIR/node.log

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "node already running (pid $(cat "$PIDFILE"))" >&2
  exit 1
fi
if [ "$RESET" = 1 ]; then
  rm -rf "$NODE_DIR/ain_blockchain_data"
  echo "chain data deleted: a new chain from genesis"
fi

cd "$NODE_DIR"
export NODE_OPTIONS="--require $HERE/loopback-shim.js ${NODE_OPTIONS:-}"
export BLOCKCHAIN_CONFIGS_DIR=${BLOCKCHAIN_CONFIGS_DIR:-blockchain-configs/1-node}
export UNSAFE_PRIVATE_KEY=${UNSAFE_PRIVATE_KEY:-b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96}
export PORT=${PORT:-8081} P2P_PORT=${P2P_PORT:-5001}
export ENABLE_EVENT_HANDLER=${ENABLE_EVENT_HANDLER:-true} EVENT_HANDLER_PORT=${EVENT_HANDLER_PORT:-5100}
export ENABLE_STATUS_REPORT_TO_TRACKER=${ENABLE_STATUS_REPORT_TO_TRACKER:-false}
export STAKE=${STAKE:-100000}
export ENABLE_EXPRESS_RATE_LIMIT=${ENABLE_EXPRESS_RATE_LIMIT:-false}
export TX_POOL_SIZE_LIMIT_PER_ACCOUNT=${TX_POOL_SIZE_LIMIT_PER_ACCOUNT:-1000}
export CONSOLE_LOG=${CONSOLE_LOG:-true}

echo "=== start $(date -u +%FT%TZ) reset=$RESET" >> "$LOG"
nohup timeout -s TERM "${NODE_MAX_LIFETIME:-3h}" node ./client/index.js >> "$LOG" 2>&1 &
echo $! > "$PIDFILE"

# Wait (bounded) for JSON-RPC and the first finalized block.
rpc() {
  curl -s -m 2 -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":{\"protoVer\":\"1.6.0\"}}" \
    "http://127.0.0.1:$PORT/json-rpc"
}
for _ in $(seq 1 120); do
  if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "node exited; see $LOG" >&2
    tail -20 "$LOG" >&2
    exit 1
  fi
  n=$(rpc ain_getLastBlockNumber | sed -n 's/.*"result":{"result":\([0-9-]*\).*/\1/p' || true)
  if [ -n "$n" ] && [ "$n" -ge 1 ]; then
    echo "node up (pid $(cat "$PIDFILE")): last finalized block $n; JSON-RPC http://127.0.0.1:$PORT/json-rpc, events ws://127.0.0.1:$EVENT_HANDLER_PORT; log $LOG"
    exit 0
  fi
  sleep 0.5
done
echo "node did not finalize a block within 60 s; see $LOG" >&2
exit 1
