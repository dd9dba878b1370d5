#!/usr/bin/env bash
# The sample project, end to end: start the Gainsight emulator, `dbt build` on DuckDB,
# `dbt-gainsight sync`, print the summary, sync again, audit (read Gainsight back), stop the
# emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"
# The emulator's limit (calls/minute); the client is told the same through gainsight.yml.
# The sample has ~1,500 people, each one People API call: at Gainsight's default 100/min the
# demo would take 15 minutes, so it runs with a larger budget. Set DEMO_CALLS_PER_MINUTE=100
# to watch the real pace.
export GAINSIGHT_CALLS_PER_MINUTE="${DEMO_CALLS_PER_MINUTE:-6000}"
export GAINSIGHT_ACCESS_KEY="demo-access-key"
PROJECT=(--project-dir sample_dbt_project --profiles-dir sample_dbt_project)

# Port 0: the OS picks a free port and the emulator prints the URL it bound, so a port taken
# by something else is never used.
EMULATOR_LOG="$(mktemp)"
"$BIN/dbt-gainsight" emulator --port 0 --access-key "$GAINSIGHT_ACCESS_KEY" \
  --rate-limit-per-minute "$GAINSIGHT_CALLS_PER_MINUTE" \
  --objects sample_dbt_project/gainsight_objects.yml >"$EMULATOR_LOG" 2>&1 &
EMULATOR_PID=$!
trap 'kill "$EMULATOR_PID" 2>/dev/null || true; wait "$EMULATOR_PID" 2>/dev/null || true; rm -f "$EMULATOR_LOG"' EXIT

fail() {
  echo "demo: $*" >&2
  if [ -s "$EMULATOR_LOG" ]; then sed 's/^/  emulator: /' "$EMULATOR_LOG" >&2; fi
  exit 1
}

URL=""
for _ in $(seq 1 150); do
  kill -0 "$EMULATOR_PID" 2>/dev/null || fail "the Gainsight emulator exited before it was ready"
  URL="$(sed -n 's/^Gainsight emulator on \(http[^ ]*\) .*/\1/p' "$EMULATOR_LOG")"
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || fail "the Gainsight emulator did not start within 15 s"

# Nothing is sent until the emulator's health route says it is the process started above
# and that it takes the demo's key.
"$BIN/python" - "$URL" "$EMULATOR_PID" <<'PY' || fail "$URL is not the emulator this script started"
import json, os, sys, urllib.request

url, pid = sys.argv[1], int(sys.argv[2])
req = urllib.request.Request(
    url + "/__emulator__/health", headers={"accesskey": os.environ["GAINSIGHT_ACCESS_KEY"]}
)
try:
    health = json.load(urllib.request.urlopen(req, timeout=5))
except Exception as exc:
    sys.exit(f"demo: no health answer from {url}: {exc}")
if not isinstance(health, dict) or health.get("pid") != pid or not health.get("access_key_ok"):
    sys.exit(f"demo: {url}/__emulator__/health answered {health!r}")
PY
export GAINSIGHT_URL="$URL"
echo "Gainsight emulator on $GAINSIGHT_URL (pid $EMULATOR_PID, access key: $GAINSIGHT_ACCESS_KEY)"

"$BIN/dbt" build "${PROJECT[@]}"
"$BIN/dbt-gainsight" check "${PROJECT[@]}"
"$BIN/dbt-gainsight" sync "${PROJECT[@]}" --select tag:gainsight
echo "Second run (nothing changed, so no API call):"
"$BIN/dbt-gainsight" sync "${PROJECT[@]}" --select tag:gainsight
echo "Gainsight read back and compared with the models:"
"$BIN/dbt-gainsight" audit "${PROJECT[@]}" --select tag:gainsight
