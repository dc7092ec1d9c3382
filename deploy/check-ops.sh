#!/usr/bin/env bash
# Checks the operator packaging: the systemd units (deploy/systemd), the Grafana dashboard
# (deploy/grafana/ain-sre.json) and the Prometheus alert rules (deploy/prometheus). Exits
# non-zero, saying what is wrong, on the first failure:
#
# 1. the dashboard parses as JSON and is well formed (unique panel ids, panels inside the
#    24-column grid and not overlapping, every query on the ${datasource} variable);
# 2. every metric a dashboard panel or an alert rule queries is one the worker exports, and every
#    label it matches or groups by is one of that metric's labels (or a target label: job,
#    instance; le on buckets). "Exported" is decided twice:
#    - from a live worker (with --bin): the built-in chain (`ain-sre devnet`), an echo and a
#      trapping function deployed with the devnet admin key, a worker started with the WASM
#      unit's own ExecStart arguments (its config, state and credential paths mapped to a temp
#      directory) and calls that end ok, error and rejected; then /metrics, /livez and /readyz;
#    - from the source: every `metrics::counter!/gauge!/histogram!` and `describe_*!` in src/.
#    A metric appears on /metrics only once touched, and some only on failures (post failures,
#    host faults, re-signed responses...) that a healthy run does not cause. Those are listed in
#    FAILURE_ONLY below: a queried metric must be in the live scrape, or in FAILURE_ONLY and in
#    src/; anything else fails. Every scraped name must also be found in src/ (so the source
#    reading is not silently missing names), and FAILURE_ONLY must not hold a name the scrape has.
# 3. every dashboard query parses as PromQL and the rules pass `promtool check rules` and their
#    unit tests `promtool test rules` (promtool: Debian's `prometheus` package);
#    the scrape passes `promtool check metrics`;
# 4. `systemd-analyze verify` prints nothing for any unit (with container.conf as a drop-in of
#    ain-sre-worker.service), and `systemd-analyze security --offline` keeps each unit under its
#    exposure ceiling;
# 5. with --self-test: each check above is fed a broken input and must refuse it.
#
#   apt-get install prometheus systemd curl   # promtool, systemd-analyze
#   deploy/check-ops.sh [--bin target/debug/ain-sre] [--self-test]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bin=""
self_test=0
dashboard="$here/grafana/ain-sre.json"
rules="$here/prometheus/ain-sre-rules.yml"
units="$here/systemd"
scrape=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --self-test) self_test=1; shift ;;
    # For the self-test and for trying a change: check these instead of the shipped files.
    --dashboard) dashboard="$2"; shift 2 ;;
    --rules) rules="$2"; shift 2 ;;
    --units) units="$2"; shift 2 ;;
    --scrape) scrape="$2"; shift 2 ;;
    *) echo "check-ops: unknown argument $1" >&2; exit 2 ;;
  esac
done

# Metrics the worker exports only on failure paths a healthy run does not reach.
FAILURE_ONLY="ain_sre_post_retries_total ain_sre_post_failures_total ain_sre_answered_elsewhere_total
ain_sre_host_faults_total ain_sre_responses_resigned_total ain_sre_resign_given_up_total
ain_sre_requests_failed_total ain_sre_bad_events_total ain_sre_calls_left_total
ain_sre_recovery_dropped_total ain_sre_refinalized_blocks_total"

fail() { echo "check-ops: FAIL: $*" >&2; exit 1; }
say() { echo "check-ops: $*"; }
for t in python3 promtool systemd-analyze curl; do
  command -v "$t" >/dev/null || fail "$t is needed (Debian: prometheus for promtool, systemd for systemd-analyze, curl)"
done
[ -z "$bin" ] || [ -x "$bin" ] || fail "no executable $bin"

work="$(mktemp -d "${TMPDIR:-/tmp}/ain-sre-ops.XXXXXX")"
pids=()
cleanup() {
  set +e
  # The worker first (it drains), then the chain; each by the pid started here.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null; wait "${pids[$i]}" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

# --- live scrape ---------------------------------------------------------------------------
live_scrape() {
  local out="$1"
  # Free loopback ports below the ephemeral range (as deploy/fleet-test.sh picks them).
  local listening low p ports=()
  listening="$(ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)"
  low="$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
  while [ "${#ports[@]}" -lt 3 ]; do
    p=$((10000 + RANDOM % (low - 10000)))
    grep -qx "$p" <<<"$listening" || [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
  done
  local rpc="${ports[0]}" ev="${ports[1]}" met="${ports[2]}"
  local node="http://127.0.0.1:$rpc"
  local live="$work/live"
  mkdir -p "$live/creds" "$live/state"
  env_clean=(env -u AIN_SRE_PRIVATE_KEY -u AIN_SRE_KEYSTORE_PASSWORD -u AIN_SRE_NODE AIN_SRE_LOG=warn)

  "$bin" devnet --port "$rpc" --events-port "$ev" --data "$live/chain" >"$live/devnet.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 30); do curl -s -o /dev/null "$node/json-rpc" && break; sleep 0.5; done

  # The worker key as the unit gets it: a keystore and a password file in its credentials dir.
  echo "ops-check-password" >"$live/creds/password"
  local addr
  addr="$("${env_clean[@]}" "$bin" keygen --light --out "$live/creds/keystore" --password-file "$live/creds/password" 2>"$live/keygen.log" \
    | grep -o '0x[0-9a-fA-F]\{40\}' | head -1)" || true
  [ -n "$addr" ] || { cat "$live/keygen.log" >&2; fail "keygen printed no address"; }

  # The devnet's validator key is its admin key (public; the same one compose.yaml uses).
  local admin=b22c95ffc4a5c096f7d7d0487ba963ce6ac945bdc91c79b64ce209de289bec96
  printf '(module (memory (export "memory") 1) (func (export "_start") unreachable))\n' >"$live/trap.wat"
  for f in "echo:$repo/examples/functions/echo.wat" "trap:$live/trap.wat"; do
    "${env_clean[@]}" AIN_SRE_PRIVATE_KEY="$admin" "$bin" deploy "${f#*:}" --app ops --fn "${f%%:*}" \
      --workers "$addr" --node "$node" >>"$live/deploy.log" 2>&1 || { cat "$live/deploy.log" >&2; fail "deploy ${f%%:*}"; }
  done

  # The WASM unit's ExecStart, its /etc, state and credential paths mapped into $live.
  sed -e "s#^node = .*#node = \"$node/json-rpc\"#" -e "s#^events = .*#events = \"ws://127.0.0.1:$ev\"#" \
      -e 's#^apps = .*#apps = ["ops"]#' "$units/worker.toml" >"$live/worker.toml"
  # Small enough that a 200-byte input is refused: a `rejected` answer.
  echo "max_input_bytes = 100" >>"$live/worker.toml"
  local cmd
  cmd="$(awk '/^ExecStart=/ {s = 1} s {sub(/^ExecStart=/, ""); if (sub(/\\$/, "")) {printf "%s", $0} else {print; exit}}' \
    "$units/ain-sre-worker.service")"
  [ -n "$cmd" ] || fail "no ExecStart in ain-sre-worker.service"
  cmd="${cmd//\/etc\/ain-sre\/worker.toml/$live/worker.toml}"
  cmd="${cmd//%S/$live/state}"
  cmd="${cmd//%d/$live/creds}"
  cmd="${cmd//127.0.0.1:9464/127.0.0.1:$met}"
  cmd="${cmd//\/usr\/local\/bin\/ain-sre/$bin}"
  # shellcheck disable=SC2086  # the unit's word splitting: no quoting in ExecStart
  "${env_clean[@]}" $cmd >"$live/worker.log" 2>&1 &
  pids+=($!)
  local m="http://127.0.0.1:$met"
  for _ in $(seq 60); do curl -sf "$m/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
  curl -sf "$m/livez" >/dev/null || { tail -20 "$live/worker.log" >&2; fail "the worker started with the unit's ExecStart does not answer /livez"; }
  curl -sf "$m/readyz" >/dev/null || { tail -20 "$live/worker.log" >&2; fail "the worker started with the unit's ExecStart is not ready (/readyz)"; }
  [ -f "$live/state/ain-sre/journal.redb" ] || fail "the worker did not keep its journal in the unit's StateDirectory (%S/ain-sre)"

  local big
  big="{\"big\":\"$(head -c 200 /dev/zero | tr '\0' a)\"}"
  for c in 'echo:{"x":1}:ok' 'echo:{"x":2}:ok' 'echo:{"x":3}:ok' 'trap:{}:error' "echo:$big:rejected"; do
    local fn="${c%%:*}" rest="${c#*:}"
    local input="${rest%:*}" want="${rest##*:}"
    "${env_clean[@]}" "$bin" call --app ops --fn "$fn" --input "$input" --wait --timeout 30 --node "$node" \
      >"$live/call.out" 2>&1 || true
    grep -q "\"status\": \"$want\"" "$live/call.out" || { cat "$live/call.out" >&2; fail "call $fn: expected status $want"; }
  done
  # The chain-lag gauge is set every 2 s by its own task: wait for its first value.
  for _ in $(seq 20); do
    curl -sf "$m/metrics" >"$out" || fail "GET /metrics"
    grep -q '^ain_sre_chain_lag_blocks' "$out" && break
    sleep 0.5
  done
  say "live worker (the WASM unit's ExecStart, key from its credentials dir): ready; 5 calls (ok x3, error, rejected); $(grep -c '^ain_sre_' "$out") samples scraped"
}

if [ -z "$scrape" ] && [ -n "$bin" ]; then
  scrape="$work/scrape.txt"
  live_scrape "$scrape"
fi
if [ -n "$scrape" ]; then
  # promtool's lint fails on format errors; naming advice alone does not make it exit non-zero.
  promtool check metrics <"$scrape" >"$work/lint.txt" 2>&1 || { cat "$work/lint.txt" >&2; fail "promtool check metrics on the scrape"; }
  say "scrape: promtool check metrics passes"
else
  say "no --bin and no --scrape: metric names checked against src/ only (a live scrape is stronger)"
fi

# --- dashboard and queries ------------------------------------------------------------------
check_queries() {
  python3 - "$repo/src:$repo/crates" "$dashboard" "$rules" "${scrape:-}" "$FAILURE_ONLY" "$work/dashboard-rules.yml" <<'PY'
import json, os, re, sys
src, dash_path, rules_path, scrape_path, failure_only, dash_rules_out = sys.argv[1:7]
failure_only = set(failure_only.split())
errors = []

# Exported metrics from the source: name -> (kind, label keys).
src_metrics = {}
call = re.compile(r'(?:metrics::)?(counter|gauge|histogram|describe_counter|describe_gauge|describe_histogram)!\(\s*"(ain_sre_\w+)"')
# The worker's package (src/) and the workspace crates it links (crates/*/src).
for root, _, files in (w for d in src.split(":") for w in os.walk(d)):
    for f in files:
        if not f.endswith(".rs"):
            continue
        text = open(os.path.join(root, f), encoding="utf-8").read()
        for m in call.finditer(text):
            # The macro's arguments up to its closing parenthesis, for the `"label" =>` keys.
            depth, i = 1, m.end()
            while depth and i < len(text):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            kind = m.group(1).replace("describe_", "")
            e = src_metrics.setdefault(m.group(2), [kind, set()])
            e[1].update(re.findall(r'"(\w+)"\s*=>', text[m.end():i]))
if len(src_metrics) < 10:
    sys.exit(f"check-ops: FAIL: found only {len(src_metrics)} metrics in {src}: the source reading is broken")

def series_names(name, kind):
    return [name + s for s in ("_bucket", "_sum", "_count")] if kind == "histogram" else [name]

# The live scrape: name -> label keys, from sample lines.
scraped = None
if scrape_path:
    scraped = {}
    types = {}
    for line in open(scrape_path):
        if line.startswith("# TYPE "):
            _, _, n, t = line.split()
            types[n] = t
        elif line.startswith("ain_sre_"):
            m = re.match(r'(\w+)(?:\{(.*)\})?\s', line)
            scraped.setdefault(m.group(1), set()).update(re.findall(r'(\w+)="', m.group(2) or ""))
    for base, t in types.items():
        if base not in src_metrics:
            errors.append(f"{base} is on /metrics but not found in src/ (the source reading misses it)")
    hit = failure_only & set(types)
    if hit:
        errors.append(f"FAILURE_ONLY lists {sorted(hit)}, which a healthy run exported: move them out of the list")
    missing = failure_only - set(src_metrics)
    if missing:
        errors.append(f"FAILURE_ONLY lists {sorted(missing)}, which src/ does not export")

# Every series name a query may use -> (base metric, label keys, whether it is a bucket).
known = {}
for base, (kind, labels) in src_metrics.items():
    for n in series_names(base, kind):
        live = scraped is not None and n in scraped
        allowed = live or scraped is None or base in failure_only
        labels_all = set(labels) | (scraped.get(n, set()) if scraped else set())
        known[n] = (base, labels_all, n.endswith("_bucket"), allowed, live)
TARGET = {"job", "instance"}
PROM_OWN = {"up": set()}  # Prometheus's own series for a scrape target

FUNCS = set("""abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max clamp_min
count count_over_time count_values day_of_month day_of_week delta deriv exp floor group histogram_quantile
holt_winters idelta increase irate label_join label_replace last_over_time ln log2 log10 max max_over_time min
min_over_time predict_linear quantile quantile_over_time rate resets round scalar sgn sort sort_desc sqrt
stddev stdvar sum sum_over_time time timestamp topk vector and or unless by without on ignoring group_left
group_right bool offset humanize humanizeDuration inf nan""".split())

used = {}
def check_expr(where, expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)   # strings out: label values, regexes
    e = re.sub(r'\[[^\]]*\]', '', e)                # ranges out
    names = set()
    for m in re.finditer(r'([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?', e):
        tok, sel = m.group(1), m.group(2)
        if tok in FUNCS or tok.startswith("$") or re.fullmatch(r'\d.*', tok):
            continue
        if m.start() > 0 and e[m.start() - 1] in "$.":
            continue
        # A label name inside by (...) / without (...) / on (...) is not a metric.
        before = e[:m.start()]
        if re.search(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*$', before):
            continue
        if tok in PROM_OWN:
            labels, bucket = PROM_OWN[tok] | TARGET, False
        elif tok in known:
            base, labels, bucket, allowed, live = known[tok]
            if not allowed:
                errors.append(f"{where}: {tok} is exported by src/ but was not on the live /metrics and is not in FAILURE_ONLY: drive it in the scrape or list it")
            used[tok] = live
            labels = labels | TARGET
        else:
            errors.append(f"{where}: `{tok}` is not a metric the worker exports")
            continue
        names.add(tok)
        for lab in re.findall(r'(\w+)\s*(?:=~|!~|!=|=)', sel or ""):
            if lab not in labels and not (bucket and lab == "le"):
                errors.append(f"{where}: {tok} has no label `{lab}` (it has {sorted(labels)})")
    # Grouping labels must belong to some metric of the expression.
    pool = set(TARGET)
    for n in names:
        pool |= known[n][1] if n in known else PROM_OWN[n]
        if n in known and known[n][2]:
            pool.add("le")
    for grp in re.findall(r'\b(?:by|without|on|ignoring)\s*\(([^)]*)\)', e):
        for lab in [x.strip() for x in grp.split(",") if x.strip()]:
            if lab not in pool:
                errors.append(f"{where}: groups by `{lab}`, a label none of {sorted(names)} has")
    if not names:
        errors.append(f"{where}: queries no metric")

# The dashboard.
try:
    dash = json.load(open(dash_path))
except (OSError, ValueError) as e:
    sys.exit(f"check-ops: FAIL: {dash_path} does not parse as JSON: {e}")
for k in ("uid", "title", "panels", "templating", "schemaVersion"):
    if k not in dash:
        errors.append(f"dashboard: no `{k}`")
vars_ = {v["name"] for v in dash.get("templating", {}).get("list", [])}
ids, cells, n_queries = set(), {}, 0
dash_exprs = []
for p in dash.get("panels", []):
    pid = p.get("id")
    if pid in ids:
        errors.append(f"dashboard: panel id {pid} used twice")
    ids.add(pid)
    g = p.get("gridPos", {})
    if not all(k in g for k in "xywh") or g["x"] < 0 or g["x"] + g["w"] > 24:
        errors.append(f"dashboard: panel {pid} `{p.get('title')}` has a bad gridPos {g}")
        continue
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            if (x, y) in cells:
                errors.append(f"dashboard: panel {pid} overlaps panel {cells[(x, y)]}")
                break
            cells[(x, y)] = pid
        else:
            continue
        break
    if p.get("type") == "row":
        continue
    targets = p.get("targets") or []
    if not targets:
        errors.append(f"dashboard: panel {pid} `{p.get('title')}` has no query")
    for t in targets:
        ds = t.get("datasource", p.get("datasource", {}))
        if ds.get("uid") != "${datasource}":
            errors.append(f"dashboard: panel {pid} does not use the ${{datasource}} variable")
        expr = t.get("expr", "")
        for v in re.findall(r'\$\{?(\w+)', expr):
            if v not in vars_ and not v.startswith("__"):
                errors.append(f"dashboard: panel {pid} uses ${v}, which is not a dashboard variable")
        check_expr(f"dashboard panel {pid} `{p.get('title')}`", expr)
        dash_exprs.append(expr)
        n_queries += 1
for v in dash.get("templating", {}).get("list", []):
    q = v.get("definition")
    if q:
        m = re.fullmatch(r'label_values\((\w+),\s*(\w+)\)', q)
        if not m:
            errors.append(f"dashboard variable {v['name']}: unexpected query {q}")
        else:
            check_expr(f"dashboard variable {v['name']}", f'{m.group(1)}{{{m.group(2)}=""}}')

# The rules (promtool checks their syntax; here: their names and labels).
import yaml
try:
    doc = yaml.safe_load(open(rules_path))
except (OSError, yaml.YAMLError) as e:
    sys.exit(f"check-ops: FAIL: {rules_path} does not parse as YAML: {e}")
n_rules = 0
for grp in doc.get("groups", []):
    for r in grp.get("rules", []):
        check_expr(f"rule {r.get('alert') or r.get('record')}", str(r.get("expr", "")))
        n_rules += 1

# Dashboard queries for promtool's PromQL parser: recording rules, Grafana's variables replaced.
def sub(e):
    e = e.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h")
    return re.sub(r'\$\{?\w+\}?', '.*', e)
with open(dash_rules_out, "w") as f:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": sub(e)} for i, e in enumerate(dash_exprs)]}]}, f)

if errors:
    for e in errors:
        print(f"check-ops: FAIL: {e}", file=sys.stderr)
    sys.exit(1)
live = sorted(n for n, l in used.items() if l)
src_only = sorted(n for n, l in used.items() if not l)
print(f"check-ops: dashboard: {len(ids)} panels, {n_queries} queries; rules: {n_rules}; "
      f"{len(used)} series names queried, all exported ({len(src_metrics)} metrics in src/)")
if scraped is not None:
    print(f"check-ops:   seen on the live /metrics: {' '.join(live)}")
    print(f"check-ops:   failure-only, checked against src/: {' '.join(src_only) or '-'}")
PY
}
python3 -c 'import yaml' 2>/dev/null || fail "python3's yaml module is needed (Debian: python3-yaml)"
check_queries
promtool check rules "$work/dashboard-rules.yml" >"$work/promtool.txt" 2>&1 \
  || { cat "$work/promtool.txt" >&2; fail "a dashboard query does not parse as PromQL (above)"; }
say "dashboard: every query parses as PromQL (promtool)"

# --- rules ----------------------------------------------------------------------------------
promtool check rules "$rules" >"$work/promtool.txt" 2>&1 || { cat "$work/promtool.txt" >&2; fail "promtool check rules $rules"; }
tests="${rules%.yml}.test.yml"
[ -f "$tests" ] || fail "no rule unit tests $tests"
(cd "$(dirname "$rules")" && promtool test rules "$(basename "$tests")") >"$work/promtool.txt" 2>&1 \
  || { cat "$work/promtool.txt" >&2; fail "promtool test rules $tests"; }
say "rules: promtool check rules and $(grep -c 'alertname:' "$tests") alert unit tests pass ($(promtool --version 2>&1 | head -1 | awk '{print $3}'))"

# --- systemd units --------------------------------------------------------------------------
# verify needs each ExecStart binary to exist: a copy of the units points at this one.
exe="${bin:-$work/ain-sre-stub}"
[ -n "$bin" ] || printf '#!/bin/sh\nexit 0\n' >"$exe"
chmod +x "$exe"
exe="$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")"
ud="$work/units"
mkdir -p "$ud/ain-sre-worker.service.d"
n=0
for f in "$units"/*.service "$units"/*.timer; do
  sed "s#/usr/local/bin/ain-sre#$exe#g" "$f" >"$ud/$(basename "$f")"
  n=$((n + 1))
done
[ "$n" -ge 3 ] || fail "only $n units in $units"
cp "$units/container.conf" "$ud/ain-sre-worker.service.d/container.conf"
for f in "$ud"/*.service "$ud"/*.timer; do
  out="$(cd "$ud" && systemd-analyze verify "./$(basename "$f")" 2>&1)" || true
  [ -z "$out" ] || { echo "$out" >&2; fail "systemd-analyze verify $(basename "$f") (above; every warning counts)"; }
done
say "systemd: $n units verified by systemd-analyze $(systemd-analyze --version | head -1 | awk '{print $2}') (container.conf as a drop-in), no warnings"
# Exposure ceilings (0-100; systemd-analyze shows them /10): the WASM worker and the devnet are
# fully sandboxed (14 measured; 17 with container.conf), the process tier can't be (66).
for spec in ain-sre-worker.service:20 ain-sre-devnet.service:20 ain-sre-worker-process.service:70; do
  u="${spec%%:*}" max="${spec##*:}"
  out="$(cd "$ud" && systemd-analyze security --offline=true --threshold="$max" "./$u" 2>&1)" \
    || { echo "$out" | tail -3 >&2; fail "$u: exposure above $max/100 (systemd-analyze security)"; }
  say "systemd: $u exposure $(echo "$out" | grep -o 'level for [^:]*: [0-9.]*' | awk '{print $NF}') (ceiling $(awk -v m="$max" 'BEGIN {print m / 10}'))"
done

# --- self-test: each check refuses a broken input -------------------------------------------
if [ "$self_test" = 1 ]; then
  st="$work/self-test"
  mkdir -p "$st"
  refuse() {  # refuse NAME WANT ARGS...: check-ops with ARGS must fail, saying WANT.
    local name="$1" want="$2"; shift 2
    if "$0" "${with_scrape[@]}" "$@" >"$st/out" 2>&1; then
      cat "$st/out" >&2; fail "self-test: $name was accepted"
    fi
    grep -qF -- "$want" "$st/out" || { cat "$st/out" >&2; fail "self-test: $name failed, but not with \`$want\`"; }
    say "self-test: refused $name ($(grep -m1 FAIL "$st/out" | cut -c1-110))"
  }
  # The runs below reuse this run's scrape (no second live worker).
  with_scrape=()
  [ -z "$scrape" ] || with_scrape=(--scrape "$scrape")
  jq_edit() { python3 -c "import json,sys; d=json.load(open('$dashboard')); $1; json.dump(d, open(sys.argv[1],'w'))" "$2"; }
  printf '{"panels": [' >"$st/bad.json"
  refuse "a dashboard that is not JSON" "does not parse as JSON" --dashboard "$st/bad.json"
  jq_edit "d['panels'][2]['targets'][0]['expr']='sum(rate(ain_sre_calls_totl[5m]))'" "$st/name.json"
  refuse "a dashboard querying an unknown metric" "ain_sre_calls_totl\` is not a metric" --dashboard "$st/name.json"
  jq_edit "d['panels'][2]['targets'][0]['expr']='sum(rate(ain_sre_calls_total{state=\"ok\"}[5m]))'" "$st/label.json"
  refuse "a dashboard matching a label the metric lacks" "has no label \`state\`" --dashboard "$st/label.json"
  jq_edit "d['panels'][2]['targets'][0]['expr']='sum by (stage) (rate(ain_sre_calls_total[5m]))'" "$st/group.json"
  refuse "a dashboard grouping by a label the metric lacks" "groups by \`stage\`" --dashboard "$st/group.json"
  jq_edit "d['panels'][2]['targets'][0]['expr']='sum(rate(ain_sre_calls_total[5m])'" "$st/syntax.json"
  refuse "a dashboard query that is not PromQL" "does not parse as PromQL" --dashboard "$st/syntax.json"
  jq_edit "d['panels'][3]['gridPos']=dict(d['panels'][2]['gridPos'])" "$st/overlap.json"
  refuse "overlapping dashboard panels" "overlaps panel" --dashboard "$st/overlap.json"
  sed 's/ain_sre_chain_lag_blocks > 20/ain_sre_chain_lag > 20/' "$rules" >"$st/ain-sre-rules.yml"
  cp "${rules%.yml}.test.yml" "$st/"
  refuse "a rule querying an unknown metric" "\`ain_sre_chain_lag\` is not a metric" --rules "$st/ain-sre-rules.yml"
  sed 's/ain_sre_queue_depth > 400/ain_sre_queue_depth >> 400/' "$rules" >"$st/ain-sre-rules.yml"
  refuse "a rule that is not PromQL" "promtool check rules" --rules "$st/ain-sre-rules.yml"
  sed 's/ain_sre_queue_depth > 400/ain_sre_queue_depth > 4000/' "$rules" >"$st/ain-sre-rules.yml"
  refuse "a rule its unit test contradicts" "promtool test rules" --rules "$st/ain-sre-rules.yml"
  mkdir -p "$st/units"
  cp "$units"/* "$st/units/"
  sed -i 's/^PrivateTmp=yes/PrivateTmpp=yes/' "$st/units/ain-sre-worker.service"
  refuse "a unit with a misspelt option" "Unknown key" --units "$st/units"
  cp "$units"/* "$st/units/"
  sed -i '/^SystemCallFilter=/d; /^ProtectSystem=/d; /^PrivateUsers=/d; /^DynamicUser=/d' "$st/units/ain-sre-worker.service"
  refuse "a WASM unit with its sandbox removed" "exposure above 20/100" --units "$st/units"
  if [ -n "$scrape" ]; then
    grep -v '^ain_sre_queue_depth' "$scrape" >"$st/scrape.txt"
    if "$0" --scrape "$st/scrape.txt" >"$st/out" 2>&1; then cat "$st/out" >&2; fail "self-test: a scrape without ain_sre_queue_depth was accepted"; fi
    grep -qF "ain_sre_queue_depth is exported by src/ but was not on the live /metrics" "$st/out" \
      || { cat "$st/out" >&2; fail "self-test: a scrape without ain_sre_queue_depth failed for another reason"; }
    say "self-test: refused a queried metric missing from the live /metrics and not failure-only"
  fi
  say "self-test: every broken input refused"
fi
say "ok"
