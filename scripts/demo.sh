#!/usr/bin/env bash
# The whole job on generated data, end to end on this machine: sample data, dbt build, the sandbox API,
# an export, and a second export that finds nothing new to send. Run it through `make demo`.
#
# Everything it writes lives in its own folder (DEMO_DIR, default .demo/): its DuckDB file, dbt's
# artifacts, the sandbox's store and logs. A DuckDB file named by MO_DUCKDB_PATH is never opened, written
# or deleted: the demo always uses $DEMO_DIR/demo.duckdb and says so.
# The sample data and the sandbox are the repository's development tools (mo_export_dev/, not in the
# product's wheel); the export is the product's `mo-export run`.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
DEMO_DIR=${DEMO_DIR:-$PWD/.demo}
ORDERS=${DEMO_ORDERS:-20000}
mkdir -p "$DEMO_DIR"
DEMO_DIR=$(cd "$DEMO_DIR" && pwd)

step() { printf '\n== %s\n' "$*"; }

if [ -n "${MO_DUCKDB_PATH:-}" ] && [ "$MO_DUCKDB_PATH" != "$DEMO_DIR/demo.duckdb" ]; then
    echo "MO_DUCKDB_PATH=$MO_DUCKDB_PATH is left alone: the demo works in its own file, $DEMO_DIR/demo.duckdb"
fi
# the demo's own settings, whatever the shell exported (a real token never goes to the local sandbox)
export MO_DUCKDB_PATH=$DEMO_DIR/demo.duckdb
export MO_DBT_TARGET_PATH=$DEMO_DIR/target
export DBT_PROFILES_DIR=$PWD
export PEAK_API_KEY=demo-sandbox-token
unset PEAK_BASE_URL PEAK_PATH_TEMPLATE PEAK_SOLUTION_NAME PEAK_OBJECT_NAME MO_DBT_PROJECT_DIR

step "1/6 sample data: $ORDERS orders into $MO_DUCKDB_PATH"
rm -f "$MO_DUCKDB_PATH" "$MO_DUCKDB_PATH.wal"  # the demo's own file, from an earlier demo
"$BIN/python" -m mo_export_dev.sample_data --orders "$ORDERS" --seed 42

step "2/6 dbt build (models, unit tests, data tests; warnings are shown, not hidden)"
"$BIN/dbt" build --target-path "$MO_DBT_TARGET_PATH" --log-path "$DEMO_DIR/logs" \
    --warn-error-options '{"silence": ["NoNodesForSelectionCriteria"]}' || {
    echo "dbt build failed: see $DEMO_DIR/logs/dbt.log" >&2; exit 1; }

step "3/6 what the build produced"
"$BIN/python" - <<'PY'
import os
import duckdb

with duckdb.connect(os.environ["MO_DUCKDB_PATH"], read_only=True) as con:
    exported = con.sql("select count(*) from main.peak_manufacturing_orders").fetchall()[0][0]
    rejected = con.sql("select count(*) from main.peak_manufacturing_orders_rejected").fetchall()[0][0]
    print(f"orders ready to export: {exported:,}; orders rejected with reasons: {rejected:,}")
    print("rejection codes that occurred (an order can carry several; see docs/behaviour.md#rejection-codes):")
    for code, n in con.sql(
        "select code, count(*) from main.peak_manufacturing_orders_rejected, "
        "unnest(string_split(rejection_reasons, ',')) as t(code) group by 1 order by 2 desc, 1"
    ).fetchall():
        print(f"  {n:>6,}  {code}")
PY

step "4/6 start the local Peak-compatible sandbox API"
rm -f "$DEMO_DIR/sandbox.sqlite"*
"$BIN/python" -m mo_export_dev.sandbox --port 0 --store "$DEMO_DIR/sandbox.sqlite" > "$DEMO_DIR/sandbox.log" 2>&1 &
SANDBOX_PID=$!
trap 'kill $SANDBOX_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$DEMO_DIR/sandbox.log" | head -n 1 || true)
    [ -n "$URL" ] && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$DEMO_DIR/sandbox.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "${URL:-}" ] || { echo "the sandbox did not start: $DEMO_DIR/sandbox.log" >&2; exit 1; }
echo "sandbox listening at $URL"

step "5/6 export to the sandbox: Locations (the plants), then Manufacturing Orders"
"$BIN/mo-export" run --base-url "$URL"

step "6/6 export again: nothing changed, nothing is sent"
"$BIN/mo-export" run --base-url "$URL"
echo
PEAK_BASE_URL=$URL "$BIN/mo-export" status   # the sandbox is the destination whose pending rows it counts
echo
echo "stored in the sandbox: $(curl -s "$URL/_sandbox/stats" 2>/dev/null || echo '(curl not available)')"
# like the platform's _failed_rows: orders the sandbox holds whose location it does not hold as a factory
echo "orders at a location the sandbox does not hold as a factory: $(curl -s "$URL/_sandbox/failed-rows" 2>/dev/null \
    | "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["count"])' 2>/dev/null || echo '(not read)')"
echo "everything the demo wrote is in $DEMO_DIR"
