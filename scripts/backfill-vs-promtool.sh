#!/usr/bin/env bash
# Opt-in: backfill the same generated OpenMetrics file with `ember tsdb create-blocks-from
# openmetrics` and `promtool tsdb create-blocks-from openmetrics`; prints wall/CPU times,
# the speed ratio and the output sizes (du -sb). Skips when promtool is absent.
#   SERIES=10000 DURATION=6h INTERVAL=15s SEED=1 scripts/backfill-vs-promtool.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null; then
  echo "backfill-vs-promtool: promtool not found; skipping" >&2
  exit 0
fi
SERIES=${SERIES:-10000} DURATION=${DURATION:-6h} INTERVAL=${INTERVAL:-15s} SEED=${SEED:-1}
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
cargo build --release -q -p ember-server
EMBER=${CARGO_TARGET_DIR:-target}/release/ember
"$EMBER" tsdb generate-openmetrics --series "$SERIES" --duration "$DURATION" --interval "$INTERVAL" --seed "$SEED" >"$WORK/data.om"
echo "data set: $SERIES series x $DURATION at $INTERVAL, $(du -b "$WORK/data.om" | cut -f1) bytes"
cat "$WORK/data.om" >/dev/null # warm the page cache for both
run() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$WORK/$name.time" "$@" >"$WORK/$name.log" 2>&1
  read -r wall user sys <"$WORK/$name.time"
  echo "$name: wall ${wall}s, cpu $(echo "$user + $sys" | bc)s"
  eval "${name}_wall=$wall"
}
rm -rf "$WORK/ember-out" "$WORK/promtool-out"
run promtool promtool tsdb create-blocks-from openmetrics "$WORK/data.om" "$WORK/promtool-out"
run ember "$EMBER" tsdb create-blocks-from openmetrics "$WORK/data.om" "$WORK/ember-out"
ps=$(du -sb "$WORK/promtool-out" | cut -f1) es=$(du -sb "$WORK/ember-out" | cut -f1)
echo "output: promtool ${ps} bytes in $(ls -d "$WORK"/promtool-out/*/ | wc -l) blocks, ember ${es} bytes in $(ls -d "$WORK"/ember-out/*/ | wc -l) blocks"
echo "speed ratio (promtool wall / ember wall): $(echo "scale=2; $promtool_wall / $ember_wall" | bc)x"
echo "size ratio (ember / promtool): $(echo "scale=3; $es / $ps" | bc)"
