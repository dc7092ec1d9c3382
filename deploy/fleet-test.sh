#!/usr/bin/env bash
# The fleet smoke test: the built-in chain, the admin's deploy of the echo function to app `fleet`
# (approving three worker keys), three workers, then a handful of calls, each answered and
# verified (`ain-sre call --wait`: approved writer, receipt names the request, input and code
# hashes) with its output checked, every worker healthy and registered; then everything is torn
# down. Exits non-zero, with the services' logs, on any failure.
#
#   deploy/fleet-test.sh compose   [--image TAG]     # compose.yaml, from the image (default ain-sre:local)
#   deploy/fleet-test.sh processes [--bin-dir DIR]   # the same fleet as host processes
#
# Options: --calls N (default 6); --max-executions-per-call R fails the test when the workers'
# ain_sre_calls_total summed over the fleet exceeds R x N (for fleet assignment: one execution per
# call). Everything listens on 127.0.0.1, on free ports picked here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"

mode="${1:-}"
shift || true
image="ain-sre:local"
bin_dir="${CARGO_TARGET_DIR:-$repo/target}/debug"
calls=6
max_epc=""
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --calls) calls="$2"; shift 2 ;;
    --max-executions-per-call) max_epc="$2"; shift 2 ;;
    *) echo "fleet-test: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$mode" in compose|processes) ;; *) sed -n '2,14p' "$0" >&2; exit 2 ;; esac

fail() { echo "fleet-test: FAIL: $*" >&2; exit 1; }
step() { printf 'fleet-test: %s (%ss)\n' "$*" "$SECONDS"; }
command -v curl >/dev/null || fail "curl is needed"

# The keys compose.yaml uses (public test keys; see its header).
admin_key=b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96
worker_keys=(00000000000000000000000000000000000000000000000000000000000a1101
             00000000000000000000000000000000000000000000000000000000000a1102
             00000000000000000000000000000000000000000000000000000000000a1103)
worker_addrs=(0xd619222D4849dBe482ca10f2e38f3C8bBDCAF613
              0x7b393176e42d2968adDC7014C53702023E8F7f36
              0x36F6f0bEd327bf59e800Adf49bd3288452511698)

# Five free loopback ports: RPC, events, three metrics. Below the kernel's ephemeral range, so no
# outgoing connection (of this test or another program) can take one before the fleet binds it.
listening="$(ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)"
low="$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
[ "$low" -gt 11000 ] || fail "the ephemeral port range starts at $low: no room below it for the fleet's ports"
ports=()
while [ "${#ports[@]}" -lt 5 ]; do
  p=$((10000 + RANDOM % (low - 10000)))
  grep -qx "$p" <<<"$listening" || [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
done
export AIN_SRE_RPC_PORT="${ports[0]}" AIN_SRE_EVENTS_PORT="${ports[1]}"
export AIN_SRE_METRICS_PORT_1="${ports[2]}" AIN_SRE_METRICS_PORT_2="${ports[3]}" AIN_SRE_METRICS_PORT_3="${ports[4]}"
node="http://127.0.0.1:$AIN_SRE_RPC_PORT"
metrics=("$AIN_SRE_METRICS_PORT_1" "$AIN_SRE_METRICS_PORT_2" "$AIN_SRE_METRICS_PORT_3")

work="$(mktemp -d "${TMPDIR:-/tmp}/ain-sre-fleet.XXXXXX")"
project="ainsrefleet$$"
pids=()
ok=0
teardown() {
  set +e
  if [ "$ok" != 1 ]; then
    echo "fleet-test: logs of the failed run:" >&2
    if [ "$mode" = compose ]; then
      docker-compose -p "$project" -f "$repo/compose.yaml" logs --no-color --tail=40 >&2
    else
      for f in "$work"/*.log; do echo "--- $f" >&2; tail -n 40 "$f" >&2; done
    fi
  fi
  if [ "$mode" = compose ]; then
    docker-compose -p "$project" -f "$repo/compose.yaml" down -v --remove-orphans -t 10 >/dev/null 2>&1
    left="$(docker ps -aq --filter "label=com.docker.compose.project=$project")"
    [ -z "$left" ] || echo "fleet-test: containers left behind: $left" >&2
  else
    # Workers first (they drain), then the chain; each by the pid this script started.
    for pid in "${pids[@]:1}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]:1}"; do wait "$pid" 2>/dev/null; done
    [ "${#pids[@]}" -gt 0 ] && { kill -TERM "${pids[0]}" 2>/dev/null; wait "${pids[0]}" 2>/dev/null; }
  fi
  rm -rf "$work"
}
trap teardown EXIT

# `ain-sre ARGS...` with the given key (none: a reader, or a caller with a throwaway key): in a
# throwaway container of the image, or the host binary.
sre() {
  local key="$1"; shift
  local env=(AIN_SRE_LOG=warn)
  [ -z "$key" ] || env+=("AIN_SRE_PRIVATE_KEY=$key")
  if [ "$mode" = compose ]; then
    docker run --rm --network host "${env[@]/#/--env=}" "$image" "$@"
  else
    env "${env[@]}" "$bin_dir/ain-sre" "$@"
  fi
}

step "starting the fleet ($mode; rpc $AIN_SRE_RPC_PORT, events $AIN_SRE_EVENTS_PORT, metrics ${metrics[*]})"
if [ "$mode" = compose ]; then
  command -v docker-compose >/dev/null || fail "docker-compose is needed (Debian: docker-compose)"
  docker image inspect "$image" >/dev/null 2>&1 || fail "no image $image: build it with deploy/image/build.sh"
  AIN_SRE_IMAGE="$image" timeout 120 docker-compose -p "$project" -f "$repo/compose.yaml" up -d \
    >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "docker-compose up"; }
else
  [ -x "$bin_dir/ain-sre" ] || fail "no $bin_dir/ain-sre (cargo build --bin ain-sre --bin ain-sre-jail, or --bin-dir)"
  "$bin_dir/ain-sre" devnet --port "$AIN_SRE_RPC_PORT" --events-port "$AIN_SRE_EVENTS_PORT" \
    --data "$work/chain" >"$work/devnet.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 30); do sre "" workers list --app fleet --node "$node" >/dev/null 2>&1 && break; sleep 1; done
  sre "$admin_key" deploy "$repo/examples/functions/echo.wat" --app fleet --fn echo \
    --workers "$(IFS=,; echo "${worker_addrs[*]}")" --node "$node" >"$work/deploy.log" 2>&1 \
    || fail "deploy (see $work/deploy.log)"
  for i in 0 1 2; do
    AIN_SRE_PRIVATE_KEY="${worker_keys[$i]}" "$bin_dir/ain-sre" run --config "$repo/deploy/compose/worker.toml" \
      --node "$node" --events "ws://127.0.0.1:$AIN_SRE_EVENTS_PORT" --app fleet \
      --data-dir "$work/journal-$i" --metrics-addr "127.0.0.1:${metrics[$i]}" --register \
      >"$work/worker-$i.log" 2>&1 &
    pids+=($!)
  done
fi

step "waiting for three healthy, registered workers"
deadline=$((SECONDS + 60))
for i in 0 1 2; do
  until curl -sf "http://127.0.0.1:${metrics[$i]}/healthz" 2>/dev/null | grep -q '"status":"ok"'; do
    [ "$SECONDS" -lt "$deadline" ] || fail "worker-$((i + 1)) not healthy on 127.0.0.1:${metrics[$i]} within 60 s"
    sleep 1
  done
done
sre "" workers list --app fleet --node "$node" >"$work/workers.txt" 2>&1 || fail "workers list"
for a in "${worker_addrs[@]}"; do
  # `wasm` among the runtimes it offers (the list also names the component runtimes).
  grep -Eq "\| $a \| yes \| yes \| yes \| ([^|]*,)?wasm(,[^|]*)? \|" "$work/workers.txt" \
    || { cat "$work/workers.txt" >&2; fail "worker $a is not approved, registered and able to answer"; }
done

step "$calls calls, each answered and verified"
for n in $(seq "$calls"); do
  input="{\"fleet\":$n}"
  out="$(sre "" call --app fleet --fn echo --input "$input" --wait --timeout 30 --node "$node" 2>&1)" \
    || { echo "$out" >&2; fail "call $n was not answered or did not verify"; }
  grep -q '"output": "{\\"fleet\\":'"$n"'}"' <<<"$out" || { echo "$out" >&2; fail "call $n: wrong output"; }
  grep -q '"status": "ok"' <<<"$out" || { echo "$out" >&2; fail "call $n: status not ok"; }
  grep -q 'verified: writer 0x' <<<"$out" || { echo "$out" >&2; fail "call $n: no verification line"; }
  grep -o 'writer 0x[0-9a-fA-F]*' <<<"$out"
done | sort | uniq -c | sed 's/^/fleet-test:   answered by /'
[ "${PIPESTATUS[0]}" = 0 ] || exit 1

step "worker metrics"
total=0
for i in 0 1 2; do
  m="$(curl -sf "http://127.0.0.1:${metrics[$i]}/metrics")" || fail "worker-$((i + 1)) /metrics"
  c="$(awk '/^ain_sre_calls_total[{ ]/ {s += $NF} END {print s + 0}' <<<"$m")"
  echo "fleet-test:   worker-$((i + 1)) ${worker_addrs[$i]}: $c executions"
  total=$((total + c))
done
[ "$total" -ge "$calls" ] || fail "$total executions for $calls calls: some call never ran"
echo "fleet-test:   executions per call: $(awk -v t="$total" -v c="$calls" 'BEGIN {printf "%.2f", t / c}')"
if [ -n "$max_epc" ] && ! awk -v t="$total" -v c="$calls" -v m="$max_epc" 'BEGIN {exit !(t <= m * c)}'; then
  fail "$total executions for $calls calls: more than $max_epc per call"
fi
ok=1
step "ok: $calls calls answered and verified by a fleet of 3 workers ($mode); tearing down"
