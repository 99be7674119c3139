"""dq.process_s3_object on Parquet uploads, end to end: DuckDB writes the file (ZSTD V2 pages
when the build has the codec libraries, else Snappy V1), boto3 puts it on the SigV4-verifying
S3 emulator, the real Celery client sends the task to a real celeriac worker, which reads the
object with ranged GETs and stores its verdict in PostgreSQL.

Needs the local stack (tests/stack/up; exit 77 otherwise, via conftest) and DuckDB from
tests/stack/node_modules (skipped with the reason printed when absent).
Not here: value-level comparisons (test_parquet.py), datasets.process_dataset on Parquet
(test_datasets.py::test_parquet_input).
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import uuid

import boto3
import pytest

from conftest import BIN, SRC



@pytest.fixture(scope="session", autouse=True)
def _stack_env():
    """Before any session fixture (db) touches the environment: without the stack, exit 77
    (ctest: skipped), visibly."""
    missing = [k for k in ("CELERY_BROKER_URL", "DATABASE_URL", "AWS_ENDPOINT_URL_S3",
                           "CELERIAC_MANAGEMENT_URL") if not os.environ.get(k)]
    if missing:
        print(f"SKIPPED: the local stack is not running (missing {', '.join(missing)}); "
              f"run: eval \"$(tests/stack/up)\"", file=sys.stderr)
        pytest.exit("local stack environment absent", returncode=77)


STACK = pathlib.Path(SRC) / "tests" / "stack"
DUMP = pathlib.Path(BIN).parent / "unit_test_parquet"

WRITE_JS = r"""
const { createRequire } = require('module');
const req = createRequire(process.argv[2] + '/package.json');
const { DuckDBInstance } = req('@duckdb/node-api');
(async () => {
  const inst = await DuckDBInstance.create(':memory:');
  const con = await inst.connect();
  await con.run(process.argv[3]);
})().catch(e => { console.error(String(e.message || e)); process.exit(3); });
"""

SCHEMA = {"fields": [
    {"name": "id", "type": "integer", "constraints": {"required": True, "unique": True}},
    {"name": "name", "type": "string", "constraints": {"required": True}},
    {"name": "amount", "type": "number", "constraints": {"minimum": 0}},
    {"name": "day", "type": "date"},
    {"name": "seen", "type": "datetime"},
    {"name": "ok", "type": "boolean"},
]}


def _skip(reason):
    print(f"SKIPPED: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def writer(tmp_path_factory):
    if shutil.which("node") is None or not (STACK / "node_modules" / "@duckdb" / "node-api").exists():
        _skip("DuckDB (npm @duckdb/node-api) is not installed: run tests/stack/deps")
    js = tmp_path_factory.mktemp("w") / "write.cjs"
    js.write_text(WRITE_JS)
    codecs = DUMP.exists() and subprocess.run([str(DUMP), "--has-codecs"]).returncode == 0
    opts = "COMPRESSION zstd, PARQUET_VERSION V2" if codecs else "COMPRESSION snappy"

    def write(select, path):
        sql = f"COPY ({select}) TO '{path}' (FORMAT parquet, {opts}, ROW_GROUP_SIZE 1000)"
        p = subprocess.run(["node", str(js), str(STACK), sql], capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr
        return path.read_bytes()
    return write


@pytest.fixture(scope="module")
def migrated():
    subprocess.run([BIN, "migrate"], check=True, capture_output=True, timeout=120)


@pytest.fixture
def s3():
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


def monitored(db, file_name, schema):
    agency = f"pq-{uuid.uuid4().hex[:8]}"
    with db.cursor() as cur:
        cur.execute("""INSERT INTO reporting.monitoring_file_schema_definition
                       (name, definition, created_at, updated_at)
                       VALUES (%s, %s, now(), now()) RETURNING id""", (agency, json.dumps(schema)))
        sid = cur.fetchone()[0]
        cur.execute("""INSERT INTO reporting.monitoring_file (file_name, agency_slug,
                       schema_definition_id) VALUES (%s, %s, %s) RETURNING id""",
                    (file_name, agency, sid))
        return agency, cur.fetchone()[0]


def quality_rows(db, mf_id):
    with db.cursor() as cur:
        cur.execute("""SELECT q.score, q.passed, q.deductions FROM
                       reporting.monitoring_file_data_quality q JOIN
                       reporting.monitoring_file_run r ON r.id = q.monitoring_file_run_id
                       WHERE r.monitoring_file_id = %s""", (mf_id,))
        return cur.fetchall()


GOOD = """SELECT i::BIGINT AS id, 'name ' || i::VARCHAR AS name, (i * 1.25)::DOUBLE AS amount,
                 DATE '2026-01-01' + (i % 300)::INTEGER AS day,
                 TIMESTAMP '2026-01-01 00:00:00' + INTERVAL (i * 61) SECOND AS seen,
                 (i % 2 = 0) AS ok
          FROM range(1, 5001) r(i)"""


def test_parquet_upload_passes(make_worker, celery_app, db, s3, migrated, writer, tmp_path):
    w = make_worker()
    agency, mf = monitored(db, "data.parquet", SCHEMA)
    body = writer(GOOD, tmp_path / "good.parquet")
    key = f"{agency}/2026/11/22/data.parquet"
    s3.put_object(Bucket="uploads", Key=key, Body=body)
    res = celery_app.send_task("dq.process_s3_object", args=["uploads", key],
                               queue=w.queues[0]).get(timeout=120)
    assert res["format"] == "parquet" and res["parsed"] is True, res
    assert res["rows"] == 5000
    assert res["score"] == 100 and res["passed"] is True, res
    ((score, passed, deductions),) = quality_rows(db, mf)
    assert score == 100 and passed is True
    assert set(deductions.values()) == {0}


def test_parquet_upload_scored(make_worker, celery_app, db, s3, migrated, writer, tmp_path):
    """Typed Parquet values meet the same checks as text: a negative amount (bounds), a
    duplicate id (uniqueness) and a null name (completeness) are all deducted."""
    w = make_worker()
    agency, mf = monitored(db, "bad.parquet", SCHEMA)
    select = GOOD.replace("i::BIGINT AS id", "(CASE WHEN i = 7 THEN 6 ELSE i END)::BIGINT AS id") \
        .replace("(i * 1.25)::DOUBLE", "(CASE WHEN i = 9 THEN -1 ELSE i * 1.25 END)::DOUBLE") \
        .replace("'name ' || i::VARCHAR", "CASE WHEN i = 11 THEN NULL ELSE 'n' || i::VARCHAR END")
    body = writer(select, tmp_path / "bad.parquet")
    key = f"{agency}/2026/11/22/bad.parquet"
    s3.put_object(Bucket="uploads", Key=key, Body=body)
    res = celery_app.send_task("dq.process_s3_object", args=["uploads", key],
                               queue=w.queues[0]).get(timeout=120)
    assert res["format"] == "parquet" and res["parsed"] is True and res["rows"] == 5000
    d = res["deductions"]
    assert d["bounds"] > 0 and d["uniqueness"] > 0 and d["completeness"] > 0, res
    assert d["schema"] == 0 and d["format"] == 0, res


def test_parquet_garbage_is_a_format_verdict(make_worker, celery_app, db, s3, migrated, writer,
                                              tmp_path):
    """A truncated Parquet object: the reader fails cleanly and the run is stored as
    unparsed (format deduction), not a task failure."""
    w = make_worker()
    agency, mf = monitored(db, "cut.parquet", SCHEMA)
    body = writer(GOOD, tmp_path / "cut.parquet")
    key = f"{agency}/2026/11/22/cut.parquet"
    s3.put_object(Bucket="uploads", Key=key, Body=body[: len(body) // 2] + body[-8:])
    res = celery_app.send_task("dq.process_s3_object", args=["uploads", key],
                               queue=w.queues[0]).get(timeout=120)
    assert res["parsed"] is False and res["deductions"]["format"] == 35, res
    assert len(quality_rows(db, mf)) == 1
