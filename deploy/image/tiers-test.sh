#!/usr/bin/env bash
# What each sandbox tier needs inside the ain-sre image, checked by running one call per tier
# with exactly the privileges the Kubernetes overlays (deploy/kubernetes/overlays/*) and the
# README document, and checking that less is refused:
#   wasm       uid 10001, no capabilities, no-new-privileges, read-only root, tmpfs /tmp
#   container  uid 0, no capabilities, no-new-privileges, read-only root, the engine's socket
#              (runtime image ain-sre/python3 built on the engine: `ain-sre runtimes build`)
#   process    uid 0, CAP_SYS_ADMIN on top of the defaults, seccomp/AppArmor unconfined, unmasked
#              /proc, the cgroup file system writable, read-only root with tmpfs /run and /tmp
#              (Kubernetes: `privileged: true` grants these; Docker here refuses --privileged)
#
#   deploy/image/tiers-test.sh [--image ain-sre:local]
# Needs Docker, root, and a C compiler with static libc (the native function). Exits non-zero on
# any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
image="ain-sre:local"
[ "${1:-}" = --image ] && image="$2"
fail() { echo "tiers-test: FAIL: $*" >&2; exit 1; }
docker image inspect "$image" >/dev/null 2>&1 || fail "no image $image (deploy/image/build.sh)"
command -v cc >/dev/null || fail "a C compiler is needed for the native test function"
work="$(mktemp -d "${TMPDIR:-/tmp}/ain-sre-tiers.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# A static ELF that copies stdin to stdout: the `native` runtime (the image has no interpreters).
mkdir -p "$work/native"
printf '#include <unistd.h>\nint main(void){char b[4096];ssize_t n;while((n=read(0,b,sizeof b))>0)if(write(1,b,n)!=n)return 1;return 0;}\n' >"$work/cat.c"
cc -static -O2 -o "$work/native/main" "$work/cat.c" || fail "cc -static (install libc6-dev)"

locked=(--rm --cap-drop ALL --security-opt no-new-privileges --read-only --tmpfs /tmp)
process=(--rm --user 0:0 --cap-add SYS_ADMIN --security-opt seccomp=unconfined
         --security-opt apparmor=unconfined --security-opt systempaths=unconfined
         -v /sys/fs/cgroup:/sys/fs/cgroup:rw --read-only --tmpfs /tmp)

# expect NAME TIER WANT -- docker run args...: the call must succeed on TIER and print WANT.
expect() {
  local name="$1" tier="$2" want="$3"; shift 4
  local out
  out="$(docker run "$@" 2>&1)" || { echo "$out" >&2; fail "$name: the call failed"; }
  grep -q "tier $tier " <<<"$out" || { echo "$out" >&2; fail "$name: not run on the $tier tier"; }
  grep -qF "$want" <<<"$out" || { echo "$out" >&2; fail "$name: output lacks $want"; }
  echo "tiers-test: ok   $name"
}
# refuse NAME WHY -- docker run args...: the call must fail, saying WHY.
refuse() {
  local name="$1" why="$2"; shift 3
  local out
  if out="$(docker run "$@" 2>&1)"; then echo "$out" >&2; fail "$name: ran without the privilege it needs"; fi
  grep -qF "$why" <<<"$out" || { echo "$out" >&2; fail "$name: failed, but not because: $why"; }
  echo "tiers-test: ok   $name (refused: $why)"
}

expect "wasm, unprivileged" wasm '{"t":"wasm"}' -- "${locked[@]}" "$image" \
  invoke /usr/local/share/ain-sre/examples/echo.wat --input '{"t":"wasm"}'

expect "container tier, uid 0 + Docker socket" container '"runtime": "python3"' -- \
  "${locked[@]}" --user 0:0 -v /var/run/docker.sock:/var/run/docker.sock \
  -v "$repo/examples/functions/python3:/fn:ro" "$image" invoke /fn/main.py --input '{"name":"ain"}'
refuse "container tier without the socket" "cannot reach the Docker engine" -- \
  "${locked[@]}" --user 0:0 -v "$repo/examples/functions/python3:/fn:ro" "$image" \
  invoke /fn/main.py --tier container --input '{"name":"ain"}'

expect "process tier, root + SYS_ADMIN + unconfined + cgroups + /run" process '{"t":"native"}' -- \
  "${process[@]}" --tmpfs /run -v "$work/native:/fn:ro" "$image" \
  invoke /fn/main --runtime native --input '{"t":"native"}'
refuse "process tier without a writable /run" "creating /run/ain-sre/root" -- \
  "${process[@]}" -v "$work/native:/fn:ro" "$image" invoke /fn/main --runtime native --input x
refuse "process tier as uid 10001" "needs root" -- \
  "${locked[@]}" -v "$work/native:/fn:ro" "$image" invoke /fn/main --runtime native --input x
refuse "process tier with the runtime's default /proc masking" "mount Some(\"proc\")" -- \
  --rm --user 0:0 --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw --read-only --tmpfs /tmp --tmpfs /run \
  -v "$work/native:/fn:ro" "$image" invoke /fn/main --runtime native --input x
# The image has no interpreters: a python3 call must be refused on the process tier (and so not
# advertised), not run into `exec /usr/bin/python3: No such file or directory` and answered `error`.
refuse "python3 on the process tier of an image without python3" "/usr/bin/python3 is not installed" -- \
  "${process[@]}" --tmpfs /run -v "$repo/examples/functions/python3:/fn:ro" "$image" \
  invoke /fn/main.py --input '{"name":"ain"}'
echo "tiers-test: every tier ran in $image with the documented privileges, and was refused with less"
