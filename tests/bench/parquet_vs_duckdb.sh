#!/usr/bin/env bash
# parquet_vs_duckdb.sh: `celeriac check` on a large ZSTD Parquet file next to DuckDB reading
# the same file, in one run, with wall time and peak RSS (/usr/bin/time -v) for each.
#
# Usage: tests/bench/parquet_vs_duckdb.sh [--rows 3000000] [--dir DIR] [--keep]
#   CELERIAC_BIN         celeriac binary (default: a RelWithDebInfo (-O2) build without
#                        sanitizers in build-bench-parquet/)
#   CELERIAC_TEST_CACHE  where npm installs @duckdb/node-api when tests/stack/node_modules
#                        lacks it (default ~/.cache/celeriac-tests)
# Needs: /usr/bin/time (Debian package "time"), node + npm.
#
# The file: DuckDB writes N rows (default 3M) with ZSTD, its default V1 pages and row groups
# of 122880 rows: 11 columns (a unique BIGINT id, TIMESTAMP, a 12-value category string,
# DECIMAL(12,2), INTEGER, DOUBLE, BOOLEAN, a name string, a comment string with 5% nulls,
# a zero-padded code string, a FLOAT). The same DuckDB session is the generator, so every run
# writes the same values.
#
# Measured (each one process, one run, the file already in the page cache):
#   celeriac check FILE --compact          (profile of every column; the Parquet reader)
#   DuckDB SUMMARIZE, 1 and 2 threads      (DuckDB's profile of every column)
#   DuckDB count(*) + sum over all columns (DuckDB just reading the values), 1 thread
# and a row-count cross-check. Output: a table of MB/s (file bytes), rows/s, wall and peak RSS.
set -euo pipefail

ROWS=3000000
DIR="${TMPDIR:-/tmp}/celeriac-bench-parquet"
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    --rows) ROWS="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

SRC="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${CELERIAC_TEST_CACHE:-$HOME/.cache/celeriac-tests}"
mkdir -p "$DIR"
[ -x /usr/bin/time ] || { echo "need /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
command -v node >/dev/null || { echo "need node (tests/stack/deps)" >&2; exit 2; }

if [ -z "${CELERIAC_BIN:-}" ]; then
    echo "== building celeriac (-O2, no sanitizers) in $SRC/build-bench-parquet" >&2
    cmake -S "$SRC" -B "$SRC/build-bench-parquet" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCELERIAC_TESTS=OFF -DCELERIAC_SANITIZE=OFF >/dev/null
    make -C "$SRC/build-bench-parquet" -j2 celeriac >/dev/null
    CELERIAC_BIN="$SRC/build-bench-parquet/celeriac"
fi

# DuckDB from the test stack's node_modules, else a cached npm install.
MODDIR="$SRC/tests/stack"
if [ ! -d "$MODDIR/node_modules/@duckdb/node-api" ]; then
    MODDIR="$CACHE/duckdb-node-api"
    if [ ! -d "$MODDIR/node_modules/@duckdb/node-api" ]; then
        mkdir -p "$MODDIR"
        timeout 600 npm install --prefix "$MODDIR" --no-audit --no-fund --no-save \
            @duckdb/node-api@1.5.6-r.1 >/dev/null 2>&1 ||
            { echo "npm could not install @duckdb/node-api" >&2; exit 2; }
    fi
    [ -f "$MODDIR/package.json" ] || echo '{}' > "$MODDIR/package.json"
fi
JS="$DIR/duck.cjs"
cat > "$JS" <<'EOF'
const { createRequire } = require('module');
const req = createRequire(process.argv[2] + '/package.json');
const { DuckDBInstance } = req('@duckdb/node-api');
(async () => {
  const [, , , mode, file, threads, rows] = process.argv;
  const inst = await DuckDBInstance.create(':memory:', { threads: threads || '1' });
  const con = await inst.connect();
  if (mode === 'gen') {
    await con.run(`COPY (SELECT
        i::BIGINT AS id,
        TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i * 7919 % 31536000) SECOND AS ts,
        ['alpha','beta','gamma','delta','epsilon','zeta','eta','theta','iota','kappa','lambda','mu'][i % 12 + 1] AS category,
        (((i * 48271 % 2000000) - 1000000) / 100)::DECIMAL(12, 2) AS amount,
        (i * 16807 % 500)::INTEGER AS qty,
        (i * 69621 % 2147483647) / 2147483647.0 AS score,
        (i % 2 = 0) AS flag,
        'user_' || (i * 31 % 100000)::VARCHAR AS name,
        CASE WHEN i % 20 = 0 THEN NULL ELSE 'note ' || (i % 1000)::VARCHAR END AS comment,
        lpad((i * 13 % 100000)::VARCHAR, 5, '0') AS code,
        ((i % 10000) / 3.0)::FLOAT AS ratio
      FROM range(0, ${rows}) r(i)) TO '${file}' (FORMAT parquet, COMPRESSION zstd)`);
    console.log('{}');
  } else if (mode === 'summarize') {
    const r = await con.runAndReadAll(`SUMMARIZE SELECT * FROM read_parquet('${file}')`);
    console.log(JSON.stringify(r.getRowObjectsJson()));
  } else {
    const r = await con.runAndReadAll(`SELECT count(*) AS n, sum(id), max(ts), count(category), sum(amount),
        sum(qty), sum(score), count_if(flag), count(name), count(comment), count(code), sum(ratio)
        FROM read_parquet('${file}')`);
    console.log(JSON.stringify(r.getRowObjectsJson()));
  }
})().catch(e => { console.error(String(e.message || e)); process.exit(3); });
EOF

FILE="$DIR/bench_${ROWS}.zstd.parquet"
if [ ! -s "$FILE" ]; then
    echo "== DuckDB writes $ROWS rows with ZSTD to $FILE" >&2
    node "$JS" "$MODDIR" gen "$FILE" 2 "$ROWS" >/dev/null
fi
SIZE=$(stat -c %s "$FILE")

RESULTS="$DIR/results.txt"
: > "$RESULTS"
measure() { # measure LABEL CMD...
    local label="$1"; shift
    local log="$DIR/time.log" rc=0
    /usr/bin/time -v "$@" > "$DIR/out.json" 2> "$log" || rc=$?
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$log")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
    if [ $rc -gt 1 ]; then
        echo "$label failed (exit $rc):" >&2; tail -5 "$log" >&2
        printf '%-36s %10s %12s %10s %12s\n' "$label" failed - - - >> "$RESULTS"
        return 0
    fi
    awk -v l="$label" -v b="$SIZE" -v n="$ROWS" -v w="$wall" -v r="$rss" \
        'BEGIN { printf "%-36s %10.1f %12.0f %10.2f %12.1f\n", l, b / 1e6 / w, n / w, w, r / 1024 }' >> "$RESULTS"
}

cat "$FILE" > /dev/null # page cache
echo "== celeriac check" >&2
measure "celeriac check (profile)" "$CELERIAC_BIN" check "$FILE" --compact
GOT_ROWS=$(grep -o '"rows":[0-9]*' "$DIR/out.json" | head -1 | cut -d: -f2)
cp "$DIR/out.json" "$DIR/celeriac.json"
for t in 1 2; do
    echo "== DuckDB SUMMARIZE threads=$t" >&2
    measure "DuckDB SUMMARIZE, $t thread(s)" node "$JS" "$MODDIR" summarize "$FILE" "$t"
done
echo "== DuckDB scan" >&2
measure "DuckDB scan+aggregate, 1 thread" node "$JS" "$MODDIR" scan "$FILE" 1
DUCK_ROWS=$(grep -o '"n":"\?[0-9]*' "$DIR/out.json" | head -1 | grep -o '[0-9]*$')

echo
echo "file: $FILE, $(awk -v b="$SIZE" 'BEGIN{printf "%.1f", b/1e6}') MB, $ROWS rows (ZSTD, written by DuckDB)"
printf '%-36s %10s %12s %10s %12s\n' "tool" "MB/s" "rows/s" "wall s" "peak RSS MB"
cat "$RESULTS"
echo "row count: celeriac ${GOT_ROWS:-?}, DuckDB ${DUCK_ROWS:-?}"
if [ "${GOT_ROWS:-}" != "$ROWS" ]; then
    echo "ERROR: celeriac read ${GOT_ROWS:-nothing}, expected $ROWS rows" >&2
    exit 1
fi
if [ "$KEEP" = 0 ]; then rm -f "$FILE"; fi
