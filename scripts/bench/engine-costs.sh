#!/usr/bin/env bash
# What one container costs the Docker engine on this host, through its API (the README's
# "what the engine costs" figures for the container tier's back-to-back row):
#   - create / start / forced rm of a python3 runtime container, one at a time, with
#     NetworkDisabled (how stem cells are created) and with the CLI-style `--network none`;
#   - eight starts one at a time, two at a time and four at a time.
# Usage: scripts/bench/engine-costs.sh [IMAGE] [ROUNDS]   (default ain-sre/python3:6, 5)
# Needs curl and a running dockerd; run it on an idle host.
set -euo pipefail
IMAGE=${1:-ain-sre/python3:6}
ROUNDS=${2:-5}
SOCK=/var/run/docker.sock
api() { curl -sf --unix-socket "$SOCK" -H 'Content-Type: application/json' "$@"; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
body() { # $1: true = NetworkDisabled (stem cells), false = --network none as the CLI makes it
  printf '{"Image":"%s","Entrypoint":["/usr/bin/python3"],"Cmd":["-c","import time;time.sleep(30)"],"NetworkDisabled":%s,"HostConfig":{"NetworkMode":"none","ReadonlyRootfs":true,"CapDrop":["ALL"],"LogConfig":{"Type":"none"}}}' "$IMAGE" "$1"
}
create() { api -X POST localhost/containers/create -d "$(body "$1")" | sed -n 's/.*"Id":"\([0-9a-f]*\)".*/\1/p'; }

for nd in true false; do
  c_tot=0 s_tot=0 r_tot=0
  for _ in $(seq "$ROUNDS"); do
    t0=$(date +%s%N); id=$(create $nd); t1=$(date +%s%N)
    api -X POST "localhost/containers/$id/start"; t2=$(date +%s%N)
    api -X DELETE "localhost/containers/$id?force=1"; t3=$(date +%s%N)
    c_tot=$((c_tot + $(ms $t0 $t1))); s_tot=$((s_tot + $(ms $t1 $t2))); r_tot=$((r_tot + $(ms $t2 $t3)))
  done
  echo "NetworkDisabled=$nd: create $((c_tot / ROUNDS)) ms, start $((s_tot / ROUNDS)) ms, forced rm $((r_tot / ROUNDS)) ms (mean of $ROUNDS)"
done

for par in 1 2 4; do
  ids=(); for _ in $(seq 8); do ids+=("$(create true)"); done
  t0=$(date +%s%N)
  printf '%s\n' "${ids[@]}" | xargs -P "$par" -I{} curl -sf --unix-socket "$SOCK" -X POST localhost/containers/{}/start
  t1=$(date +%s%N)
  printf '%s\n' "${ids[@]}" | xargs -P "$par" -I{} curl -sf --unix-socket "$SOCK" -X DELETE "localhost/containers/{}?force=1"
  echo "8 starts, $par at a time: $(ms $t0 $t1) ms"
done
