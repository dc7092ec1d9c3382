#!/usr/bin/env bash
# Build a runnable ain-blockchain node from a git mirror, offline except for the npm registry.
#
#   scripts/real-node/setup.sh MIRROR_GIT_DIR [DEST] [TAG]
#
# MIRROR_GIT_DIR  a (bare) git repository of ainblockchain/ain-blockchain
# DEST            where to put the node (default /work/realnode/ain-blockchain); never inside this repo
# TAG             tag or commit to check out (default v1.6.0)
#
# Steps (ain-protocol.md §6): export TAG's tree into DEST; in package-lock.json replace ntp-time
# 2.1.0 (gone from the registry) with 2.1.1; `npm ci --omit=dev` (the dev dependency node-jq
# downloads from the internet). Native secp256k1/keccak builds may fail: the node then uses pure
# JS. Re-running is safe: an existing DEST with node_modules is left as it is.
set -euo pipefail

MIRROR=${1:?usage: setup.sh MIRROR_GIT_DIR [DEST] [TAG]}
DEST=${2:-/work/realnode/ain-blockchain}
TAG=${3:-v1.6.0}

if [ ! -f "$DEST/client/index.js" ]; then
  mkdir -p "$DEST"
  git --git-dir="$MIRROR" archive --format=tar "$TAG" | tar -x -C "$DEST"
  git --git-dir="$MIRROR" rev-parse "$TAG^{commit}" > "$DEST/.ain-sre-source-commit"
  echo "exported $TAG ($(cat "$DEST/.ain-sre-source-commit")) to $DEST"
fi

cd "$DEST"
if grep -q '"resolved": "https://registry.npmjs.org/ntp-time/-/ntp-time-2.1.0.tgz"' package-lock.json; then
  integrity=$(npm view ntp-time@2.1.1 dist.integrity)
  node -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
    const e = lock.packages["node_modules/ntp-time"];
    e.version = "2.1.1";
    e.resolved = "https://registry.npmjs.org/ntp-time/-/ntp-time-2.1.1.tgz";
    e.integrity = process.argv[1];
    fs.writeFileSync("package-lock.json", JSON.stringify(lock, null, 2) + "\n");
  ' "$integrity"
  echo "package-lock.json: ntp-time 2.1.0 -> 2.1.1"
fi

if [ ! -d node_modules/express ]; then
  npm ci --omit=dev --no-audit --no-fund
fi
echo "node ready in $DEST (start it with scripts/real-node/start.sh $DEST)"
