"""datasets.process_dataset end to end (issue 4, seed 002's worker half).

The tests play the seed's API with Debian's Python: boto3 uploads the file to the uploads
bucket at datasets/{id}/source/{name}, psycopg2 inserts the dataset and job rows, the real
Celery 5.2.6 client sends `datasets.process_dataset(dataset_id, job_id)` to a real celeriac
worker, and the tests poll `jobs` as the seed's GET /jobs/{id} would. Numbers are checked
against pandas (python3-pandas) with the same reading rules as test_check_oracle.py: CSV
with keep_default_na=False, na_values=[""] (celeriac's only missing value is the empty
cell), JSON lists with pandas.DataFrame(json.load(...)), NDJSON one object per line.

Isolation: the module creates its own database (migrated with `celeriac migrate`) and
drops it at the end, so its rows, the progress-audit trigger and the UNIQUE checksum never
meet other tests. The S3 outage test stops the shared S3 emulator for a few seconds
(tests/stack/ctl s3 stop/start) and always starts it again.
"""
import hashlib
import html.parser
import json
import math
import os
import pathlib
import random
import shutil
import subprocess
import time
import urllib.parse
import uuid

import pytest

from conftest import BIN, SRC

pd = pytest.importorskip("pandas")
boto3 = pytest.importorskip("boto3")
psycopg2 = pytest.importorskip("psycopg2")

TASK = "datasets.process_dataset"
UPLOADS = os.environ.get("S3_BUCKET_UPLOADS", "uploads")
REPORTS = os.environ.get("S3_BUCKET_REPORTS", "reports")
VEGA = "vega-datasets@3.2.1"  # the same pinned package and cache as test_check_oracle.py
CACHE = pathlib.Path(os.environ.get("CELERIAC_TEST_CACHE")
                     or pathlib.Path.home() / ".cache" / "celeriac-tests")

# Without the stack (AWS_ENDPOINT_URL_S3 among its variables) conftest.py exits 77 at collection.


# ------------------------------------------------------------------------------ fixtures

def _with_db(url, dbname):
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(u._replace(path="/" + dbname))


@pytest.fixture(scope="module")
def dsdb():
    """A fresh database migrated by `celeriac migrate`; yields its URL."""
    base = os.environ["DATABASE_URL"]
    name = f"celeriac_ds_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(base, name)
    try:
        env = dict(os.environ, DATABASE_URL=url)
        proc = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        # Idempotent: a second run applies nothing and succeeds.
        proc = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        conn = psycopg2.connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:
            # Audit of every committed change of a job row: proves each milestone is its own
            # transaction (distinct txids) and that none is skipped, whatever the poller saw.
            cur.execute("""
                CREATE TABLE test_job_log (seq bigserial PRIMARY KEY, job_id uuid, state text,
                                           progress int, txid bigint);
                CREATE FUNCTION test_log_job() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO test_job_log (job_id, state, progress, txid)
                    VALUES (NEW.id, NEW.state, NEW.progress, txid_current());
                    RETURN NEW;
                END $$;
                CREATE TRIGGER test_log_job AFTER UPDATE ON jobs
                    FOR EACH ROW EXECUTE FUNCTION test_log_job();""")
        conn.close()
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def pg(dsdb):
    conn = psycopg2.connect(dsdb)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def s3():
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1"),
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 10, "mode": "standard"}))


@pytest.fixture
def worker(make_worker, dsdb):
    return make_worker(env={"DATABASE_URL": dsdb}, concurrency=2)


def stack_ctl(*args):
    subprocess.run([os.path.join(SRC, "tests", "stack", "ctl"), *args], check=True,
                   timeout=180)


# ------------------------------------------------------------------------------ the "API"

def upload(s3, pg, content, filename, content_type, name=None):
    """POST /datasets: stream to uploads, insert the dataset row. Returns dataset_id."""
    if isinstance(content, str):
        content = content.encode()
    dataset_id = str(uuid.uuid4())
    key = f"datasets/{dataset_id}/source/{filename}"
    put = s3.put_object(Bucket=UPLOADS, Key=key, Body=content, ContentType=content_type)
    checksum = hashlib.sha256(content).hexdigest()
    with pg.cursor() as cur:
        # The seed's API dedups by checksum; tests want a fresh dataset each time instead.
        cur.execute("DELETE FROM reports WHERE dataset_id IN "
                    "(SELECT id FROM datasets WHERE checksum_sha256 = %s)", (checksum,))
        cur.execute("DELETE FROM datasets WHERE checksum_sha256 = %s", (checksum,))
        cur.execute("""INSERT INTO datasets (id, name, original_filename, content_type, status,
                           checksum_sha256, size_bytes, upload_bucket, upload_key, upload_etag)
                       VALUES (%s, %s, %s, %s, 'uploaded', %s, %s, %s, %s, %s)""",
                    (dataset_id, name or filename, filename, content_type, checksum,
                     len(content), UPLOADS, key, put["ETag"].strip('"')))
    return dataset_id


def new_job(pg, dataset_id):
    job_id = str(uuid.uuid4())
    with pg.cursor() as cur:
        cur.execute("INSERT INTO jobs (id, dataset_id, state, progress) "
                    "VALUES (%s, %s, 'queued', 0)", (job_id, dataset_id))
    return job_id


def enqueue(celery_app, pg, w, dataset_id, job_id, **kwargs):
    """POST /datasets/{id}/process: send the task, save its id on the job."""
    r = celery_app.send_task(TASK, args=[dataset_id, job_id], kwargs=kwargs, queue=w.queues[0])
    with pg.cursor() as cur:
        cur.execute("UPDATE jobs SET celery_task_id = %s WHERE id = %s AND celery_task_id IS NULL",
                    (r.id, job_id))
    return r


def job(pg, job_id):
    with pg.cursor() as cur:
        cur.execute("SELECT state, progress, error, started_at, finished_at, celery_task_id "
                    "FROM jobs WHERE id = %s", (job_id,))
        row = cur.fetchone()
    return dict(zip(["state", "progress", "error", "started_at", "finished_at", "task_id"], row))


def dataset(pg, dataset_id):
    with pg.cursor() as cur:
        cur.execute("SELECT status, row_count, error, processed_at FROM datasets WHERE id = %s",
                    (dataset_id,))
        row = cur.fetchone()
    return dict(zip(["status", "row_count", "error", "processed_at"], row))


def report_rows(pg, dataset_id):
    with pg.cursor() as cur:
        cur.execute("SELECT report_json, report_bucket, report_key, report_etag FROM reports "
                    "WHERE dataset_id = %s", (dataset_id,))
        return cur.fetchall()


def poll_job(pg, job_id, timeout=120, stop=("success", "failure")):
    """GET /jobs/{id} in a tight loop; returns every distinct (state, progress) seen."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = job(pg, job_id)
        cur = (j["state"], j["progress"])
        if not seen or seen[-1] != cur:
            seen.append(cur)
        if j["state"] in stop:
            return seen
        time.sleep(0.003)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {seen}")


def audit(pg, job_id):
    with pg.cursor() as cur:
        # (the API's own UPDATE of celery_task_id, state still queued, is not the worker's)
        cur.execute("SELECT state, progress, txid FROM test_job_log WHERE job_id = %s "
                    "AND state <> 'queued' ORDER BY seq", (job_id,))
        return cur.fetchall()


def process(celery_app, pg, w, dataset_id, timeout=180, **kwargs):
    job_id = new_job(pg, dataset_id)
    r = enqueue(celery_app, pg, w, dataset_id, job_id, **kwargs)
    seen = poll_job(pg, job_id, timeout=timeout)
    return job_id, r, seen


# ------------------------------------------------------------------------------ pandas oracle

def frame(content, fmt):
    import io
    if isinstance(content, bytes):
        content = content.decode()
    if fmt == "csv":
        return pd.read_csv(io.StringIO(content), keep_default_na=False, na_values=[""])
    if fmt == "json":
        return pd.DataFrame(json.loads(content))
    return pd.DataFrame([json.loads(line) for line in content.splitlines() if line.strip()])


def close(a, b, rel=1e-12):
    return a == b or (a is not None and b is not None
                      and math.isclose(a, b, rel_tol=rel, abs_tol=rel))


def check_against_pandas(report, df):
    bad = []

    def chk(what, got, want, rel=0.0):
        if not close(got, want, rel):
            bad.append(f"{what}: celeriac {got!r} != pandas {want!r}")

    chk("row_count", report["row_count"], len(df))
    assert report["columns"] == list(df.columns)
    for col in df.columns:
        s = df[col]
        chk(f"{col}.nulls", report["null_counts"][col], int(s.isna().sum()))
        if s.dropna().map(lambda v: isinstance(v, (list, dict))).any():
            continue
        numeric = s.dtype.kind in "if"
        chk(f"{col}.numeric-ish", col in report["numeric"], numeric)
        if numeric and s.notna().any():
            n = report["numeric"][col]
            chk(f"{col}.min", n["min"], float(s.min()))
            chk(f"{col}.max", n["max"], float(s.max()))
            chk(f"{col}.mean", n["mean"], float(s.mean()), 1e-12)
            q1, q3 = s.quantile(0.25), s.quantile(0.75)
            iqr = q3 - q1
            want = int(((s < q1 - 1.5 * iqr) | (s > q3 + 1.5 * iqr)).sum())
            o = report["anomalies"]["outliers"][col]
            chk(f"{col}.outliers", o["count"], want)
            chk(f"{col}.q1", o["q1"], float(q1))
            chk(f"{col}.q3", o["q3"], float(q3))
            assert len(o["examples"]) <= o["count"]
            for ex in o["examples"]:
                v = s.iloc[ex["row"] - 1]
                assert v < q1 - 1.5 * iqr or v > q3 + 1.5 * iqr, (col, ex)
    hashable = df.astype(str) if any(df[c].dtype.kind == "O" for c in df.columns) else df
    chk("duplicates", report["anomalies"]["duplicates"]["count"],
        int(hashable.duplicated().sum()))
    assert not bad, "\n".join(bad)


class Cells(html.parser.HTMLParser):
    """Rows of <table id=...> as lists of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self.table, self.row, self.cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.table = self.tables.setdefault(dict(attrs).get("id"), [])
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.table.append(self.row)
            self.row = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def check_html(s3, dataset_id, report):
    body = s3.get_object(Bucket=REPORTS, Key=f"datasets/{dataset_id}/report/report.html")
    assert body["ContentType"].startswith("text/html")
    p = Cells()
    p.feed(body["Body"].read().decode())
    summary = {r[0]: r[1] for r in p.tables["summary"]}
    assert int(summary["Rows"]) == report["row_count"]
    assert int(summary["Columns"]) == report["column_count"]
    assert int(summary["Duplicate rows"]) == report["anomalies"]["duplicates"]["count"]
    cols = {r[0]: r for r in p.tables["columns"][1:]}
    assert list(cols) == report["columns"]
    for name, r in cols.items():
        assert int(r[1]) == report["null_counts"][name]
        n = report["numeric"].get(name)
        for i, k in ((2, "min"), (3, "max"), (4, "mean")):
            if n is None or n[k] is None:
                assert r[i] == "\u2013"
            else:
                assert float(r[i]) == n[k], (name, k, r[i], n[k])
        o = report["anomalies"]["outliers"].get(name)
        if o is not None:
            assert int(r[5]) == o["count"]


def fetch_report(s3, pg, dataset_id):
    rows = report_rows(pg, dataset_id)
    assert len(rows) == 1, rows
    report_json, bucket, key, etag = rows[0]
    assert (bucket, key) == (REPORTS, f"datasets/{dataset_id}/report/report.json")
    obj = s3.get_object(Bucket=REPORTS, Key=key)
    assert obj["ETag"].strip('"') == etag
    from_s3 = json.loads(obj["Body"].read())
    assert from_s3 == report_json
    return report_json, etag


# ------------------------------------------------------------------------------ data

def sales_csv(rows, seed=7):
    """A CSV with nulls, duplicate rows, outliers, text, ints and floats."""
    rnd = random.Random(seed)
    out = ["order_id,region,amount,quantity,discount,note"]
    regions = ["north", "south", "east", "west"]
    prev = None
    for i in range(rows):
        if prev is not None and i % 997 == 0:
            out.append(prev)  # an exact duplicate row
            continue
        amount = round(rnd.gauss(100, 15), 2)
        if i % 1499 == 0:
            amount = round(amount * 40, 2)  # an outlier
        qty = "" if i % 211 == 0 else str(rnd.randint(1, 9))
        disc = "" if i % 7 == 0 else f"{rnd.random():.3f}"
        note = "" if i % 3 else rnd.choice(["gift", "rush, fragile", 'say "hi"'])
        note = '"' + note.replace('"', '""') + '"' if ("," in note or '"' in note) else note
        prev = f"{i % 50000},{rnd.choice(regions)},{amount},{qty},{disc},{note}"
        out.append(prev)
    return "\n".join(out) + "\n"


SMALL = [
    {"id": 1, "city": "Oslo", "temp": 3.5, "pop": 700000, "tag": None},
    {"id": 2, "city": "Rome", "temp": 18.25, "pop": 2800000, "tag": "it"},
    {"id": 3, "city": "Lima", "temp": 19.0, "pop": 9700000, "tag": "pe"},
    {"id": 2, "city": "Rome", "temp": 18.25, "pop": 2800000, "tag": "it"},
    {"id": 5, "city": "Nuuk", "temp": -60.0, "pop": 19000, "tag": None},
    {"id": 6, "city": "Cairo", "temp": 22.5, "pop": 10000000, "tag": "eg"},
    {"id": 7, "city": "Quito", "temp": 14.0, "pop": 2800000, "tag": "ec"},
    {"id": 8, "city": "Perth", "temp": None, "pop": 2100000, "tag": "au"},
]


def small_as(fmt):
    if fmt == "json":
        return json.dumps(SMALL), "small.json", "application/json"
    if fmt == "ndjson":
        return "".join(json.dumps(r) + "\n" for r in SMALL), "small.ndjson", \
            "application/x-ndjson"
    lines = ["id,city,temp,pop,tag"]
    for r in SMALL:
        lines.append(",".join("" if r[k] is None else str(r[k]) for k in
                              ("id", "city", "temp", "pop", "tag")))
    return "\n".join(lines) + "\n", "small.csv", "text/csv"


# ------------------------------------------------------------------------------ 1. done

def test_end_to_end_progress_report_and_pandas(worker, celery_app, s3, pg):
    content = sales_csv(400_000)
    dataset_id = upload(s3, pg, content, "January sales.csv", "text/csv", "January sales")
    job_id, r, seen = process(celery_app, pg, worker, dataset_id)
    result = r.get(timeout=60)

    # Progress as a poller sees it: monotonic, ends at 100, intermediate milestones visible.
    states = [s for s, _ in seen]
    progress = [p for _, p in seen]
    assert progress == sorted(progress), seen
    assert seen[-1] == ("success", 100), seen
    assert set(progress) <= {0, 5, 25, 60, 85, 100}, seen
    assert set(progress) & {5, 25, 60, 85}, f"no intermediate milestone observed: {seen}"
    assert "started" in states, seen
    # ...and as committed: every milestone, in order, each in its own transaction.
    log = audit(pg, job_id)
    worker_moves = [(s, p) for s, p, _ in log]
    assert worker_moves == [("started", 5), ("started", 25), ("started", 60), ("started", 85),
                            ("success", 100)], log
    txids = [t for _, _, t in log]
    assert len(set(txids)) == len(txids), log

    j, d = job(pg, job_id), dataset(pg, dataset_id)
    assert j["error"] is None and j["started_at"] and j["finished_at"]
    assert j["finished_at"] >= j["started_at"]
    assert j["task_id"] == r.id
    assert d["status"] == "done" and d["processed_at"] and d["error"] is None

    report, etag = fetch_report(s3, pg, dataset_id)
    df = frame(content, "csv")
    assert d["row_count"] == len(df) == report["row_count"] == result["row_count"]
    check_against_pandas(report, df)
    assert report["anomalies"]["duplicates"]["count"] > 0
    assert report["anomalies"]["outliers"]["amount"]["count"] > 0
    assert report["anomalies"]["outliers"]["amount"]["examples"]
    assert report["dataset_id"] == dataset_id and report["job_id"] == job_id
    assert report["source"]["key"] == f"datasets/{dataset_id}/source/January sales.csv"
    assert report["source"]["format"] == "csv"
    check_html(s3, dataset_id, report)

    assert result == {
        "dataset_id": dataset_id, "job_id": job_id, "state": "success", "progress": 100,
        "cached": False, "row_count": len(df), "report_bucket": REPORTS,
        "report_key": f"datasets/{dataset_id}/report/report.json", "report_etag": etag,
        "report_html_key": f"datasets/{dataset_id}/report/report.html", "format": "csv"}


# ------------------------------------------------------------------------------ 2. invalid

INVALID = [
    pytest.param(b'{"not": "a list"}', "one.json", "application/json", "expected an array",
                 id="json-object"),
    pytest.param(b"[1, 2, 3]", "numbers.json", "application/json", "expected an object",
                 id="json-list-of-numbers"),
    pytest.param(b'a,b\n1,"unterminated\n', "broken.csv", "text/csv", "unterminated",
                 id="csv-unterminated-quote"),
    pytest.param(b"a,b\n1,\xff\xfe\n", "latin.csv", "text/csv", "UTF-8", id="csv-bad-utf8"),
    pytest.param(b"PAR1....", "data.parquet", "application/vnd.apache.parquet", "",
                 id="parquet-garbage"),
]


@pytest.mark.parametrize("content,filename,ctype,needle", INVALID)
def test_invalid_upload_fails_fast(worker, celery_app, s3, pg, content, filename, ctype, needle):
    dataset_id = upload(s3, pg, content, filename, ctype)
    job_id = new_job(pg, dataset_id)
    r = enqueue(celery_app, pg, worker, dataset_id, job_id)
    with pytest.raises(ValueError) as ei:
        r.get(timeout=60)
    assert needle in str(ei.value)
    j, d = job(pg, job_id), dataset(pg, dataset_id)
    assert j["state"] == "failure" and j["error"] and needle in j["error"], j
    assert j["finished_at"] is not None
    assert d["status"] == "failed" and d["error"] == j["error"], d
    assert report_rows(pg, dataset_id) == []
    assert [s for s, _, _ in audit(pg, job_id)] == ["started", "failure"]
    worker.wait_log(r.id)
    assert not [line for line in worker.log().splitlines()
                if "task.retried" in line and r.id in line], "an invalid upload was retried"


# ------------------------------------------------------------------------------ 3. outage

def test_s3_outage_retries_then_succeeds(worker, celery_app, s3, pg):
    content, filename, ctype = small_as("csv")
    dataset_id = upload(s3, pg, content, filename, ctype)
    job_id = new_job(pg, dataset_id)
    stack_ctl("s3", "stop")
    try:
        r = enqueue(celery_app, pg, worker, dataset_id, job_id)
        seen = poll_job(pg, job_id, timeout=60, stop=("retrying", "success", "failure"))
        assert seen[-1][0] == "retrying", seen
        assert job(pg, job_id)["error"], "the transient error is visible while retrying"
    finally:
        stack_ctl("s3", "start")
    seen += poll_job(pg, job_id, timeout=120)
    assert seen[-1] == ("success", 100), seen
    result = r.get(timeout=60)
    assert result["state"] == "success" and result["row_count"] == len(SMALL)
    assert len(report_rows(pg, dataset_id)) == 1
    j = job(pg, job_id)
    assert j["error"] is None
    states = [s for s, _, _ in audit(pg, job_id)]
    assert "retrying" in states and states[-1] == "success", states
    assert "task.retried" in worker.log()
    check_against_pandas(fetch_report(s3, pg, dataset_id)[0], frame(content, "csv"))


def test_database_connection_lost_mid_task(worker, celery_app, s3, pg):
    """The worker's PostgreSQL session is killed while it parses (a real lost connection,
    and with it the advisory lock): the next milestone fails, the task reconnects, takes the
    lock again, records `retrying`, and the Celery retry completes the job."""
    content = sales_csv(400_000, seed=5)
    dataset_id = upload(s3, pg, content, "big.csv", "text/csv")
    job_id = new_job(pg, dataset_id)
    r = enqueue(celery_app, pg, worker, dataset_id, job_id)
    poll_job(pg, job_id, timeout=60, stop=("started",))
    with pg.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'celeriac'")
        assert cur.fetchone()[0] >= 1
    result = r.get(timeout=180)
    assert result["state"] == "success" and result["cached"] is False
    states = [s for s, _, _ in audit(pg, job_id)]
    assert "retrying" in states and states[-1] == "success", states
    log = worker.log()
    assert "datasets.reattached" in log and "task.retried" in log
    assert len(report_rows(pg, dataset_id)) == 1
    assert dataset(pg, dataset_id)["status"] == "done"


# ------------------------------------------------------------------------------ 4. formats

@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_formats(worker, celery_app, s3, pg, fmt):
    content, filename, ctype = small_as(fmt)
    dataset_id = upload(s3, pg, content, filename, ctype)
    job_id, r, seen = process(celery_app, pg, worker, dataset_id)
    result = r.get(timeout=30)
    assert seen[-1] == ("success", 100)
    assert result["format"] == fmt and result["row_count"] == len(SMALL)
    report, _ = fetch_report(s3, pg, dataset_id)
    check_against_pandas(report, frame(content, fmt))
    # Hand-checked numbers of SMALL, whatever the format.
    assert report["null_counts"] == {"id": 0, "city": 0, "temp": 1, "pop": 0, "tag": 2}
    assert report["numeric"]["temp"]["min"] == -60.0
    assert report["numeric"]["pop"]["max"] == 10000000
    assert report["anomalies"]["duplicates"]["count"] == 1
    assert report["anomalies"]["duplicates"]["examples"] == [{"row": 4, "duplicate_of": 2}]
    assert report["anomalies"]["outliers"]["temp"]["count"] == 1
    assert report["anomalies"]["outliers"]["temp"]["examples"] == [{"row": 5, "value": -60}]
    check_html(s3, dataset_id, report)


DUCK_COPY_JS = r"""
// node -e SCRIPT STACK_DIR SRC.json DST.parquet (argv[0] is node itself)
const { createRequire } = require('module');
const req = createRequire(process.argv[1] + '/package.json');
const { DuckDBInstance } = req('@duckdb/node-api');
(async () => {
  const con = await (await DuckDBInstance.create(':memory:')).connect();
  const src = process.argv[2].replace(/'/g, "''"), dst = process.argv[3].replace(/'/g, "''");
  await con.run(`COPY (SELECT * FROM read_json_auto('${src}', format = 'array'))
                 TO '${dst}' (FORMAT PARQUET)`);
})().catch(e => { console.error(String(e.message || e)); process.exit(3); });
"""


def test_parquet_input(worker, celery_app, s3, pg, tmp_path):
    """A Parquet upload (written by DuckDB from SMALL) is read through S3 ranged GETs; the
    numbers still equal pandas on the same rows."""
    stack = pathlib.Path(SRC) / "tests" / "stack"
    node = shutil.which("node")
    if node is None or not (stack / "node_modules" / "@duckdb" / "node-api").exists():
        pytest.skip("node or @duckdb/node-api (tests/stack/deps) missing: cannot write Parquet")
    src, dst = tmp_path / "small.json", tmp_path / "small.parquet"
    src.write_text(json.dumps(SMALL))
    proc = subprocess.run([node, "-e", DUCK_COPY_JS, str(stack), str(src), str(dst)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    dataset_id = upload(s3, pg, dst.read_bytes(), "small.parquet",
                        "application/vnd.apache.parquet")
    _, r, seen = process(celery_app, pg, worker, dataset_id)
    result = r.get(timeout=30)
    assert seen[-1] == ("success", 100) and result["format"] == "parquet"
    report, _ = fetch_report(s3, pg, dataset_id)
    check_against_pandas(report, pd.DataFrame(SMALL))
    assert report["anomalies"]["duplicates"]["count"] == 1
    check_html(s3, dataset_id, report)


def test_empty_csv_with_header_is_a_zero_row_report(worker, celery_app, s3, pg):
    dataset_id = upload(s3, pg, "a,b,c\n", "empty.csv", "text/csv")
    _, r, seen = process(celery_app, pg, worker, dataset_id)
    assert r.get(timeout=30)["row_count"] == 0
    report, _ = fetch_report(s3, pg, dataset_id)
    assert report["row_count"] == 0 and report["columns"] == ["a", "b", "c"]
    assert dataset(pg, dataset_id)["row_count"] == 0


# ------------------------------------------------------------------------------ idempotency

def test_done_is_not_reprocessed_unless_forced(worker, celery_app, s3, pg):
    content, filename, ctype = small_as("json")
    dataset_id = upload(s3, pg, content, filename, ctype)
    job_id, r, _ = process(celery_app, pg, worker, dataset_id)
    first = r.get(timeout=30)
    _, etag = fetch_report(s3, pg, dataset_id)
    parsed = worker.log().count("datasets.parsed")

    # The same job again: the stored result, nothing reprocessed or rewritten.
    again = enqueue(celery_app, pg, worker, dataset_id, job_id).get(timeout=30)
    assert again["cached"] is True and again["report_etag"] == etag
    assert again["row_count"] == first["row_count"] and again["state"] == "success"
    # A new job for the done dataset: marked success from the stored report.
    job2 = new_job(pg, dataset_id)
    res2 = enqueue(celery_app, pg, worker, dataset_id, job2).get(timeout=30)
    assert res2["cached"] is True and job(pg, job2)["state"] == "success"
    assert job(pg, job2)["progress"] == 100
    assert worker.log().count("datasets.parsed") == parsed
    assert [s for s, _, _ in audit(pg, job_id)] == ["started"] * 4 + ["success"]

    # force=True reprocesses: a new run of the job, still one reports row.
    forced = enqueue(celery_app, pg, worker, dataset_id, job_id, force=True).get(timeout=30)
    assert forced["cached"] is False and forced["state"] == "success"
    assert worker.log().count("datasets.parsed") == parsed + 1
    assert len(report_rows(pg, dataset_id)) == 1
    moves = [(s, p) for s, p, _ in audit(pg, job_id)]
    assert moves[5:] == [("started", 5), ("started", 25), ("started", 60), ("started", 85),
                         ("success", 100)], moves


def test_two_deliveries_of_one_job_never_run_at_once(worker, celery_app, s3, pg):
    content = sales_csv(300_000, seed=11)
    dataset_id = upload(s3, pg, content, "big.csv", "text/csv")
    job_id = new_job(pg, dataset_id)
    a = enqueue(celery_app, pg, worker, dataset_id, job_id)
    b = enqueue(celery_app, pg, worker, dataset_id, job_id)
    ra, rb = a.get(timeout=180), b.get(timeout=180)
    assert sorted([ra["cached"], rb["cached"]]) == [False, True], (ra, rb)
    assert ra["report_etag"] == rb["report_etag"]
    log = worker.log()
    assert "datasets.locked" in log
    assert log.count("datasets.parsed") == 1
    assert len(report_rows(pg, dataset_id)) == 1
    moves = [(s, p) for s, p, _ in audit(pg, job_id)]
    assert moves == [("started", 5), ("started", 25), ("started", 60), ("started", 85),
                     ("success", 100)], moves


def test_bad_arguments(worker, celery_app, s3, pg):
    with pytest.raises(ValueError):
        celery_app.send_task(TASK, args=["nope", "also-nope"],
                             queue=worker.queues[0]).get(timeout=30)
    with pytest.raises(LookupError):
        celery_app.send_task(TASK, args=[str(uuid.uuid4()), str(uuid.uuid4())],
                             queue=worker.queues[0]).get(timeout=30)
    # A job of another dataset is left alone.
    content, filename, ctype = small_as("csv")
    dataset_id = upload(s3, pg, content, filename, ctype)
    job_id = new_job(pg, dataset_id)
    with pytest.raises(ValueError):
        celery_app.send_task(TASK, args=[str(uuid.uuid4()), job_id],
                             queue=worker.queues[0]).get(timeout=30)
    assert job(pg, job_id)["state"] == "queued"


def test_missing_object_fails_without_retry(worker, celery_app, s3, pg):
    content, filename, ctype = small_as("csv")
    dataset_id = upload(s3, pg, content, filename, ctype)
    with pg.cursor() as cur:
        cur.execute("SELECT upload_key FROM datasets WHERE id = %s", (dataset_id,))
        s3.delete_object(Bucket=UPLOADS, Key=cur.fetchone()[0])
    job_id = new_job(pg, dataset_id)
    r = enqueue(celery_app, pg, worker, dataset_id, job_id)
    with pytest.raises(FileNotFoundError):
        r.get(timeout=60)
    assert job(pg, job_id)["state"] == "failure"
    assert dataset(pg, dataset_id)["status"] == "failed"


# ------------------------------------------------------------------------------ 5. real data

VEGA_FILES = ["seattle-weather.csv", "cars.json", "penguins.json", "airports.csv", "stocks.csv",
              "gapminder.json", "disasters.csv", "iowa-electricity.csv", "movies.json"]


@pytest.fixture(scope="module")
def vega_dir():
    target = CACHE / VEGA.replace("@", "-")
    data = target / "node_modules" / "vega-datasets" / "data"
    if not (data / "cars.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed; cannot fetch vega-datasets")
        target.mkdir(parents=True, exist_ok=True)
        try:
            proc = subprocess.run([npm, "install", "--prefix", str(target), "--no-audit",
                                   "--no-fund", "--no-save", "--ignore-scripts", VEGA],
                                  capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.skip("npm install timed out: the registry is not reachable")
        if proc.returncode != 0 or not (data / "cars.json").exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            pytest.skip(f"npm install {VEGA} failed (registry unreachable?): {' | '.join(tail)}")
    return data


@pytest.mark.parametrize("name", VEGA_FILES)
def test_public_datasets_match_pandas(worker, celery_app, s3, pg, vega_dir, name):
    path = vega_dir / name
    content = path.read_bytes()
    ctype = "application/json" if name.endswith(".json") else "text/csv"
    dataset_id = upload(s3, pg, content, name, ctype)
    _, r, seen = process(celery_app, pg, worker, dataset_id)
    result = r.get(timeout=60)
    assert seen[-1] == ("success", 100), seen
    report, _ = fetch_report(s3, pg, dataset_id)
    df = frame(content, "json" if name.endswith(".json") else "csv")
    assert result["row_count"] == len(df) == dataset(pg, dataset_id)["row_count"]
    check_against_pandas(report, df)
    check_html(s3, dataset_id, report)


def test_success_without_report_row_is_processed_again(worker, celery_app, s3, pg):
    content, filename, ctype = small_as("ndjson")
    dataset_id = upload(s3, pg, content, filename, ctype)
    job_id, r, _ = process(celery_app, pg, worker, dataset_id)
    assert r.get(timeout=30)["cached"] is False
    with pg.cursor() as cur:
        cur.execute("DELETE FROM reports WHERE dataset_id = %s", (dataset_id,))
    again = enqueue(celery_app, pg, worker, dataset_id, job_id).get(timeout=30)
    assert again["cached"] is False and again["state"] == "success"
    assert len(report_rows(pg, dataset_id)) == 1
    assert [p for _, p, _ in audit(pg, job_id)][5:] == [5, 25, 60, 85, 100]
