"""Parquet reader acceptance: celeriac's values against DuckDB and the expectations shipped
with apache/parquet-testing, cell by cell.

What runs:
- test_generated_*: the project's own fixtures, written at test time by DuckDB (npm
  @duckdb/node-api from tests/stack/node_modules) with every codec (uncompressed, snappy,
  gzip, zstd, lz4_raw, brotli) and both page versions (V1, V2 -> DELTA_*, BYTE_STREAM_SPLIT,
  DATA_PAGE_V2), several row groups and pages, nulls, dictionaries and most types. Each file
  is read by celeriac and by DuckDB and compared cell by cell; nested columns must be reported
  unsupported. Also through `celeriac check` (the CLI path), and truncated / bit-flipped
  copies must fail cleanly (no sanitizer report, no crash, a message).
- test_shared_*: every file in ../shared/data/parquet-testing/data (relative to the source
  tree): flat columns must equal DuckDB, the *_expect.csv files and int96_from_spark.md;
  files with a corrupt CRC or a malformed dictionary must fail with EPARSE; every bad_data
  file must fail cleanly or only hold (unread) unsupported nested columns. Skipped, with the
  reason printed, when ../shared is absent.

celeriac's side is `unit_test_parquet --dump FILE` (next to CELERIAC_BIN in the build tree):
one JSON line with the columns, then one JSON array per row of null or [kind, text].
Comparison rules (per DuckDB column type): integers as integers; DOUBLE exactly; FLOAT and
FLOAT16 at their own precision; DECIMAL as exact decimals; strings exactly; BLOB as bytes
(DuckDB prints \\xHH escapes); DATE/TIME/TIMESTAMP* as (date, time, exact fraction, has-zone).
Not here: the reader's unit tests (tests/unit/test_parquet.c), fuzzing.
"""
import csv
import decimal
import json
import math
import os
import pathlib
import random
import shutil
import struct
import subprocess
import sys

import pytest

pytestmark = pytest.mark.no_stack

SRC = pathlib.Path(os.environ.get("CELERIAC_SOURCE_DIR")
                   or pathlib.Path(__file__).resolve().parents[2])
BIN = os.environ.get("CELERIAC_BIN", str(SRC / "build" / "celeriac"))
DUMP = pathlib.Path(BIN).parent / "unit_test_parquet"
STACK = SRC / "tests" / "stack"
SHARED = SRC.parent / "shared" / "data" / "parquet-testing"

DUCK_JS = r"""
const { createRequire } = require('module');
const req = createRequire(process.argv[2] + '/package.json');
const { DuckDBInstance } = req('@duckdb/node-api');
(async () => {
  const inst = await DuckDBInstance.create(':memory:');
  const con = await inst.connect();
  await con.run("SET TimeZone='UTC'");
  const mode = process.argv[3];
  if (mode === 'sql') {
    for (const q of JSON.parse(process.argv[4])) await con.run(q);
    console.log('{}');
    return;
  }
  const file = process.argv[4].replace(/'/g, "''");
  const d = await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
  const cols = d.getRowObjectsJson();
  const sel = cols.map(c => `CAST("${c.column_name.replace(/"/g, '""')}" AS VARCHAR)`).join(',');
  const r = await con.runAndReadAll(`SELECT ${sel || '1'} FROM read_parquet('${file}')`);
  console.log(JSON.stringify({columns: cols.map(c => ({name: c.column_name, type: c.column_type})),
                              rows: r.getRows()}));
})().catch(e => { console.log(JSON.stringify({error: String(e.message || e)})); process.exit(3); });
"""


def _skip(reason):
    print(f"SKIPPED: {reason}", file=sys.stderr)
    pytest.skip(reason)


def _skip_module(reason):
    """Nothing here can run: exit 77, which ctest reports as skipped."""
    print(f"SKIPPED: {reason}", file=sys.stderr)
    pytest.exit(reason, returncode=77)


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    if not DUMP.exists():
        _skip_module(f"{DUMP} not built (needs the unit tests: -DCELERIAC_TESTS=ON)")
    if subprocess.run([str(DUMP), "--has-codecs"]).returncode != 0:
        _skip_module("this build lacks zlib/libzstd/libbrotlidec (CELERIAC_HAVE_CODECS is not "
                     "defined); GZIP/ZSTD/BROTLI files cannot be read")
    if shutil.which("node") is None or not (STACK / "node_modules" / "@duckdb" / "node-api").exists():
        _skip_module("DuckDB (npm @duckdb/node-api) is not installed: run tests/stack/deps")
    d = tmp_path_factory.mktemp("duck")
    js = d / "duck.cjs"
    js.write_text(DUCK_JS)
    return js


def duck(js, *args):
    p = subprocess.run(["node", str(js), str(STACK), *args], capture_output=True, text=True,
                       timeout=600)
    out = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    if p.returncode != 0 or "error" in out:
        raise RuntimeError(f"duckdb failed: {out.get('error') or p.stderr[-500:]}")
    return out


def mine(path):
    p = subprocess.run([str(DUMP), "--dump", str(path)], capture_output=True, text=True,
                       timeout=600)
    assert "runtime error" not in p.stderr and "AddressSanitizer" not in p.stderr, p.stderr[-3000:]
    assert p.returncode in (0, 1), f"dump crashed ({p.returncode}): {p.stderr[-2000:]}"
    lines = p.stdout.splitlines()
    res = {"columns": None, "rows": [], "error": None}
    for ln in lines:
        v = json.loads(ln)
        if isinstance(v, list):
            res["rows"].append(v)
        elif "columns" in v:
            res["columns"] = v["columns"]
        else:
            res["error"] = v
    assert (p.returncode == 1) == (res["error"] is not None)
    if res["error"]:
        assert res["error"]["message"], "an error without a message"
    return res


# ---------------------------------------------------------------- comparison

def _unescape_blob(s):
    out = bytearray()
    i = 0
    b = s.encode("utf-8")
    while i < len(b):
        if b[i:i + 2] == b"\\x" and i + 4 <= len(b):
            try:
                out.append(int(b[i + 2:i + 4], 16))
                i += 4
                continue
            except ValueError:
                pass
        out.append(b[i])
        i += 1
    return bytes(out)


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _temporal(s):
    """(days or None, seconds-of-day Decimal or None, has_zone) from ISO-ish text."""
    s = s.strip()
    zone = False
    if s.endswith("Z"):
        s, zone = s[:-1], True
    elif len(s) > 3 and s[-3] in "+-" and s[-2:].isdigit() and ":" in s:
        s, zone = s[:-3], True
    date = time = None
    if "T" in s or " " in s:
        date, time = s.replace("T", " ").split(" ", 1)
    elif s.count(":") >= 2:
        time = s
    else:
        date = s
    days = sod = None
    if date is not None:
        neg = date.startswith("-")
        y, m, d = date.lstrip("+-").split("-")
        days = _days_from_civil(-int(y) if neg else int(y), int(m), int(d))
    if time is not None:
        h, mi, sec = time.split(":")
        sod = int(h) * 3600 + int(mi) * 60 + decimal.Decimal(sec)
    return days, sod, zone


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


def _same_float(a, b, rnd):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    a, b = rnd(a), rnd(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def cell_equal(m, d, dtype, mtype):
    """m: celeriac cell (None or [kind, text]); d: DuckDB VARCHAR text or None."""
    if m is None or d is None:
        return m is None and d is None
    kind, text = m
    t = dtype.upper()
    if t == "BOOLEAN":
        return kind == "bool" and text == d
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
             "UINTEGER", "UBIGINT", "UHUGEINT"):
        return kind in ("int", "double") and int(text) == int(d)
    if t in ("FLOAT", "DOUBLE"):
        if kind != "double":
            return False
        rnd = (_f16 if mtype == "float16" else _f32) if t == "FLOAT" else (lambda x: x)
        return _same_float(float(text), float(d), rnd)
    if t.startswith("DECIMAL"):
        return kind in ("int", "double") and decimal.Decimal(text) == decimal.Decimal(d)
    if t == "VARCHAR" or t == "UUID" or t.startswith("ENUM"):
        return kind == "str" and text == d
    if t == "BLOB":
        want = _unescape_blob(d)
        return kind == "str" and (text.encode("utf-8") == want or _unescape_blob(text) == want)
    if t.startswith("DATE") or t.startswith("TIME"):
        if kind != "temporal":
            return False
        a, b = _temporal(text), _temporal(d)
        return a == b
    raise AssertionError(f"no comparison rule for DuckDB type {dtype}")


def compare(path, js, allow_types=None):
    """celeriac == DuckDB on every supported column; unsupported columns are nested."""
    got = mine(path)
    assert got["error"] is None, f"{path.name}: {got['error']}"
    want = duck(js, "read", str(path))
    names = [c["name"] for c in got["columns"]]
    assert names == [c["name"] for c in want["columns"]], path.name
    assert len(got["rows"]) == len(want["rows"]), path.name
    bad = []
    checked = 0
    for j, (mc, dc) in enumerate(zip(got["columns"], want["columns"])):
        if not mc["supported"]:
            nested = any(x in dc["type"] for x in ("[]", "STRUCT", "MAP", "INTERVAL")) \
                or dc["type"].endswith("]")
            assert nested, f"{path.name}: column {mc['name']} ({dc['type']}) reported unsupported"
            assert all(r[j] is None for r in got["rows"])
            continue
        checked += 1
        for i, (mr, dr) in enumerate(zip(got["rows"], want["rows"])):
            if not cell_equal(mr[j], dr[j], dc["type"], mc["type"]):
                bad.append(f"{path.name} row {i + 1} column {mc['name']} ({dc['type']}/"
                           f"{mc['type']}): celeriac {mr[j]!r} DuckDB {dr[j]!r}")
                if len(bad) > 10:
                    break
    assert not bad, "\n".join(bad)
    return checked


def damaged_copies(data, seed, n):
    """Truncations and bit flips of data (deterministic)."""
    rnd = random.Random(seed)
    out = []
    for cut in (len(data) - 1, len(data) - 5, len(data) // 2, 9, 3):
        if cut > 0:
            out.append(("truncated", data[:cut]))
    # The footer length field shortened, and the tail without its magic.
    for _ in range(n):
        b = bytearray(data)
        k = rnd.randrange(len(b))
        b[k] ^= 1 << rnd.randrange(8)
        out.append((f"flip@{k}", bytes(b)))
    b = bytearray(data)
    for _ in range(8):
        k = rnd.randrange(max(1, len(b) - 8), len(b))
        b[k] ^= 0xFF
    out.append(("footer-noise", bytes(b)))
    return out


def check_damaged(path, tmp, seed, n=12):
    data = path.read_bytes()
    for what, blob in damaged_copies(data, seed, n):
        f = tmp / f"{path.stem}.{what}.parquet"
        f.write_bytes(blob)
        mine(f)  # asserts: no crash, no sanitizer report, an error has a message
        f.unlink()


# ---------------------------------------------------------------- generated fixtures

GEN_TABLE = """
CREATE TABLE t AS SELECT
  i::INTEGER AS id,
  CASE WHEN i % 7 = 0 THEN NULL ELSE (i % 200 - 100)::TINYINT END AS tiny,
  (i * 37 % 65536 - 32768)::SMALLINT AS small,
  CASE WHEN i % 11 = 0 THEN NULL ELSE i * 1000003 END::BIGINT AS big,
  (i % 250)::UTINYINT AS utiny,
  (i * 2654435761 % 4294967296)::UINTEGER AS uint,
  (18446744073709551615 - i)::UBIGINT AS ubig,
  CASE WHEN i % 5 = 0 THEN NULL ELSE (i / 7.0)::FLOAT END AS f32,
  (i * 0.1 - 300)::DOUBLE AS f64,
  CASE WHEN i % 13 = 0 THEN 'nan'::DOUBLE WHEN i % 17 = 0 THEN '-inf'::DOUBLE ELSE i::DOUBLE / 3 END AS f64x,
  (i % 10000 / 100.0 - 50)::DECIMAL(4, 2) AS dec4,
  (i * 12345.678901)::DECIMAL(18, 6) AS dec18,
  (i::HUGEINT * 1000000000000000000000 - 77)::DECIMAL(38, 10) AS dec38,
  (i % 3 = 0) AS flag,
  CASE WHEN i % 9 = 0 THEN NULL ELSE 'name ' || (i % 50)::VARCHAR END AS cat,
  'unique-' || i::VARCHAR || repeat('x', i % 40) AS uniq,
  CASE i % 4 WHEN 0 THEN 'café' WHEN 1 THEN '東京' WHEN 2 THEN '' ELSE 'tab	and "quote"' END AS txt,
  ('\\x' || lpad(to_hex(i % 256), 2, '0'))::BLOB AS bin,
  DATE '1970-01-01' + INTERVAL (i * 13 - 20000) DAY AS d,
  (TIME '00:00:00' + INTERVAL (i * 7919 % 86400) SECOND + INTERVAL (i % 1000) MILLISECOND)::TIME AS tm,
  TIMESTAMP '2001-02-03 04:05:06' + INTERVAL (i * 3600123) MILLISECOND AS ts,
  (TIMESTAMP '1999-12-31 23:59:59' + INTERVAL (i * 1001) MICROSECOND)::TIMESTAMPTZ AS tstz,
  (TIMESTAMP '2020-06-01 00:00:00' + INTERVAL (i * 17) SECOND)::TIMESTAMP_MS AS ts_ms,
  (TIMESTAMP '1960-06-01 12:00:00' + INTERVAL (i * 17) MICROSECOND)::TIMESTAMP_NS AS ts_ns,
  uuid_from_i(i) AS u,
  [i, i + 1] AS lst,
  {'a': i, 'b': 'x'} AS st
FROM range(0, 6000) r(i)
"""


@pytest.fixture(scope="module")
def generated(tools, tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    codecs = ["uncompressed", "snappy", "gzip", "zstd", "lz4_raw", "brotli"]
    stmts = [
        "CREATE MACRO uuid_from_i(i) AS (lpad(to_hex(i * 2654435761 % 4294967296), 8, '0') || "
        "'-1234-5678-9abc-' || lpad(to_hex(i), 12, '0'))::UUID",
        GEN_TABLE,
    ]
    files = []
    for codec in codecs:
        for ver in ("V1", "V2"):
            f = d / f"gen_{codec}_{ver}.parquet"
            stmts.append(f"COPY t TO '{f}' (FORMAT parquet, COMPRESSION {codec}, "
                         f"PARQUET_VERSION {ver}, ROW_GROUP_SIZE 2500)")
            files.append(f)
    duck(tools, "sql", json.dumps(stmts))
    return files


def test_generated_equal_duckdb(tools, generated):
    for f in generated:
        checked = compare(f, tools)
        assert checked == 25, f"{f.name}: {checked} supported columns"


def test_generated_unsupported_columns_reported(generated):
    got = mine(generated[0])
    info = {c["name"]: c for c in got["columns"]}
    assert info["lst"]["supported"] is False and info["lst"]["type"] == "list"
    assert info["st"]["supported"] is False and info["st"]["type"] == "struct"
    assert info["ts"]["table_type"] == "datetime"
    assert info["tstz"]["type"] == "timestamp(us, UTC)"
    assert info["dec4"]["type"] == "decimal(4,2)"


def test_nested_columns_fail_the_schema_check(generated, tmp_path):
    """A nested column is a clear 'unsupported column' in the schema check, not misread."""
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"fieldsMatch": "subset", "fields": [
        {"name": "lst", "type": "any"}, {"name": "st", "type": "any"}]}))
    p = subprocess.run([BIN, "check", str(generated[0]), "--schema", str(schema), "--compact"],
                       capture_output=True, text=True, timeout=300)
    out = json.loads(p.stdout)
    sv = out["quality"]["metrics"]["schemaValidation"]
    assert sv["passed"] is False
    failing = {f["fields"]: f for f in sv["failures"] if f["rule"] == "unsupportedColumn"}
    assert set(failing) >= {"lst", "st"}, sv
    assert "not supported" in failing["lst"]["message"]
    assert out["quality"]["deductions"]["schema"] > 0


def test_generated_through_check_cli(generated):
    f = generated[3]  # zstd V2
    p = subprocess.run([BIN, "check", str(f), "--compact"], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode in (0, 1), p.stderr[-2000:]
    out = json.loads(p.stdout)
    assert "AddressSanitizer" not in p.stderr and "runtime error" not in p.stderr
    text = json.dumps(out)
    assert "6000" in text, text[:2000]


def test_generated_damaged_fail_cleanly(tools, generated, tmp_path):
    for k, f in enumerate(generated):
        check_damaged(f, tmp_path, seed=k, n=6)


# ---------------------------------------------------------------- parquet-testing

# Files where DuckDB is not the oracle, and what celeriac must do instead.
SHARED_ERRORS = {
    "datapage_v1-corrupt-checksum.parquet": "CRC-32",
    "rle-dict-uncompressed-corrupt-checksum.parquet": "CRC-32",
    "nation.dict-malformed.parquet": "",
}
INT96_SPARK_US = [1704141296123456, 1704070800000000, 253402225200000000, 1735599600000000,
                  None, 9089380393200000000]


@pytest.fixture(scope="module")
def shared(tools):
    if not (SHARED / "data").is_dir():
        _skip(f"{SHARED} is absent: the parquet-testing comparisons need ../shared")
    return SHARED


# Files DuckDB 1.5 cannot read, with the oracle used instead.
#   hadoop/non-hadoop LZ4 (DuckDB lacks the deprecated LZ4 codec): the same rows as the
#     lz4_raw twin, which DuckDB does read;
#   byte_stream_split_extended (DuckDB: BSS only for FLOAT/DOUBLE): the README's rule, each
#     *_byte_stream_split column equals its *_plain twin, and the FLOAT/DOUBLE ones DuckDB;
#   large_string_map.brotli, map_no_value (DuckDB errors): only nested columns, which must be
#     reported unsupported.
LZ4_TWINS = {"hadoop_lz4_compressed.parquet": "lz4_raw_compressed.parquet",
             "non_hadoop_lz4_compressed.parquet": "lz4_raw_compressed.parquet",
             "hadoop_lz4_compressed_larger.parquet": "lz4_raw_compressed_larger.parquet"}
NESTED_ONLY = {"large_string_map.brotli.parquet", "map_no_value.parquet"}
NOT_DUCKDB = set(LZ4_TWINS) | NESTED_ONLY | {"byte_stream_split_extended.gzip.parquet",
                                              "int96_from_spark.parquet"}


def test_shared_lz4_twins(shared):
    for f, twin in LZ4_TWINS.items():
        a, b = mine(shared / "data" / f), mine(shared / "data" / twin)
        assert a["error"] is None and a["columns"] == b["columns"] and a["rows"] == b["rows"], f
        assert len(a["rows"]) in (4, 10000)


def test_shared_nested_only(shared):
    for f in NESTED_ONLY:
        got = mine(shared / "data" / f)
        assert got["error"] is None, got["error"]
        assert got["rows"] and all(not c["supported"] for c in got["columns"]), f
        assert all(v is None for r in got["rows"] for v in r)


def test_shared_byte_stream_split_twins(shared):
    got = mine(shared / "data" / "byte_stream_split_extended.gzip.parquet")
    assert got["error"] is None, got["error"]
    names = [c["name"] for c in got["columns"]]
    pairs = 0
    for j, n in enumerate(names):
        if not n.endswith("_byte_stream_split"):
            continue
        k = names.index(n[: -len("_byte_stream_split")] + "_plain")
        assert [r[j] for r in got["rows"]] == [r[k] for r in got["rows"]], n
        assert any(r[j] is not None for r in got["rows"]), n
        pairs += 1
    assert pairs == 7 and len(got["rows"]) == 200


def test_shared_files_equal_duckdb(tools, shared):
    problems = []
    compared = 0
    for f in sorted((shared / "data").glob("*.parquet")):
        if f.name in SHARED_ERRORS or f.name in NOT_DUCKDB:
            continue
        try:
            compare(f, tools)
            compared += 1
        except (AssertionError, RuntimeError) as e:
            problems.append(f"{f.name}: {e}")
    assert not problems, "\n".join(problems)
    # ARROW-GH-43605 is valid (RLE bit width 0 = all indices 0) and must read too.
    compare(shared / "bad_data" / "ARROW-GH-43605.parquet", tools)
    assert compared >= 55


def test_shared_expected_errors(shared):
    for name, needle in SHARED_ERRORS.items():
        got = mine(shared / "data" / name)
        assert got["error"] is not None, name
        assert got["error"]["error"] == "EPARSE" and needle in got["error"]["message"], got


def test_shared_int96_from_spark(shared):
    got = mine(shared / "data" / "int96_from_spark.parquet")
    assert got["error"] is None
    us = []
    for r in got["rows"]:
        if r[0] is None:
            us.append(None)
            continue
        days, sod, _ = _temporal(r[0][1])
        us.append(int((days * 86400 + sod) * 1000000))
    assert us == INT96_SPARK_US


def _expect_rows(csv_path):
    with open(csv_path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_shared_expect_csv(shared):
    for exp in sorted((shared / "data").glob("*_expect.csv")):
        f = exp.with_name(exp.name.replace("_expect.csv", ".parquet"))
        got = mine(f)
        assert got["error"] is None, got["error"]
        header, rows = _expect_rows(exp)
        # delta_encoding_optional_column_expect.csv writes " c_customer_id" (sic), and the
        # required-column file's names end in ':' where its CSV's do not.
        assert [c["name"].rstrip(":") for c in got["columns"]] == [h.strip() for h in header]
        assert len(got["rows"]) == len(rows), exp.name
        for i, (g, w) in enumerate(zip(got["rows"], rows)):
            for j, (gc, wc) in enumerate(zip(g, w)):
                gtext = "" if gc is None else gc[1]
                if gc is not None and gc[0] == "int":
                    ok = wc != "" and int(wc) == int(gtext)
                else:
                    ok = gtext == wc
                assert ok, f"{exp.name} row {i + 1} column {header[j]}: {gc!r} != {wc!r}"


def test_shared_bad_data_fail_cleanly(shared):
    for f in sorted((shared / "bad_data").glob("*.parquet")):
        got = mine(f)
        if f.name == "ARROW-GH-43605.parquet":
            continue  # valid after all, compared with DuckDB above
        if got["error"] is None:
            # Only acceptable when the damage sits in nested columns we never read.
            assert got["columns"] and not any(c["supported"] for c in got["columns"]), f.name


def test_shared_damaged_fail_cleanly(shared, tmp_path):
    for k, f in enumerate(sorted((shared / "data").glob("*.parquet"))):
        check_damaged(f, tmp_path, seed=1000 + k, n=3)
