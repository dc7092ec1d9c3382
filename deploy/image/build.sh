#!/usr/bin/env bash
# Builds the ain-sre container image offline, from a binary built on this host: no base image and
# no registry. The image is `FROM scratch` plus ain-sre, ain-sre-jail, the shared libraries `ldd`
# names for them, the dynamic loader, /etc/passwd (root, sre = 10001), the host's CA bundle and the
# echo example. Same idea as `ain-sre runtimes build` for the runtime images: the host's files.
#
#   cargo build --release --locked --bin ain-sre --bin ain-sre-jail
#   deploy/image/build.sh --bin-dir target/release --tag ain-sre:local
#
# Options:
#   --bin-dir DIR   directory holding ain-sre and ain-sre-jail
#                   (default: $CARGO_TARGET_DIR/release, else target/release)
#   --tag TAG       image tag (default: ain-sre:local)
#   --no-strip      keep debug symbols (a debug build is ~10x larger)
# Prints the image id and size; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

bin_dir="${CARGO_TARGET_DIR:-$repo/target}/release"
tag="ain-sre:local"
strip=1
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --no-strip) strip=0; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

for b in ain-sre ain-sre-jail; do
  [ -x "$bin_dir/$b" ] || { echo "build.sh: no executable $bin_dir/$b (build it first, or pass --bin-dir)" >&2; exit 1; }
done
command -v docker >/dev/null || { echo "build.sh: docker not found" >&2; exit 1; }

ctx="$(mktemp -d "${TMPDIR:-/tmp}/ain-sre-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/usr/local/share/ain-sre/examples" \
  "$ctx/home" "$ctx/data"
chmod 1777 "$root/tmp"

for b in ain-sre ain-sre-jail; do
  cp "$bin_dir/$b" "$root/usr/local/bin/$b"
  [ "$strip" = 1 ] && strip --strip-debug "$root/usr/local/bin/$b"
  chmod 0755 "$root/usr/local/bin/$b"
done

# The ldd closure of both binaries, each library at the path the loader looks it up by (the
# loader itself too). A statically linked binary has none: ldd says so and nothing is copied.
libs() {
  ldd "$1" 2>/dev/null | awk '
    $2 == "=>" && $3 ~ /^\// { print $3 }
    $1 ~ /^\// { print $1 }' || true
}
for b in ain-sre ain-sre-jail; do
  for lib in $(libs "$bin_dir/$b"); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
done

cat >"$root/etc/passwd" <<'PW'
root:x:0:0:root:/root:/nonexistent
sre:x:10001:10001:ain-sre:/home/sre:/nonexistent
nobody:x:65534:65534:nobody:/nonexistent:/nonexistent
PW
cat >"$root/etc/group" <<'GR'
root:x:0:
sre:x:10001:
nogroup:x:65534:
GR
# reqwest verifies https node endpoints against the system roots.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
else
  echo "build.sh: warning: no /etc/ssl/certs/ca-certificates.crt on this host; https node URLs will fail in the image" >&2
fi
cp "$repo/examples/functions/echo.wat" "$root/usr/local/share/ain-sre/examples/echo.wat"

cp "$here/Dockerfile" "$ctx/Dockerfile"
version="$("$root/usr/local/bin/ain-sre" --version | awk '{print $2}')"
# The classic builder: FROM scratch needs nothing else (BuildKit may be absent on old engines).
if ! DOCKER_BUILDKIT=0 docker build -q --label "org.opencontainers.image.version=$version" \
  -t "$tag" "$ctx" >"$ctx/build.log" 2>&1; then
  cat "$ctx/build.log" >&2
  echo "build.sh: docker build failed" >&2
  exit 1
fi
docker image inspect "$tag" --format "built {{.RepoTags}} {{.Id}} {{.Size}} bytes (ain-sre $version)"
