"""imports.process_job end to end (issue 8, seed 004): a CSV of contacts staged, validated,
held for human review or consolidated; reprocessing after review; redelivery and kill -9.

The tests play the web app: boto3 uploads the CSV, psycopg2 inserts the imports.job row and
later edits staging rows as a reviewer would (fix a value, mark DISCARD), and the real
Celery 5.2.6 client sends `imports.process_job(job_id)` to a real celeriac worker.

Isolation: the module creates its own database (migrated with `celeriac migrate`) and drops
it at the end, because imports.contact is one global set (unique lower(email)) and the
validation pass takes a lock on it. Every test also uses its own email domain.
"""
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.parse
import uuid

import pytest

from conftest import BIN, wait_for

boto3 = pytest.importorskip("boto3")
psycopg2 = pytest.importorskip("psycopg2")

TASK = "imports.process_job"
BUCKET = "uploads"

STACK_ENV = ("CELERY_BROKER_URL", "DATABASE_URL", "CELERIAC_MANAGEMENT_URL",
             "AWS_ENDPOINT_URL_S3")


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module", autouse=True)
def stack_env():
    """Without the local stack the run exits 77 (ctest: skipped), before any module fixture
    tries to reach it."""
    missing = [k for k in STACK_ENV if not os.environ.get(k)]
    if missing:
        print(f"SKIPPED: the local stack is not running (missing {', '.join(missing)}); "
              f"run: eval \"$(tests/stack/up)\"", file=sys.stderr)
        pytest.exit("local stack environment absent", returncode=77)


@pytest.fixture(scope="module")
def impdb(stack_env):
    """A fresh database migrated by `celeriac migrate`; yields its URL."""
    base = os.environ["DATABASE_URL"]
    name = f"celeriac_imp_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    u = urllib.parse.urlsplit(base)
    url = urllib.parse.urlunsplit(u._replace(path="/" + name))
    try:
        proc = subprocess.run([BIN, "migrate"], env=dict(os.environ, DATABASE_URL=url),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def conn(impdb):
    c = psycopg2.connect(impdb)
    c.autocommit = True
    yield c
    c.close()


@pytest.fixture
def s3():
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


@pytest.fixture
def worker(make_worker, impdb):
    def make(env=None, **kw):
        e = {"DATABASE_URL": impdb}
        e.update(env or {})
        return make_worker(env=e, **kw)
    return make


def ns(b):
    return str(len(b)).encode() + b":" + b + b","


def row_hash(row_number, header, cells):
    """The documented row hash (src/tasks/imports.h), computed independently."""
    data = b"imports.row.v1:" + ns(str(row_number).encode())
    for i, name in enumerate(header):
        data += ns(name.encode())
        data += b"~" if i >= len(cells) else ns(cells[i].encode())
    return hashlib.sha256(data).hexdigest()


class Import:
    """One import job as the web app would create it."""

    def __init__(self, conn, s3, body, bucket=BUCKET, job_bucket=BUCKET):
        self.conn, self.s3, self.bucket = conn, s3, bucket
        self.key = f"imports/{uuid.uuid4().hex[:10]}/contacts.csv"
        if body is not None:
            self.upload(body)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO imports.job (s3_bucket, s3_key, original_filename) "
                        "VALUES (%s, %s, 'contacts.csv') RETURNING id", (job_bucket, self.key))
            self.id = cur.fetchone()[0]

    def upload(self, body):
        self.s3.put_object(Bucket=self.bucket, Key=self.key,
                           Body=body.encode() if isinstance(body, str) else body)

    def q(self, sql, *args):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            if cur.description is None:
                return None
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def job(self):
        return self.q("SELECT * FROM imports.job WHERE id = %s", self.id)[0]

    def staging(self):
        return {r["row_number"]: r for r in self.q(
            "SELECT * FROM imports.staging WHERE job_id = %s ORDER BY row_number", self.id)}

    def issues(self):
        """{(type, key): {field, status, rows: sorted row numbers}}"""
        rows = self.q("""SELECT i.id, i.issue_type, i.issue_key, i.field, i.status, i.message,
                                i.resolved_at,
                                array_remove(array_agg(s.row_number ORDER BY s.row_number),
                                             NULL) AS rows
                         FROM imports.issue i
                         LEFT JOIN imports.issue_item ii ON ii.issue_id = i.id
                         LEFT JOIN imports.staging s ON s.id = ii.staging_id
                         WHERE i.job_id = %s GROUP BY i.id""", self.id)
        return {(r["issue_type"], r["issue_key"]): r for r in rows}

    def contacts(self):
        return self.q("SELECT * FROM imports.contact WHERE source_job_id = %s ORDER BY email",
                      self.id)

    def set_row(self, row_number, **cols):
        sets = ", ".join(f"{k} = %s" for k in cols)
        self.q(f"UPDATE imports.staging SET {sets}, updated_at = now() WHERE job_id = %s AND "
               f"row_number = %s", *cols.values(), self.id, row_number)


def run(app, q, job_id, timeout=120):
    return app.send_task(TASK, args=[job_id], queue=q).get(timeout=timeout)


def log_lines(w, event):
    return [ln for ln in w.log().splitlines() if event in ln]


def started_pid(w, task_id, timeout=30):
    m = wait_for(lambda: re.search(rf"task\.started task_id={task_id} \S+ pid=(\d+)", w.log()),
                 timeout=timeout, what=f"task {task_id} started")
    return int(m.group(1))


# ------------------------------------------------------------------------------ tests

def test_clean_file_completes(worker, celery_app, conn, s3):
    w = worker()
    d = f"{uuid.uuid4().hex[:8]}.example.com"
    header = ["Email", "first_name", "last_name", "company", "notes"]
    rows = [[f" Ann@{d} ", "Ann", " Lee ", "ACME", "vip"],
            [f"bob@{d}", "Bob", "Stone", "Initech", "line\nbreak, \"quoted\""],
            [f"\"odd name\"@{d}", "Odd", "Name", "X"]]  # short row: notes absent
    body = ",".join(header) + "\n"
    for r in rows:
        body += ",".join('"' + c.replace('"', '""') + '"' for c in r) + "\n"
    imp = Import(conn, s3, body)
    res = run(celery_app, w.queues[0], imp.id)
    assert res["status"] == "COMPLETED" and res["flow_type"] == "INITIAL_PROCESSING"
    assert res["rows_read"] == 3 and res["rows_staged"] == 3 and res["rows_already_staged"] == 0
    assert res["contacts_created"] == 3 and res["issues_open"] == 0
    assert (res["total_rows"], res["imported_rows"], res["ready_rows"]) == (3, 3, 0)
    job = imp.job()
    assert job["status"] == "COMPLETED" and job["error"] is None
    assert (job["total_rows"], job["imported_rows"], job["issue_rows"]) == (3, 3, 0)
    assert job["staged_at"] is not None and job["finished_at"] is not None and job["s3_etag"]
    contacts = imp.contacts()
    assert {(c["email"], c["first_name"], c["last_name"], c["company"]) for c in contacts} == {
        (f"\"odd name\"@{d}", "Odd", "Name", "X"),
        (f"Ann@{d}", "Ann", "Lee", "ACME"),
        (f"bob@{d}", "Bob", "Stone", "Initech")}
    st = imp.staging()
    assert set(st) == {1, 2, 3}
    by_email = {c["email"].lower(): c["id"] for c in contacts}
    for n, r in enumerate(rows, 1):
        s = st[n]
        assert s["status"] == "SUCCESS"
        assert s["row_hash"] == row_hash(n, header, r)
        expect_raw = {h: (r[i] if i < len(r) else None) for i, h in enumerate(header)}
        assert s["raw_data"] == expect_raw
        assert s["email"] == r[0]  # staged as read, trimmed only in contacts
        assert s["contact_id"] == by_email[r[0].strip().lower()]
    assert imp.issues() == {}
    starts = log_lines(w, "imports.start")
    assert len(starts) == 1 and f"job_id={imp.id}" in starts[0]
    assert "flow_type=INITIAL_PROCESSING" in starts[0]
    assert any("to=COMPLETED" in ln and f"job_id={imp.id}" in ln
               for ln in log_lines(w, "imports.job_state"))
    # Redelivery after completion: nothing changes.
    again = run(celery_app, w.queues[0], imp.id)
    assert again["status"] == "COMPLETED" and again["contacts_created"] == 0
    assert again["imported_rows"] == 3
    assert len(imp.contacts()) == 3 and len(imp.staging()) == 3
    assert "imports.already_completed" in w.log()


def problem_file(d):
    # row: 1 ok; 2 company blank; 3 invalid email; 4+5 same email, different identity;
    # 6 email already a contact (different case); 7+8 same email, same identity (case and
    # spaces differ) = no issue; 9 email empty; 10 two fields missing (short row)
    return (
        "email,first_name,last_name,company\n"
        f"ok@{d},Olga,Ok,Acme\n"
        f"nocompany@{d},Nia,Co,   \n"
        f"bob@@{d},Bob,Bad,Acme\n"
        f"dup@{d},Dana,One,Acme\n"
        f"DUP@{d},Dana,Two,Acme\n"
        f"existing@{d},Eve,Old,Acme\n"
        f"same@{d},Sam,Same,Acme\n"
        f" SAME@{d} ,sam,SAME,acme\n"
        ",No,Mail,Acme\n"
        f"short@{d},Shorty\n")


def expected_issues(imp, d, contact_id):
    st = imp.staging()
    h = {n: st[n]["row_hash"] for n in st}
    return {
        ("REQUIRED_FIELD", f"{h[2]}:company"): ("company", [2]),
        ("INVALID_EMAIL", h[3]): ("email", [3]),
        ("DUPLICATE_EMAIL", f"dup@{d}"): ("email", [4, 5]),
        ("EXISTING_EMAIL", f"existing@{d}"): ("email", [6]),
        ("REQUIRED_FIELD", f"{h[9]}:email"): ("email", [9]),
        ("REQUIRED_FIELD", f"{h[10]}:last_name"): ("last_name", [10]),
        ("REQUIRED_FIELD", f"{h[10]}:company"): ("company", [10]),
    }


def test_each_problem_then_review_and_reprocess(worker, celery_app, conn, s3):
    w = worker()
    d = f"{uuid.uuid4().hex[:8]}.example.com"
    with conn.cursor() as cur:
        cur.execute("INSERT INTO imports.contact (email, first_name, last_name, company) "
                    "VALUES (%s, 'Eve', 'Old', 'Acme') RETURNING id", (f"Existing@{d}",))
        existing_id = cur.fetchone()[0]
    imp = Import(conn, s3, problem_file(d))
    res = run(celery_app, w.queues[0], imp.id)
    assert res["status"] == "NEEDS_REVIEW" and res["flow_type"] == "INITIAL_PROCESSING"
    assert res["issues_open"] == 7 and res["contacts_created"] == 0
    assert (res["total_rows"], res["ready_rows"], res["issue_rows"]) == (10, 3, 7)
    issues = imp.issues()
    want = expected_issues(imp, d, existing_id)
    assert {k: (v["field"], v["rows"]) for k, v in issues.items()} == want
    assert all(v["status"] == "OPEN" and v["resolved_at"] is None for v in issues.values())
    msg = {k[0]: v["message"] for k, v in issues.items()}
    assert "is not a valid address" in msg["INVALID_EMAIL"]
    assert f"dup@{d} appears in 2 rows" in msg["DUPLICATE_EMAIL"]
    assert f"contact {existing_id}" in msg["EXISTING_EMAIL"]
    st = imp.staging()
    assert {n: s["status"] for n, s in st.items()} == {
        1: "READY", 2: "ISSUE", 3: "ISSUE", 4: "ISSUE", 5: "ISSUE", 6: "ISSUE", 7: "READY",
        8: "READY", 9: "ISSUE", 10: "ISSUE"}
    assert imp.contacts() == []
    job = imp.job()
    assert job["status"] == "NEEDS_REVIEW" and job["issue_rows"] == 7 and job["ready_rows"] == 3
    ids_before = {k: v["id"] for k, v in issues.items()}

    # A redelivery of the same job while it waits for review changes nothing.
    again = run(celery_app, w.queues[0], imp.id)
    assert again["status"] == "NEEDS_REVIEW" and again["flow_type"] == "REPROCESSING"
    issues2 = imp.issues()
    assert {k: v["id"] for k, v in issues2.items()} == ids_before
    assert {k: (v["field"], v["rows"]) for k, v in issues2.items()} == want
    assert len(imp.staging()) == 10

    # The reviewer fixes some rows. The file is gone: reprocessing must not read it.
    s3.delete_object(Bucket=BUCKET, Key=imp.key)
    imp.set_row(2, company="Nia Corp")
    imp.set_row(3, email=f"bob@{d}")
    imp.set_row(5, status="DISCARD")
    res = run(celery_app, w.queues[0], imp.id)
    assert res["status"] == "NEEDS_REVIEW" and res["flow_type"] == "REPROCESSING"
    assert res["issues_resolved"] == 3 and res["issues_open"] == 4
    issues3 = imp.issues()
    assert {k: v["id"] for k, v in issues3.items()} == ids_before  # updated, never duplicated
    status = {k: v["status"] for k, v in issues3.items()}
    resolved = {k for k, v in status.items() if v == "RESOLVED"}
    assert resolved == {k for k in want if k[0] in ("INVALID_EMAIL", "DUPLICATE_EMAIL")} | {
        k for k in want if k[0] == "REQUIRED_FIELD" and want[k][1] == [2]}
    assert all(issues3[k]["resolved_at"] is not None for k in resolved)
    # resolved issues keep the rows they were about
    assert issues3[("DUPLICATE_EMAIL", f"dup@{d}")]["rows"] == [4, 5]
    st = imp.staging()
    assert {n: s["status"] for n, s in st.items()} == {
        1: "READY", 2: "READY", 3: "READY", 4: "READY", 5: "DISCARD", 6: "ISSUE", 7: "READY",
        8: "READY", 9: "ISSUE", 10: "ISSUE"}

    # The rest: 6 and 9 discarded, 10 completed by hand.
    imp.set_row(6, status="DISCARD")
    imp.set_row(9, status="DISCARD")
    imp.set_row(10, last_name="Short", company="Tiny")
    res = run(celery_app, w.queues[0], imp.id)
    assert res["status"] == "COMPLETED" and res["flow_type"] == "REPROCESSING"
    assert res["issues_open"] == 0 and res["issues_resolved"] == 4
    assert res["contacts_created"] == 6
    assert (res["total_rows"], res["imported_rows"], res["discarded_rows"]) == (10, 7, 3)
    contacts = {c["email"]: (c["first_name"], c["last_name"], c["company"])
                for c in imp.contacts()}
    assert contacts == {
        f"ok@{d}": ("Olga", "Ok", "Acme"),
        f"nocompany@{d}": ("Nia", "Co", "Nia Corp"),
        f"bob@{d}": ("Bob", "Bad", "Acme"),
        f"dup@{d}": ("Dana", "One", "Acme"),
        f"same@{d}": ("Sam", "Same", "Acme"),  # first row of the identity wins
        f"short@{d}": ("Shorty", "Short", "Tiny"),
    }
    st = imp.staging()
    assert {n for n, s in st.items() if s["status"] == "DISCARD"} == {5, 6, 9}
    assert all(s["status"] == "SUCCESS" and s["contact_id"] for n, s in st.items()
               if n not in (5, 6, 9))
    assert st[7]["contact_id"] == st[8]["contact_id"]
    assert all(v["status"] == "RESOLVED" for v in imp.issues().values())
    assert len(imp.issues()) == 7
    # the pre-existing contact was not touched
    (old,) = imp.q("SELECT * FROM imports.contact WHERE id = %s", existing_id)
    assert old["email"] == f"Existing@{d}" and old["source_job_id"] is None
    for ln in log_lines(w, "imports.start")[1:]:
        assert "flow_type=REPROCESSING" in ln and f"job_id={imp.id}" in ln
    assert len(log_lines(w, "imports.reading")) == 1  # the file was read once


def test_file_level_failures(worker, celery_app, conn, s3):
    w = worker()
    q = w.queues[0]
    d = f"{uuid.uuid4().hex[:8]}.example.com"
    # a header without company and last_name
    imp = Import(conn, s3, f"email,first_name\na@{d},A\n")
    with pytest.raises(ValueError, match="no column last_name, company"):
        run(celery_app, q, imp.id)
    job = imp.job()
    assert job["status"] == "FAILED" and "no column last_name, company" in job["error"]
    assert job["finished_at"] is not None and imp.staging() == {}
    # the object does not exist
    imp2 = Import(conn, s3, None)
    with pytest.raises(FileNotFoundError):
        run(celery_app, q, imp2.id)
    assert imp2.job()["status"] == "FAILED"
    # an unterminated quote half way: FAILED, no contacts
    imp3 = Import(conn, s3, f"email,first_name,last_name,company\na@{d},A,B,C\n\"x@{d},oops\n")
    with pytest.raises(ValueError, match="CSV"):
        run(celery_app, q, imp3.id)
    assert imp3.job()["status"] == "FAILED" and imp3.contacts() == []
    # a NUL byte in a cell (PostgreSQL text cannot hold it)
    imp4 = Import(conn, s3, f"email,first_name,last_name,company\na@{d},A\x00B,B,C\n")
    with pytest.raises(ValueError, match="column 'first_name' contains a NUL byte"):
        run(celery_app, q, imp4.id)
    assert imp4.job()["status"] == "FAILED"
    # a job that does not exist: nothing to mark, no retry
    with pytest.raises(LookupError, match="does not exist"):
        run(celery_app, q, 987654321)
    with pytest.raises(TypeError):
        celery_app.send_task(TASK, args=["abc"], queue=q).get(timeout=30)
    assert "task.retried" not in w.log()
    # a FAILED job can be sent again once its file is fixed
    s3.put_object(Bucket=BUCKET, Key=imp.key,
                  Body=f"email,first_name,last_name,company\na@{d},A,B,C\n".encode())
    res = run(celery_app, q, imp.id)
    assert res["status"] == "COMPLETED" and res["contacts_created"] == 1
    assert imp.job()["error"] is None


def big_csv(d, n):
    lines = ["email,first_name,last_name,company"]
    lines += [f"user{i}@{d},First{i},Last{i},Company {i % 97}" for i in range(n)]
    return "\n".join(lines) + "\n"


def test_kill_mid_staging_resumes_without_duplicates(worker, celery_app, conn, s3):
    n = 30000
    w = worker(env={"CELERIAC_IMPORTS_BATCH_ROWS": "2000"})
    d = f"{uuid.uuid4().hex[:8]}.example.com"
    imp = Import(conn, s3, big_csv(d, n))
    r = celery_app.send_task(TASK, args=[imp.id], queue=w.queues[0])
    pid = started_pid(w, r.id)
    wait_for(lambda: w.log().count("imports.batch_committed") >= 2, timeout=60,
             what="two committed batches")
    os.kill(pid, signal.SIGKILL)
    staged_at_kill = len(imp.staging())
    res = r.get(timeout=300)
    assert "child.lost_task" in w.log()
    assert res["status"] == "COMPLETED" and res["flow_type"] == "INITIAL_PROCESSING"
    assert res["rows_already_staged"] >= 4000 and res["rows_already_staged"] >= staged_at_kill
    assert res["rows_staged"] + res["rows_already_staged"] == n
    assert res["contacts_created"] == n
    (cnt,) = imp.q("""SELECT count(*) AS rows, count(DISTINCT row_number) AS numbers,
                             count(DISTINCT row_hash) AS hashes,
                             count(*) FILTER (WHERE status = 'SUCCESS') AS ok
                      FROM imports.staging WHERE job_id = %s""", imp.id)
    assert cnt == {"rows": n, "numbers": n, "hashes": n, "ok": n}
    (c,) = imp.q("SELECT count(*) AS n, count(DISTINCT lower(email)) AS emails "
                 "FROM imports.contact WHERE source_job_id = %s", imp.id)
    assert c == {"n": n, "emails": n}
    assert imp.issues() == {}
    assert len(log_lines(w, "imports.reading")) == 2


def test_kill_before_the_validation_commit(worker, celery_app, conn, s3):
    """kill -9 inside the validation transaction (test pause point before COMMIT): nothing
    of the pass is kept, the redelivery (REPROCESSING: the file is staged) produces exactly
    one set of issues; then the same for the consolidation of the reviewed job."""
    w = worker(env={"CELERIAC_TEST_IMPORTS_PAUSE": "before_commit=4"})
    d = f"{uuid.uuid4().hex[:8]}.example.com"
    with conn.cursor() as cur:
        cur.execute("INSERT INTO imports.contact (email, first_name, last_name, company) "
                    "VALUES (%s, 'Eve', 'Old', 'Acme')", (f"existing@{d}",))
    imp = Import(conn, s3, problem_file(d))
    for step in ("review", "consolidate"):
        r = celery_app.send_task(TASK, args=[imp.id], queue=w.queues[0])
        pid = started_pid(w, r.id)
        wait_for(lambda: re.search(rf"imports\.test_pause point=before_commit job_id={imp.id} "
                                   rf"pid={pid}\b", w.log()),
                 timeout=60, what="pause before commit")
        os.kill(pid, signal.SIGKILL)
        res = r.get(timeout=120)
        assert res["flow_type"] == "REPROCESSING"  # the staging survived the kill
        if step == "review":
            assert res["status"] == "NEEDS_REVIEW" and res["issues_open"] == 7
            assert len(imp.issues()) == 7 and len(imp.staging()) == 10
            (n_items,) = imp.q("""SELECT count(*) AS n FROM imports.issue_item ii JOIN
                                  imports.issue i ON i.id = ii.issue_id
                                  WHERE i.job_id = %s""", imp.id)
            assert n_items["n"] == 8
            for row in (2, 3, 5, 6, 9, 10):
                imp.set_row(row, status="DISCARD")
        else:
            assert res["status"] == "COMPLETED" and res["contacts_created"] == 3
            assert len(imp.contacts()) == 3 and len(imp.issues()) == 7
    assert w.log().count("child.lost_task") == 2


def test_kill_after_the_commit_before_the_ack(worker, celery_app, conn, s3):
    """kill -9 after the pass committed but before the result and the ack: the redelivery
    finds the job COMPLETED and changes nothing."""
    w = worker(env={"CELERIAC_TEST_IMPORTS_PAUSE": "after_commit=4"})
    d = f"{uuid.uuid4().hex[:8]}.example.com"
    imp = Import(conn, s3, big_csv(d, 500))
    r = celery_app.send_task(TASK, args=[imp.id], queue=w.queues[0])
    pid = started_pid(w, r.id)
    wait_for(lambda: re.search(rf"imports\.test_pause point=after_commit job_id={imp.id} "
                               rf"pid={pid}\b", w.log()), timeout=60, what="pause after commit")
    os.kill(pid, signal.SIGKILL)
    res = r.get(timeout=120)
    assert res["status"] == "COMPLETED" and res["contacts_created"] == 0
    assert res["imported_rows"] == 500
    assert "imports.already_completed" in w.log() and "child.lost_task" in w.log()
    assert len(imp.contacts()) == 500 and len(imp.staging()) == 500


def test_concurrent_deliveries_of_one_job(worker, celery_app, conn, s3):
    """Two deliveries at once: the second finds the job locked (the first holds it for the
    test pause), retries, and then finds the job COMPLETED."""
    w = worker(concurrency=2, env={"CELERIAC_TEST_IMPORTS_PAUSE": "before_commit=3"})
    d = f"{uuid.uuid4().hex[:8]}.example.com"
    imp = Import(conn, s3, big_csv(d, 3000))
    results = []
    threads = [threading.Thread(target=lambda: results.append(run(celery_app, w.queues[0],
                                                                  imp.id)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert all(r["status"] == "COMPLETED" for r in results)
    assert sorted(r["contacts_created"] for r in results) == [0, 3000]
    assert len(imp.staging()) == 3000 and len(imp.contacts()) == 3000
    assert "imports.busy" in w.log() and "imports.already_completed" in w.log()


def test_same_email_across_jobs(worker, celery_app, conn, s3):
    """Job B imports an email job A consolidated meanwhile: EXISTING_EMAIL, not a second
    contact."""
    w = worker()
    d = f"{uuid.uuid4().hex[:8]}.example.com"
    body = f"email,first_name,last_name,company\nshared@{d},S,H,Co\n"
    a, b = Import(conn, s3, body), Import(conn, s3, body.replace("shared@", "SHARED@"))
    assert run(celery_app, w.queues[0], a.id)["status"] == "COMPLETED"
    res = run(celery_app, w.queues[0], b.id)
    assert res["status"] == "NEEDS_REVIEW"
    assert list(b.issues()) == [("EXISTING_EMAIL", f"shared@{d}")]
    (n,) = a.q("SELECT count(*) AS n FROM imports.contact WHERE lower(email) = %s",
               f"shared@{d}")
    assert n["n"] == 1


def test_replaced_file_is_staged_from_the_start(worker, celery_app, conn, s3):
    """A file that fails half way leaves committed staging batches behind (job FAILED, not
    staged); once the file is replaced and the job sent again, the rows of the old object
    are dropped and the new one is staged from the start: rows never mix."""
    w = worker(env={"CELERIAC_IMPORTS_BATCH_ROWS": "2"})
    d = f"{uuid.uuid4().hex[:8]}.example.com"
    good = "".join(f"old{i}@{d},F{i},L{i},C\n" for i in range(5))
    imp = Import(conn, s3, "email,first_name,last_name,company\n" + good + '"broken,x\n')
    with pytest.raises(ValueError, match="CSV line 7"):
        run(celery_app, w.queues[0], imp.id)
    job = imp.job()
    assert job["status"] == "FAILED" and job["staged_at"] is None
    assert len(imp.staging()) == 4  # two committed batches of 2; the third was rolled back
    old_etag = job["s3_etag"]
    imp.upload("email,first_name,last_name,company\n" +
               "".join(f"new{i}@{d},F{i},L{i},C\n" for i in range(3)))
    res = run(celery_app, w.queues[0], imp.id)
    assert res["status"] == "COMPLETED" and res["flow_type"] == "INITIAL_PROCESSING"
    assert res["rows_staged"] == 3 and res["rows_already_staged"] == 0
    st = imp.staging()
    assert sorted(s["email"] for s in st.values()) == [f"new{i}@{d}" for i in range(3)]
    assert sorted(c["email"] for c in imp.contacts()) == [f"new{i}@{d}" for i in range(3)]
    assert imp.job()["s3_etag"] != old_etag
    (line,) = log_lines(w, "imports.file_replaced")
    assert "staged_rows_dropped=4" in line and f"job_id={imp.id}" in line


def test_bucket_from_csv_bucket_name(worker, celery_app, conn, s3):
    """imports.job.s3_bucket NULL: the worker's CSV_BUCKET_NAME (seed 004's variable)."""
    w = worker(env={"CSV_BUCKET_NAME": BUCKET})
    d = f"{uuid.uuid4().hex[:8]}.example.com"
    imp = Import(conn, s3, f"email,first_name,last_name,company\nb@{d},B,B,B\n",
                 job_bucket=None)
    assert imp.job()["s3_bucket"] is None
    res = run(celery_app, w.queues[0], imp.id)
    assert res["status"] == "COMPLETED" and res["contacts_created"] == 1


def test_database_session_killed_mid_staging(worker, celery_app, conn, s3, impdb):
    """PostgreSQL ends the worker's session in the middle of staging (as a failover or an
    admin would): a transient error, the task retries on a new connection and resumes."""
    n = 20000
    w = worker(env={"CELERIAC_IMPORTS_BATCH_ROWS": "2000"})
    d = f"{uuid.uuid4().hex[:8]}.example.com"
    imp = Import(conn, s3, big_csv(d, n))
    r = celery_app.send_task(TASK, args=[imp.id], queue=w.queues[0])
    wait_for(lambda: w.log().count("imports.batch_committed") >= 2, timeout=60,
             what="two committed batches")
    dbname = urllib.parse.urlsplit(impdb).path.lstrip("/")
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                    "AND application_name = 'celeriac' AND pid <> pg_backend_pid()", (dbname,))
        assert cur.fetchall(), "the worker's session was not found"
    res = r.get(timeout=300)
    assert res["status"] == "COMPLETED" and res["contacts_created"] == n
    assert res["rows_already_staged"] >= 4000
    assert "imports.retrying" in w.log() and "task.retried" in w.log()
    (cnt,) = imp.q("SELECT count(*) AS rows, count(DISTINCT row_number) AS numbers "
                   "FROM imports.staging WHERE job_id = %s", imp.id)
    assert cnt == {"rows": n, "numbers": n}
