#!/usr/bin/env bash
# Runs the units under a real systemd: boots the host's own systemd as PID 1 in a Docker
# container (no registry: the image is a 40 kB tar of symlinks and a minimal /etc; /usr, the CA
# bundle and the ain-sre binaries are bind-mounted read-only; no network but loopback), then
#   - starts ain-sre-devnet.service and deploys the echo function with the devnet admin key;
#   - starts ain-sre-worker.service and checks, while it serves, that its sandbox is in force
#     (a dynamic non-root uid, no capabilities, no_new_privs, a seccomp filter) and that it
#     answers a verified call, with its journal in the StateDirectory;
#   - freezes the worker (SIGSTOP) and checks ain-sre-worker-liveness.service restarts it;
#   - stops it: exit 0 after draining.
# Exits non-zero, with the units' journals, on any failure; removes the container and image.
#
# One difference from a real host, by necessity: the key. In this container systemd 252 hands
# LoadCredential= files to the service user unreadable (its credentials file system cannot be
# mounted here), so a drop-in replaces the credentials with the keystore and password files read
# directly (test files, world-readable inside the container only). Everything else is the
# shipped units as they are.
#
#   deploy/systemd/boot-test.sh --bin-dir target/debug
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin_dir="${CARGO_TARGET_DIR:-$repo/target}/debug"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    *) echo "boot-test: unknown argument $1" >&2; exit 2 ;;
  esac
done
fail() { echo "boot-test: FAIL: $*" >&2; exit 1; }
step() { printf 'boot-test: %s (%ss)\n' "$*" "$SECONDS"; }
bin_dir="$(cd "$bin_dir" && pwd)"
[ -x "$bin_dir/ain-sre" ] || fail "no $bin_dir/ain-sre"
[ -x /usr/lib/systemd/systemd ] || fail "systemd is needed on the host (its /usr is the container's)"
docker info >/dev/null 2>&1 || fail "the Docker engine is needed"

work="$(mktemp -d "${TMPDIR:-/tmp}/ain-sre-boot.XXXXXX")"
name="ain-sre-boot-$$"
image="ain-sre-boot-test:$$"
ok=0
X() { docker exec "$name" "$@"; }
cleanup() {
  set +e
  if [ "$ok" != 1 ] && docker inspect "$name" >/dev/null 2>&1; then
    for u in ain-sre-devnet ain-sre-worker ain-sre-worker-liveness; do
      echo "--- journal of $u" >&2
      X journalctl --no-pager -u "$u" 2>&1 | tail -n 20 >&2
    done
  fi
  # systemd stops its units and removes its cgroups on SIGRTMIN+3 (the container's stop signal).
  docker stop -t 20 "$name" >/dev/null 2>&1
  docker rm -f "$name" >/dev/null 2>&1
  docker image rm "$image" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

step "image: a minimal root (symlinks into the host's /usr, passwd, group, loader cache)"
root="$work/root"
mkdir -p "$root"/{etc/systemd/system,etc/ain-sre,var/lib,var/log/journal,run,tmp,proc,sys,dev,root,usr}
for l in bin lib lib64 sbin; do ln -s "usr/$l" "$root/$l"; done
cp /etc/ld.so.cache /etc/nsswitch.conf "$root/etc/"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
ln -s ../usr/lib/os-release "$root/etc/os-release"
: >"$root/etc/machine-id"
tar -C "$root" -cf "$work/root.tar" .
docker import "$work/root.tar" "$image" >/dev/null

step "worker config, key and function"
etc="$work/etc-ain-sre"
mkdir -p "$etc" "$work/units"
sed -e 's#^apps = .*#apps = ["ops"]#' "$here/worker.toml" >"$etc/worker.toml"
echo "boot-test-password" >"$etc/password"
addr="$(AIN_SRE_LOG=warn "$bin_dir/ain-sre" keygen --light --out "$etc/keystore.json" --password-file "$etc/password" 2>/dev/null \
  | grep -o '0x[0-9a-fA-F]\{40\}' | head -1)"
[ -n "$addr" ] || fail "keygen printed no address"
chmod 0644 "$etc/keystore.json" "$etc/password"
cp "$repo/examples/functions/echo.wat" "$etc/"
cp "$here"/*.service "$here"/*.timer "$work/units/"
mkdir -p "$work/units/ain-sre-worker.service.d"
cat >"$work/units/ain-sre-worker.service.d/boot-test.conf" <<'EOF'
# boot-test only: the key from files instead of credentials (see boot-test.sh's header).
[Service]
LoadCredential=
ExecStart=
ExecStart=/usr/local/bin/ain-sre run --config /etc/ain-sre/worker.toml --data-dir %S/ain-sre \
    --metrics-addr 127.0.0.1:9464 --register --keystore /etc/ain-sre/keystore.json --password-file /etc/ain-sre/password
EOF

step "booting systemd $(/usr/lib/systemd/systemd --version | head -1 | awk '{print $2}') in a container"
# What systemd as PID 1 needs in Docker: CAP_SYS_ADMIN, its own cgroups (rw), unmasked /proc,
# tmpfs /run and /tmp. --network none: loopback only.
docker run -d --name "$name" --network none --stop-signal SIGRTMIN+3 -e container=docker \
  --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --security-opt systempaths=unconfined -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
  -v /usr:/usr:ro -v /etc/ssl:/etc/ssl:ro -v "$bin_dir:/usr/local/bin:ro" -v "$etc:/etc/ain-sre:ro" \
  -v "$work/units:/ain-units:ro" "$image" /usr/lib/systemd/systemd >/dev/null
state=""
for _ in $(seq 60); do
  state="$(X systemctl is-system-running 2>/dev/null || true)"
  case "$state" in running|degraded) break ;; esac
  sleep 0.5
done
case "$state" in running|degraded) ;; *) docker logs "$name" 2>&1 | tail -20 >&2; fail "systemd did not boot (state: ${state:-none})" ;; esac
X sh -c 'cp -r /ain-units/. /etc/systemd/system/ && systemctl daemon-reload'

step "ain-sre-devnet.service, then the echo function deployed"
X systemctl start ain-sre-devnet.service || fail "ain-sre-devnet.service did not start"
for _ in $(seq 30); do X curl -s -o /dev/null http://127.0.0.1:8081/json-rpc && break; sleep 0.5; done
X env AIN_SRE_LOG=warn AIN_SRE_PRIVATE_KEY=b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96 \
  /usr/local/bin/ain-sre deploy /etc/ain-sre/echo.wat --app ops --fn echo --workers "$addr" \
  --node http://127.0.0.1:8081 >"$work/deploy.log" 2>&1 || { cat "$work/deploy.log" >&2; fail "deploy"; }

step "ain-sre-worker.service: ready, sandboxed, answering"
X systemctl start ain-sre-worker.service || fail "ain-sre-worker.service did not start"
for _ in $(seq 60); do X curl -sf -o /dev/null http://127.0.0.1:9464/readyz && break; sleep 0.5; done
X curl -sf http://127.0.0.1:9464/readyz >/dev/null || fail "the worker is not ready (/readyz)"
pid="$(X systemctl show -p MainPID --value ain-sre-worker.service)"
status="$(X cat "/proc/$pid/status")"
uid="$(awk '/^Uid:/ {print $2}' <<<"$status")"
user="$(X systemctl show -p User --value ain-sre-worker.service)"
want() { grep -qE "$1" <<<"$status" || fail "the worker (pid $pid) runs without $2: $(grep -E "^${1%%:*}" <<<"$status" | tr -s '\t' ' ')"; }
[ "$uid" != 0 ] || fail "the worker runs as root"
want '^NoNewPrivs:[[:space:]]+1' "no_new_privs"
want '^Seccomp:[[:space:]]+2' "a seccomp filter"
want '^CapEff:[[:space:]]+0+$' "an empty effective capability set"
want '^CapBnd:[[:space:]]+0+$' "an empty capability bounding set"
out="$(X env AIN_SRE_LOG=warn /usr/local/bin/ain-sre call --app ops --fn echo --input '{"boot":1}' --wait --timeout 30 \
  --node http://127.0.0.1:8081 2>&1)" || { echo "$out" >&2; fail "the call was not answered"; }
grep -q 'status ok' <<<"$out" && grep -q "verified: writer $addr" <<<"$out" || { echo "$out" >&2; fail "the call's answer"; }
X test -s /var/lib/ain-sre/journal.redb || fail "no journal in the StateDirectory /var/lib/ain-sre"
echo "boot-test:   pid $pid, uid $uid (DynamicUser ${user:-?}), no_new_privs, seccomp, no capabilities; a call answered ok and verified"

step "a frozen worker: ain-sre-worker-liveness.service restarts it"
X kill -STOP "$pid"
X systemctl start ain-sre-worker-liveness.service || fail "the liveness check failed to run"
for _ in $(seq 30); do X curl -sf -o /dev/null http://127.0.0.1:9464/livez && break; sleep 0.5; done
pid2="$(X systemctl show -p MainPID --value ain-sre-worker.service)"
[ "$pid2" != "$pid" ] && [ "$pid2" != 0 ] || fail "the frozen worker (pid $pid) was not restarted (now: $pid2)"
X curl -sf -o /dev/null http://127.0.0.1:9464/livez || fail "the restarted worker does not answer /livez"
echo "boot-test:   pid $pid frozen, restarted as pid $pid2, /livez answers"

step "stop: drained, exit 0"
X systemctl stop ain-sre-worker.service
res="$(X systemctl show -p Result -p ExecMainStatus ain-sre-worker.service | tr '\n' ' ')"
[ "$res" = "Result=success ExecMainStatus=0 " ] || fail "stopping the worker: $res"
ok=1
step "ok"
