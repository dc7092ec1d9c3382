#!/usr/bin/env bash
# Renders every kustomization here (the three tier overlays and the optional devnet) with
# `kubectl kustomize`, validates every object against the Kubernetes API schemas with
# kubernetes-validate (offline, --strict: unknown fields fail) for Kubernetes 1.30 and 1.37, and
# feeds each overlay's worker config and worker arguments to the real binary (given with
# --bin PATH), which must accept them. Exits non-zero on the first failure.
#
#   python3 -m pip install -r deploy/kubernetes/requirements.txt
#   deploy/kubernetes/check.sh --bin target/debug/ain-sre [--out DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
fail() { echo "k8s-check: FAIL: $*" >&2; exit 1; }
command -v kubectl >/dev/null || fail "kubectl is needed (it renders kustomizations offline)"
python3 -m kubernetes_validate --version >/dev/null 2>&1 || fail "kubernetes-validate is needed: python3 -m pip install -r $here/requirements.txt"
[ -z "$bin" ] || [ -x "$bin" ] || fail "no executable $bin"
if [ -z "$out" ]; then
  out="$(mktemp -d "${TMPDIR:-/tmp}/ain-sre-k8s.XXXXXX")"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

for dir in overlays/wasm overlays/process overlays/container devnet; do
  name="$(basename "$dir")"
  kubectl kustomize "$here/$dir" >"$out/$name.yaml" 2>"$out/$name.err" \
    || { cat "$out/$name.err" >&2; fail "kubectl kustomize $dir"; }
  n="$(grep -c '^kind:' "$out/$name.yaml" || true)"
  [ "$n" -gt 0 ] || fail "$dir rendered no objects"
  for v in 1.30.0 1.37.0; do
    python3 -m kubernetes_validate --strict --quiet -k "$v" "$out/$name.yaml" \
      || fail "$dir: an object does not validate against Kubernetes $v (above)"
  done
  echo "k8s-check: $dir: $n objects rendered and valid for Kubernetes 1.30 and 1.37"
done

[ -n "$bin" ] || { echo "k8s-check: no --bin: worker configs and arguments not checked"; exit 0; }
# Each overlay's ConfigMap worker.toml and the StatefulSet's args, run by the real binary with the
# config mount pointing at the rendered worker.toml and the keys mount at an empty directory: it
# must get as far as reading pod 0's keystore (config parsed, flags accepted, $(POD_NAME) path
# right); a config or argument it refuses fails here.
python3 - "$out" "$bin" <<'PY'
import os, subprocess, sys, yaml
out, binary = sys.argv[1], sys.argv[2]
keys = os.path.join(out, "keys")
os.makedirs(keys, exist_ok=True)
for name in ("wasm", "process", "container"):
    docs = [d for d in yaml.safe_load_all(open(f"{out}/{name}.yaml")) if d]
    [cm] = [d for d in docs if d["kind"] == "ConfigMap"]
    [sts] = [d for d in docs if d["kind"] == "StatefulSet"]
    [c] = sts["spec"]["template"]["spec"]["containers"]
    conf = os.path.join(out, f"{name}-config")
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, "worker.toml"), "w") as f:
        f.write(cm["data"]["worker.toml"])
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    args = [a.replace(mounts["config"] + "/", conf + "/")
             .replace(mounts["keys"] + "/", keys + "/")
             .replace("$(POD_NAME)", "ain-sre-worker-0")
            for a in c["args"]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIN_SRE_")}
    r = subprocess.run([binary, *args], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    want = f"reading keystore {keys}/ain-sre-worker-0.json"
    if want not in r.stderr:
        sys.exit(f"k8s-check: FAIL: {name}: the worker refused the rendered config or arguments "
                 f"(exit {r.returncode}; expected it to stop at `{want}`):\n{r.stderr}")
    print(f"k8s-check: overlays/{name}: worker.toml and args accepted by `{os.path.basename(binary)} run`")
PY
