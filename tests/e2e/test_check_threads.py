"""`celeriac check --threads N` gives the same report for every N.

The quality engine runs column-parallel (src/quality/dq_parallel.c) and promises
results identical to the single-threaded engine. These files are built to reach
every path of the pipeline: several batches and a full ring, unique keys and
primary keys with duplicates (row tasks), duplicate rows (the dataset report),
ragged CSV rows (extra-cell annotations copied into batches), required fields with
missing cells, failing patterns / enums / bounds (examples in row order), NDJSON
whose later records add columns (a drain mid-stream), a table wider than the
cost-ordering limit, rows larger than a batch's text arena, a memory budget small enough that number stores and key sets
spill, and a parse error after many good rows. Compared: the whole JSON of
`--report both` except the timing, pool-peak and thread-count fields.
"""
import json
import os
import random
import subprocess

import pytest

pytestmark = pytest.mark.no_stack  # `celeriac check` only

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CELERIAC_BIN", os.path.join(SRC, "build", "celeriac"))
THREADS = [1, 2, 3, 5]


def check(path, *args, threads):
    proc = subprocess.run([BIN, "check", str(path), "--report", "both", "--compact",
                           "--threads", str(threads), *args],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    out = json.loads(proc.stdout)
    assert out["input"]["threads"] == threads
    for k in ("seconds", "readSeconds", "poolPeakBytes", "threads"):
        out["input"].pop(k)
    return out


def same_for_all_threads(path, *args):
    base = check(path, *args, threads=1)
    for t in THREADS[1:]:
        got = check(path, *args, threads=t)
        assert got == base, f"--threads {t} differs from --threads 1 on {path.name}"
    return base


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("threads")
    rnd = random.Random(7)
    cats = ["red", "green", "blue", "cyan"]
    lines = ["id,code,cat,amount,qty,when,note,ref"]
    for i in range(1, 40001):
        ident = i if i % 997 else i - 1  # duplicates of the unique id
        code = f"C{i % 9000:05d}" if i % 1301 else f"bad{i}"
        cat = cats[i % 4] if i % 1703 else "magenta"
        amount = f"{rnd.uniform(-500, 500):.3f}" if i % 211 else ""
        qty = str(rnd.randrange(0, 1000)) if i % 389 else "x"
        when = f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}"
        note = "" if i % 5 == 0 else f"note {rnd.randrange(50000)}"
        ref = str(i % 100)
        row = [str(ident), code, cat, amount, qty, when, note, ref]
        if i % 2503 == 0:
            row.append("extra")  # a ragged row with an extra cell
        elif i % 2707 == 0:
            row = row[:5]  # a short row
        lines.append(",".join(row))
    lines.append(lines[5000])  # a duplicate row
    (d / "mixed.csv").write_text("\n".join(lines) + "\n")
    schema = {"fields": [
        {"name": "id", "type": "integer", "constraints": {"required": True, "unique": True}},
        {"name": "code", "type": "string", "constraints": {"pattern": "C[0-9]{5}"}},
        {"name": "cat", "type": "string", "constraints": {"enum": cats}},
        {"name": "amount", "type": "number", "constraints": {"minimum": -400, "maximum": 400}},
        {"name": "qty", "type": "integer", "constraints": {"required": True}},
        {"name": "when", "type": "date"},
        {"name": "note", "type": "string", "constraints": {"maxLength": 9}},
        {"name": "ref", "type": "integer"}],
        "primaryKey": ["code", "ref"]}
    (d / "mixed.schema.json").write_text(json.dumps(schema))

    with open(d / "late.ndjson", "w") as f:
        for i in range(30000):
            rec = {"a": i, "b": f"v{i % 300}"}
            if i >= 12000:
                rec["c"] = i * 0.5
            if i >= 25000:
                rec["d"] = {"k": i % 7}
            f.write(json.dumps(rec) + "\n")

    with open(d / "wide.csv", "w") as f:
        f.write(",".join(f"c{j}" for j in range(300)) + "\n")
        for i in range(3000):
            f.write(",".join(str((i * 31 + j * 17) % 1000) if (i + j) % 13 else ""
                             for j in range(300)) + "\n")

    with open(d / "spill.csv", "w") as f:
        f.write("id,v,w\n")
        for i in range(1, 400001):
            f.write(f"{i},{rnd.randrange(100)},{rnd.random():.6f}\n")
    (d / "spill.schema.json").write_text(json.dumps({"fields": [
        {"name": "id", "type": "integer", "constraints": {"unique": True}},
        {"name": "v", "type": "integer"}, {"name": "w", "type": "number"}]}))

    with open(d / "big_rows.csv", "w") as f:  # rows larger than a batch's text arena (2 MB)
        f.write("a,b,c,d\n")
        for i in range(40):
            cell = ("x" * 700000) if i % 7 == 3 else f"v{i}"
            f.write(f"{i},{cell},{cell},{cell}{i}\n")

    with open(d / "broken.csv", "w") as f:
        f.write("a,b\n")
        for i in range(20000):
            f.write(f"{i},x{i % 50}\n")
        f.write('1,"unterminated\n')
    return d


def test_mixed_csv_with_keys_ragged_rows_and_failures(files):
    out = same_for_all_threads(files / "mixed.csv", "--schema", str(files / "mixed.schema.json"))
    assert out["input"]["rows"] == 40001
    assert out["quality"]["passed"] is False


def test_ndjson_with_columns_added_mid_stream(files):
    out = same_for_all_threads(files / "late.ndjson")
    assert out["input"]["rows"] == 30000


def test_table_wider_than_the_cost_ordering(files):
    same_for_all_threads(files / "wide.csv")


def test_spilling_number_stores_and_key_sets(files):
    same_for_all_threads(files / "spill.csv", "--schema", str(files / "spill.schema.json"),
                         "--memory-budget", "4M")


def test_rows_larger_than_a_batch(files):
    out = same_for_all_threads(files / "big_rows.csv")
    assert out["input"]["rows"] == 40


def test_parse_error_after_many_rows(files):
    out = same_for_all_threads(files / "broken.csv")
    assert out["quality"]["passed"] is False


def test_bad_thread_counts_are_usage_errors(files):
    for bad in ("0", "65", "two", "-1"):
        proc = subprocess.run([BIN, "check", str(files / "wide.csv"), "--threads", bad],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2
        assert "--threads" in proc.stderr
