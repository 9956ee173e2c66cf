#!/usr/bin/env bash
# Opt-in: the same generated data in Prometheus 2.42 (Debian package) and in Ember, the same
# PromQL queries against both HTTP APIs on 127.0.0.1, and the agreement figure.
#
#   SERIES=500 scripts/compare-with-prometheus.sh [WORKDIR]
#
# Needs `prometheus` and `promtool` on PATH (apt-get install prometheus); skips otherwise.
# Results are compared per query: same series (label sets) and values within a relative
# 1e-6 (NaN equals NaN). Differences that come from Prometheus 2.x vs 3.x semantics are
# listed by name (see KNOWN below), not hidden: they count as disagreements in the figure
# and are printed with the reason. A second pass evaluates range functions and subqueries
# exactly on window edges, where 2.x (left-closed) and 3.x (left-open) must differ, and
# checks that each difference is that one and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
for bin in prometheus promtool python3 curl; do
  if ! command -v "$bin" >/dev/null; then
    echo "compare-with-prometheus: $bin not found; skipping" >&2
    exit 0
  fi
done
SERIES=${SERIES:-500} DURATION=${DURATION:-3h} SEED=${SEED:-7}
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
PROM_PORT=${PROM_PORT:-19391} EMBER_PORT=${EMBER_PORT:-19392}
cargo build --release -q -p ember-server
EMBER=${CARGO_TARGET_DIR:-target}/release/ember
# Data ending a few minutes ago, so both servers keep it (retention counts from now).
START=$(( $(date +%s) - 4 * 3600 ))
"$EMBER" tsdb generate-openmetrics --series "$SERIES" --duration "$DURATION" --interval 15s \
  --start "$START" --seed "$SEED" >"$WORK/data.om"
rm -rf "$WORK/prom" "$WORK/ember"
promtool tsdb create-blocks-from openmetrics "$WORK/data.om" "$WORK/prom" >/dev/null
"$EMBER" tsdb create-blocks-from openmetrics -q "$WORK/data.om" "$WORK/ember" >/dev/null
printf 'global:\n  scrape_interval: 1h\nscrape_configs: []\n' >"$WORK/empty.yml"
prometheus --config.file="$WORK/empty.yml" --storage.tsdb.path="$WORK/prom" \
  --web.listen-address=127.0.0.1:$PROM_PORT >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
"$EMBER" --config.file="$WORK/empty.yml" --storage.tsdb.path="$WORK/ember" \
  --web.listen-address=127.0.0.1:$EMBER_PORT >"$WORK/ember.log" 2>&1 &
EMBER_PID=$!
trap 'kill $PROM_PID $EMBER_PID 2>/dev/null || true' EXIT
for port in $PROM_PORT $EMBER_PORT; do
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
    sleep 0.5
  done
done
python3 - "$PROM_PORT" "$EMBER_PORT" "$START" "$DURATION" <<'PY'
import json, math, sys, urllib.parse, urllib.request

prom, ember, start, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
hours = int(duration.rstrip('h'))
end = start + hours * 3600
QUERIES = [
    'node_load1',
    'count(node_load1)',
    'sum by (job) (rate(node_cpu_seconds_total[5m]))',
    'rate(node_cpu_seconds_total{mode="idle"}[1m])',
    'increase(node_network_receive_bytes_total[10m])',
    'irate(node_network_receive_bytes_total[5m])',
    'delta(node_load1[10m])',
    'deriv(node_memory_MemAvailable_bytes[15m])',
    'predict_linear(node_filesystem_avail_bytes[30m], 3600)',
    'avg_over_time(node_load1[10m])',
    'max_over_time(node_load1[30m])',
    'quantile_over_time(0.9, node_load1[30m])',
    'stddev_over_time(node_load1[30m])',
    'count_over_time(node_load1[5m])',
    'changes(kube_pod_status_phase[30m])',
    'resets(node_cpu_seconds_total[1h])',
    'topk(3, node_load1)',
    'bottomk(2, sum by (instance) (node_load1))',
    'quantile(0.5, node_load1)',
    'count_values("v", kube_pod_status_phase)',
    'sum by (namespace) (kube_pod_container_resource_requests)',
    'avg without (cpu) (rate(node_cpu_seconds_total[5m]))',
    'node_load1 > 1',
    'node_load1 > bool 1',
    'node_memory_MemAvailable_bytes / on (instance) group_left node_load1',
    'rate(node_cpu_seconds_total[5m]) * on (instance) group_left (job) node_load1',
    'node_load1 and on (instance) node_memory_MemAvailable_bytes',
    'node_load1 unless node_load1 > 2',
    'absent(nonexistent_metric)',
    'label_replace(node_load1, "host", "$1", "instance", "(.*):.*")',
    'clamp(node_load1, 0.5, 1.5)',
    'round(node_load1, 0.1)',
    'max_over_time(rate(node_cpu_seconds_total[5m])[30m:1m])',
    'sum(rate(http_requests_total[5m])) by (code)',
    'histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))',
    'timestamp(node_load1)',
    'node_load1 offset 30m',
    'sort_desc(node_load1)',
]
KNOWN = {
    'changes': 'Prometheus 2.x range selectors are left-closed (a sample exactly at the window start counts); 3.x and Ember are left-open',
    'resets': 'left-closed (2.x) vs left-open (3.x) range selection',
    'count_over_time': 'left-closed (2.x) vs left-open (3.x) range selection',
    'subquery': '2.x subquery windows are left-closed; 3.x left-open',
}

def query(port, q, t):
    url = f'http://127.0.0.1:{port}/api/v1/query?' + urllib.parse.urlencode({'query': q, 'time': t})
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)

def norm(resp):
    if resp.get('status') != 'success':
        return ('error', resp.get('errorType'))
    d = resp['data']
    if d['resultType'] in ('scalar', 'string'):
        return (d['resultType'], {(): d['result'][1]})
    out = {}
    for s in d['result']:
        key = tuple(sorted(s['metric'].items()))
        out[key] = s['value'][1] if 'value' in s else [v[1] for v in s['values']]
    return (d['resultType'], out)

def close(a, b):
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    if fa == fb:
        return True
    return abs(fa - fb) <= 1e-6 * max(abs(fa), abs(fb))

def reason(q):
    for k, v in KNOWN.items():
        if k in q or (k == 'subquery' and ':1m]' in q):
            return v
    return None

agree = total = nonempty = 0
diffs = []
times = [start + 1800 + i * 1234 for i in range(5)] + [end - 60]
for q in QUERIES:
    for t in times:
        total += 1
        p, e = norm(query(prom, q, t)), norm(query(ember, q, t))
        same = p[0] == e[0] and (p[0] == 'error' or (p[1].keys() == e[1].keys() and all(close(p[1][k], e[1][k]) for k in p[1])))
        if p[0] != 'error' and p[1]:
            nonempty += 1
        if same:
            agree += 1
        else:
            diffs.append((q, t, p, e))
print(f'agreement: {agree}/{total} query evaluations ({100.0 * agree / total:.1f}%) over {len(QUERIES)} queries x {len(times)} times')
print(f'non-empty results (Prometheus side): {nonempty}/{total}')
empty = [q for q in QUERIES if all(not norm(query(prom, q, t))[1] for t in times[:1])]
if empty:
    print('queries empty on Prometheus at the first time (checked, not meaningful): ' + '; '.join(empty))
by_query = {}
for q, t, p, e in diffs:
    by_query.setdefault(q, []).append((t, p, e))
for q, items in by_query.items():
    why = reason(q) or 'UNEXPLAINED'
    t, p, e = items[0]
    pk = set(p[1]) if isinstance(p[1], dict) else set()
    ek = set(e[1]) if isinstance(e[1], dict) else set()
    detail = f'prometheus {p[0]} {len(pk)} series, ember {e[0]} {len(ek)} series'
    if pk == ek and pk:
        k = next(k for k in pk if not close(p[1][k], e[1][k]))
        detail += f'; e.g. {dict(k)}: prometheus {p[1][k]} ember {e[1][k]}'
    print(f'- {q}: {len(items)} of {len(times)} times differ ({why}); {detail}')

# Window edges. The generated samples carry millisecond jitter, so the queries above never
# put a sample exactly on a range's start and the 2.x/3.x difference stays hidden. Here
# each query is evaluated at a time chosen so that a stored sample (or, for subqueries, a
# subquery step) sits exactly at the window start: Prometheus 2.x includes it (left-closed),
# Prometheus 3.x and Ember exclude it (left-open). Every difference here must be that one.
print()
sel = 'node_load1'
first = query(prom, f'{sel}[10m]', end - 60)['data']['result'][0]
one = '{' + ','.join(f'{k}="{v}"' for k, v in sorted(first['metric'].items()) if k != '__name__') + '}'
stamps = [v[0] for v in first['values']]
EDGE = [
    (f'count_over_time(node_load1{one}[5m])', 'sample'),
    (f'changes(node_load1{one}[5m])', 'sample'),
    (f'avg_over_time(node_load1{one}[5m])', 'sample'),
    (f'last_over_time(node_load1{one}[5m])', 'sample'),
    (f'count_over_time(node_load1{one}[5m:15s])', 'step'),
    (f'max_over_time(node_load1{one}[5m:1m])', 'step'),
]
edge_agree = edge_total = edge_known = 0
unexplained = []
for q, kind in EDGE:
    for i in range(3):
        if kind == 'sample':
            # A stored timestamp plus exactly the range: that sample is on the window start.
            t = f'{stamps[i] + 300:.3f}'
        else:
            # Subquery steps are multiples of the step; a multiple of 60 s puts one on the start.
            t = str((int(stamps[i]) // 60 + 6) * 60)
        edge_total += 1
        p, e = norm(query(prom, q, t)), norm(query(ember, q, t))
        if p[0] == 'error' or not p[1]:
            # An error or an empty result proves nothing about window edges.
            unexplained.append((q, t, p, e))
            continue
        same = p[0] == e[0] and (p[0] == 'error' or (p[1].keys() == e[1].keys() and all(close(p[1][k], e[1][k]) for k in p[1])))
        if same:
            edge_agree += 1
            continue
        # Re-evaluate Prometheus a millisecond later: with the edge sample out of its window
        # too, a left-closed vs left-open difference disappears; anything else stays.
        t2 = f'{float(t) + 0.001:.3f}'
        p2 = norm(query(prom, q, t2))
        if p2[0] == e[0] and p2[1].keys() == e[1].keys() and all(close(p2[1][k], e[1][k]) for k in p2[1]):
            edge_known += 1
            print(f'- edge {q} @ {t}: prometheus {list(p[1].values())} ember {list(e[1].values())} '
                  f'(left-closed 2.x vs left-open 3.x: Prometheus 2.42 at t+1ms gives {list(p2[1].values())})')
        else:
            unexplained.append((q, t, p, e))
print(f'window-edge evaluations: {edge_agree}/{edge_total} agree, {edge_known} differ only by '
      f'left-closed (2.x) vs left-open (3.x) ranges, {len(unexplained)} UNEXPLAINED')
for q, t, p, e in unexplained:
    print(f'- UNEXPLAINED edge {q} @ {t}: prometheus {p} ember {e}')
PY
