#!/usr/bin/env bash
# The sample project, end to end: start the Gainsight emulator, `dbt build` on DuckDB,
# `dbt-gainsight sync`, print the summary, stop the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"
PORT="${DEMO_PORT:-8756}"
# The emulator's limit (calls/minute); the client is told the same through gainsight.yml.
# The sample has ~1,500 people, each one People API call: at Gainsight's default 100/min the
# demo would take 15 minutes, so it runs with a larger budget. Set DEMO_CALLS_PER_MINUTE=100
# to watch the real pace.
export GAINSIGHT_CALLS_PER_MINUTE="${DEMO_CALLS_PER_MINUTE:-6000}"
export GAINSIGHT_URL="http://127.0.0.1:${PORT}"
export GAINSIGHT_ACCESS_KEY="demo-access-key"
PROJECT=(--project-dir sample_dbt_project --profiles-dir sample_dbt_project)

"$BIN/dbt-gainsight" emulator --port "$PORT" --access-key "$GAINSIGHT_ACCESS_KEY" \
  --rate-limit-per-minute "$GAINSIGHT_CALLS_PER_MINUTE" \
  --objects sample_dbt_project/gainsight_objects.yml &
EMULATOR_PID=$!
trap 'kill "$EMULATOR_PID" 2>/dev/null || true; wait "$EMULATOR_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  "$BIN/python" -c "import urllib.request,sys; urllib.request.urlopen('$GAINSIGHT_URL/__emulator__/counters', timeout=1)" 2>/dev/null && break
  sleep 0.2
done

"$BIN/dbt" build "${PROJECT[@]}"
"$BIN/dbt-gainsight" check "${PROJECT[@]}"
"$BIN/dbt-gainsight" sync "${PROJECT[@]}" --select tag:gainsight
echo "Second run (nothing changed, so no API call):"
"$BIN/dbt-gainsight" sync "${PROJECT[@]}" --select tag:gainsight
