#!/usr/bin/env bash
# check_vs_duckdb.sh: throughput and peak memory of `celeriac check` next to DuckDB
# SUMMARIZE (1 and 2 threads) and pandas (read_csv + describe + isna().sum()) on
# the same generated CSV (>= 800 MB by default), plus an RSS flatness check:
# `celeriac check` on the same generator at N and 2N rows. Wall-clock MB/s and
# CPU-time MB/s are both printed: on a shared machine the CPU figure is steadier.
# celeriac runs with --threads 2 and --threads 1 (DuckDB with 1 and 2 threads);
# the last line compares celeriac -t2 with DuckDB's 2 threads and pandas' memory.
#
# Usage: tests/bench/check_vs_duckdb.sh [--mb 820] [--dir DIR] [--keep]
#   CELERIAC_BIN   celeriac binary (default: builds a RelWithDebInfo (-O2) build without sanitizers in build-bench/)
#   CELERIAC_TEST_CACHE  where npm installs @duckdb/node-api (default ~/.cache/celeriac-tests)
# Needs: mawk/gawk, /usr/bin/time (Debian package "time"), python3-pandas, node + npm
# (DuckDB is skipped with a message when npm cannot install it).
#
# The data: 11 columns (integers, a unique id, ISO datetimes, a 12-value category,
# decimals, exponent floats, booleans, names, 5% empty comments, zero-padded codes),
# from a MINSTD generator so every run produces the same bytes. The schema validates
# every column (types, enum, bounds, two regex patterns) without unique constraints,
# so celeriac's memory must not grow with the file.
set -euo pipefail

MB=820
DIR="${TMPDIR:-/tmp}/celeriac-bench"
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    --mb) MB="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

SRC="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${CELERIAC_TEST_CACHE:-$HOME/.cache/celeriac-tests}"
mkdir -p "$DIR"
[ -x /usr/bin/time ] || { echo "need /usr/bin/time (apt-get install -y time)" >&2; exit 2; }

if [ -z "${CELERIAC_BIN:-}" ]; then
    echo "== building celeriac (-O2, no sanitizers) in $SRC/build-bench" >&2
    cmake -S "$SRC" -B "$SRC/build-bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCELERIAC_TESTS=OFF \
        -DCELERIAC_SANITIZE=OFF >/dev/null
    make -C "$SRC/build-bench" -j2 celeriac >/dev/null
    CELERIAC_BIN="$SRC/build-bench/celeriac"
fi

gen() { # gen ROWS FILE
    awk -v n="$1" 'BEGIN {
        x = 42
        split("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu", cat, " ")
        print "id,ts,category,amount,qty,score,flag,name,comment,code,ratio"
        for (i = 1; i <= n; i++) {
            x = (x * 48271) % 2147483647; a = x
            x = (x * 48271) % 2147483647; b = x
            ts = sprintf("2024-%02d-%02dT%02d:%02d:%02d", a % 12 + 1, b % 28 + 1, a % 24, b % 60, (a + b) % 60)
            amount = (a % 2000000 - 1000000) / 100
            score = b / 2147483647 / ((a % 7 == 0) ? 1000 : 1)
            comment = (b % 20 == 0) ? "" : "note " (a % 1000)
            printf "%d,%s,%s,%.2f,%d,%.6g,%s,user_%d,%s,%05d,%.4f\n", i, ts, cat[a % 12 + 1], amount, b % 500, score, (a % 2 ? "true" : "false"), b % 100000, comment, a % 100000, (a % 10000) / 3.0
        }
    }' > "$2"
}

SCHEMA="$DIR/schema.json"
cat > "$SCHEMA" <<'EOF'
{"fields": [
  {"name": "id", "type": "integer", "constraints": {"required": true, "minimum": 1}},
  {"name": "ts", "type": "datetime"},
  {"name": "category", "type": "string", "constraints": {"enum": ["alpha", "beta", "gamma", "delta",
    "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]}},
  {"name": "amount", "type": "number", "constraints": {"minimum": -10000, "maximum": 10000}},
  {"name": "qty", "type": "integer", "constraints": {"minimum": 0}},
  {"name": "score", "type": "number"},
  {"name": "flag", "type": "boolean"},
  {"name": "name", "type": "string", "constraints": {"pattern": "user_[0-9]+"}},
  {"name": "comment", "type": "string", "constraints": {"maxLength": 20}},
  {"name": "code", "type": "string", "constraints": {"pattern": "[0-9]{5}"}},
  {"name": "ratio", "type": "number"}
]}
EOF

# rows for the requested size, from a 20k-row sample
gen 20000 "$DIR/sample.csv"
BYTES_PER_ROW=$(( $(stat -c %s "$DIR/sample.csv") / 20000 ))
ROWS=$(( MB * 1000000 / BYTES_PER_ROW + 1 ))
HALF=$(( ROWS / 2 ))
BIG="$DIR/big.csv"
SMALL="$DIR/half.csv"
echo "== generating $ROWS rows (~${MB} MB) and $HALF rows" >&2
gen "$ROWS" "$BIG"
gen "$HALF" "$SMALL"
SIZE=$(stat -c %s "$BIG")
SIZE_HALF=$(stat -c %s "$SMALL")

RESULTS="$DIR/results.txt"
: > "$RESULTS"
measure() { # measure LABEL FILE_BYTES CMD...
    local label="$1" bytes="$2"; shift 2
    local log="$DIR/time.log"
    local rc=0
    /usr/bin/time -v "$@" > "$DIR/out.json" 2> "$log" || rc=$?
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$log")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$log")
    if [ $rc -gt 1 ]; then
        echo "$label failed (exit $rc):" >&2; tail -5 "$log" >&2
        printf '%-38s %10s %10s %10s %10s %12s\n' "$label" "failed" "-" "-" "-" "-" >> "$RESULTS"
        return 0
    fi
    awk -v l="$label" -v b="$bytes" -v w="$wall" -v c="$cpu" -v r="$rss" \
        'BEGIN { printf "%-38s %10.1f %10.2f %10.2f %10.1f %12.1f\n", l, b / 1e6 / w, w, c, b / 1e6 / c, r / 1024 }' >> "$RESULTS"
}

echo "== celeriac check" >&2
for t in 2 1; do
    measure "celeriac check -t$t --schema (2N rows)" "$SIZE" "$CELERIAC_BIN" check "$BIG" --schema "$SCHEMA" --compact --threads $t
    [ $t = 2 ] && cp "$DIR/out.json" "$DIR/celeriac-big.json"
    measure "celeriac check -t$t --schema (N rows)" "$SIZE_HALF" "$CELERIAC_BIN" check "$SMALL" --schema "$SCHEMA" --compact --threads $t
done
measure "celeriac check -t2, no schema (2N)" "$SIZE" "$CELERIAC_BIN" check "$BIG" --compact --threads 2

DUCK="$CACHE/duckdb-node-api"
if [ ! -d "$DUCK/node_modules/@duckdb/node-api" ]; then
    mkdir -p "$DUCK"
    timeout 600 npm install --prefix "$DUCK" --no-audit --no-fund --no-save @duckdb/node-api@1.5.6-r.1 \
        >/dev/null 2>&1 || echo "DuckDB skipped: npm could not install @duckdb/node-api" >&2
fi
if [ -d "$DUCK/node_modules/@duckdb/node-api" ]; then
    cat > "$DUCK/summarize.mjs" <<'EOF'
import { DuckDBInstance } from '@duckdb/node-api';
const [file, threads] = process.argv.slice(2);
const inst = await DuckDBInstance.create(':memory:', { threads });
const con = await inst.connect();
const r = await con.runAndReadAll(`SUMMARIZE SELECT * FROM read_csv('${file}')`);
console.log(JSON.stringify(r.getRowObjectsJson()));
EOF
    for t in 1 2; do
        echo "== DuckDB SUMMARIZE threads=$t" >&2
        measure "DuckDB SUMMARIZE, $t thread(s)" "$SIZE" node "$DUCK/summarize.mjs" "$BIG" "$t"
    done
    cp "$DIR/out.json" "$DIR/duckdb-summarize.json"
fi

echo "== pandas" >&2
measure "pandas read_csv+describe+isna" "$SIZE" /usr/bin/python3 -c '
import sys, pandas as pd
df = pd.read_csv(sys.argv[1])
print(df.describe(include="all").to_json())
print(df.isna().sum().to_json())' "$BIG"

col() { # col LINE FIELD-FROM-THE-END (0 = last)
    sed -n "$1p" "$RESULTS" | awk -v k="$2" '{print $(NF - k)}'
}
echo
echo "file: $BIG, $(awk -v b="$SIZE" 'BEGIN{printf "%.1f", b/1e6}') MB, $ROWS rows; half: $HALF rows"
printf '%-38s %10s %10s %10s %10s %12s\n' "tool" "MB/s" "wall s" "cpu s" "MB/cpu-s" "peak RSS MB"
cat "$RESULTS"
for l in "2 1 2" "1 3 4"; do
    set -- $l
    awk -v t="$1" -v a="$(col "$3" 0)" -v b="$(col "$2" 0)" 'BEGIN {
        printf "RSS flatness (celeriac -t%s, schema, no unique constraints): N rows %.1f MB, 2N rows %.1f MB, change %+.1f%%\n", t, a, b, (b - a) / a * 100 }'
done
DUCK2=$(grep -n "DuckDB SUMMARIZE, 2 thread" "$RESULTS" | cut -d: -f1)
PANDAS=$(grep -n "^pandas" "$RESULTS" | cut -d: -f1)
if [ -n "$DUCK2" ] && [ -n "$PANDAS" ]; then
    awk -v cw="$(col 1 3)" -v dw="$(col "$DUCK2" 3)" -v cr="$(col 1 0)" -v pr="$(col "$PANDAS" 0)" 'BEGIN {
        printf "target: celeriac -t2 %.2f s vs DuckDB 2 threads %.2f s wall (%s, %.2fx); peak RSS %.1f MB vs pandas %.1f MB (%.1f%%, %s)\n",
            cw, dw, cw < dw ? "faster" : "NOT faster", dw / cw, cr, pr, cr / pr * 100, cr * 10 < pr ? "under a tenth" : "NOT under a tenth" }'
fi
if [ "$KEEP" = 0 ]; then rm -f "$BIG" "$SMALL" "$DIR/sample.csv"; fi
