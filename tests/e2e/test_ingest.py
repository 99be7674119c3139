"""ingest.process_s3_object end to end (seed 003): real uploads to the SigV4-verifying S3
server, its MinIO-shaped AMQP event notifications, the real Python Celery client, real
PostgreSQL with the migrations-mirror tables, real RabbitMQ and its management API.

Isolation on the shared stack: each test uses its own key prefix (and claim/audit ids derived
from it), its own task queue, its own events queue bound to the S3 server's exchange (so it
receives the real notification of its own upload; other people's events in it are unrouted
and only logged) and its own dead-letter queue.
"""
import csv
import datetime
import decimal
import io
import json
import os
import subprocess
import sys
import uuid

import boto3
import psycopg2
import pytest
from kombu import Connection

from conftest import BIN, SRC, wait_for

BROKER = os.environ.get("CELERY_BROKER_URL", "")
EXCHANGE = os.environ.get("CELERIAC_S3_EVENTS_EXCHANGE", "celeriac.s3events")
ROUTING_KEY = os.environ.get("CELERIAC_S3_EVENTS_ROUTING_KEY", "s3.events")
BUCKET = "uploads"

CLAIM_COLS = ["claim_id", "member_id", "pharmacy_npi", "prescriber_npi", "ndc", "drug_name",
              "fill_date", "quantity", "days_supply", "ingredient_cost", "dispensing_fee",
              "copay_amount", "paid_amount", "claim_status"]
AUDIT_COLS = ["audit_id", "event_time", "user_id", "user_role", "action", "resource_type",
              "resource_id", "patient_id", "outcome", "source_ip", "details"]


@pytest.fixture(scope="module")
def migrated():
    subprocess.run([BIN, "migrate"], check=True, capture_output=True, timeout=120)


@pytest.fixture
def s3():
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


_PREFIXES = []


@pytest.fixture(scope="module", autouse=True)
def _drain_shared_events():
    """Our uploads also notify the stack's shared events queue; remove those events when the
    module is done so a worker consuming that queue later is not fed them."""
    yield
    if _PREFIXES:
        subprocess.run([sys.executable, os.path.join(SRC, "tests", "integration",
                                                     "s3_drain_events.py"),
                        *[f"{BUCKET}/{p}/" for p in _PREFIXES]],
                       capture_output=True, timeout=120)


@pytest.fixture
def prefix():
    p = f"ing-{uuid.uuid4().hex[:10]}"
    _PREFIXES.append(p)
    return p


@pytest.fixture
def queues(mgmt):
    """A private events queue bound to the S3 server's exchange, and a dead-letter queue."""
    events, dlq = f"e2e-ingev-{uuid.uuid4().hex[:8]}", f"e2e-ingdlq-{uuid.uuid4().hex[:8]}"
    with Connection(BROKER) as conn:
        ch = conn.default_channel
        ch.exchange_declare(EXCHANGE, "direct", durable=True, auto_delete=False)
        ch.queue_declare(events, durable=True, auto_delete=False)
        ch.queue_bind(events, EXCHANGE, ROUTING_KEY)
    yield events, dlq
    mgmt.delete_queue(events)
    mgmt.delete_queue(dlq)


def start_worker(make_worker, queues, prefix, events=True, **env):
    """A worker with the test's dead-letter queue; with events, it also consumes the test's
    events queue, routing the prefix's keys to ingest.process_s3_object (without, uploads
    only happen and tasks are sent by the test, so no event races a direct call)."""
    ev, dlq = queues
    e = {"CELERIAC_DEAD_LETTER_QUEUE": dlq}
    if events:
        e.update({"CELERIAC_EVENTS_QUEUE": ev,
                  "CELERIAC_S3_EVENT_ROUTES": f"{prefix}/=ingest.process_s3_object"})
    e.update(env)
    return make_worker(env=e)


def upload(s3, key, body):
    r = s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str)
                      else body)
    return r["ETag"].strip('"')


def records(db, key):
    with db.cursor() as cur:
        cur.execute("SELECT * FROM ingest.ingestion_record WHERE bucket = %s AND key = %s "
                    "ORDER BY id", (BUCKET, key))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def rows(db, table, key, order="source_line"):
    with db.cursor() as cur:
        cur.execute(f"SELECT * FROM ingest.{table} WHERE source_bucket = %s AND source_key = %s "
                    f"ORDER BY {order}", (BUCKET, key))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def rejects(db, ingestion_id):
    with db.cursor() as cur:
        cur.execute("SELECT line_number, reason, raw_row FROM ingest.rejected_row WHERE "
                    "ingestion_id = %s ORDER BY line_number", (ingestion_id,))
        return cur.fetchall()


def wait_status(db, key, status, timeout=60):
    return wait_for(lambda: [r for r in records(db, key) if r["status"] == status],
                    timeout=timeout, what=f"ingestion record {status} for {key}")


def dead_letters(mgmt, dlq, n=1, timeout=30):
    got = []
    wait_for(lambda: got.extend(mgmt.get_messages(dlq) or []) or len(got) >= n,
             timeout=timeout, what=f"{n} dead-lettered message(s) in {dlq}")
    return got


def claims(prefix, n, start=0, override=None):
    """n claim lines; override maps a row index to a dict of replaced cells."""
    out = []
    for i in range(start, start + n):
        r = {"claim_id": f"{prefix}-C{i:05d}", "member_id": f"M{i % 97:06d}",
             "pharmacy_npi": "1234567893", "prescriber_npi": "" if i % 5 == 0 else "1987654325",
             "ndc": f"{i % 100000:011d}", "drug_name": "Lisinopril 10 mg, tab" if i % 3 else "",
             "fill_date": f"2026-11-{1 + i % 28:02d}", "quantity": f"{30 + i % 7}.5",
             "days_supply": "" if i % 11 == 0 else str(30 + i % 60),
             "ingredient_cost": f"{i % 1000}.{i % 100:02d}", "dispensing_fee": "1.75",
             "copay_amount": "5.00", "paid_amount": f"{(i * 7) % 500}.25",
             "claim_status": ["PAID", "REVERSED", "REJECTED"][i % 3]}
        r.update((override or {}).get(i - start, {}))
        out.append(r)
    return out


def to_csv(cols, recs):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(recs)
    return buf.getvalue()


def dec(s):
    return None if s == "" else decimal.Decimal(s)


def check_claims(db_rows, recs, etag, key, ingestion_id):
    assert len(db_rows) == len(recs)
    for line, (got, want) in enumerate(zip(db_rows, recs), start=2):
        for c in ("claim_id", "member_id", "pharmacy_npi", "ndc", "claim_status"):
            assert got[c] == want[c], (c, got, want)
        for c in ("prescriber_npi", "drug_name"):
            assert got[c] == (want[c] or None), (c, got, want)
        assert got["fill_date"] == datetime.date.fromisoformat(want["fill_date"])
        for c in ("quantity", "ingredient_cost", "dispensing_fee", "copay_amount",
                  "paid_amount"):
            assert got[c] == dec(want[c]), (c, got[c], want[c])
        assert got["days_supply"] == (int(want["days_supply"]) if want["days_supply"] else None)
        assert (got["source_bucket"], got["source_key"], got["source_etag"]) == (BUCKET, key,
                                                                                 etag)
        assert got["source_line"] == line and got["ingestion_id"] == ingestion_id


def audits(prefix, n):
    out = []
    for i in range(n):
        out.append({"audit_id": f"{prefix}-A{i:05d}",
                    "event_time": f"2026-11-22T{i % 24:02d}:{i % 60:02d}:05.25+01:00",
                    "user_id": f"u{i % 13}", "user_role": "" if i % 4 == 0 else "NURSE",
                    "action": ["VIEW", "UPDATE", "EXPORT", "DELETE"][i % 4],
                    "resource_type": "PATIENT_RECORD", "resource_id": f"R{i}",
                    "patient_id": f"P{i % 31:05d}", "outcome": "SUCCESS" if i % 9 else "FAILURE",
                    "source_ip": f"10.0.{i % 256}.{i % 7}",
                    "details": 'opened "chart", tab\tand newline\nkept' if i == 3 else ""})
    return out


def check_audits(db_rows, recs, etag):
    assert len(db_rows) == len(recs)
    by_id = {r["audit_id"]: r for r in db_rows}
    for want in recs:
        got = by_id[want["audit_id"]]
        t = datetime.datetime.fromisoformat(want["event_time"])
        assert got["event_time"] == t, (got["event_time"], t)
        for c in ("user_id", "action", "resource_type", "resource_id", "patient_id", "outcome",
                  "source_ip"):
            assert got[c] == want[c], (c, got, want)
        for c in ("user_role", "details"):
            assert got[c] == (want[c] or None), (c, got, want)
        assert got["source_etag"] == etag


# ---------------------------------------------------------------- acceptance 1


def test_pharmacy_claims_from_upload_event(make_worker, db, s3, migrated, prefix, queues):
    w = start_worker(make_worker, queues, prefix)
    recs = claims(prefix, 250)
    body = to_csv(CLAIM_COLS, recs)
    key = f"{prefix}/drop/2026/11/pharmacy_claims_20261122.csv"
    etag = upload(s3, key, body)
    (rec,) = wait_status(db, key, "COMPLETED")
    assert rec["etag"] == etag and rec["size_bytes"] == len(body.encode())
    assert rec["strategy"] == "pharmacy_claims" and rec["attempts"] == 1
    assert (rec["rows_loaded"], rec["rows_rejected"], rec["error"]) == (250, 0, None)
    assert rec["started_at"] and rec["finished_at"] and rec["celery_task_id"]
    check_claims(rows(db, "pharmacy_claim", key), recs, etag, key, rec["id"])
    log = w.log()
    assert "s3event.task_sent" in log and "task=ingest.process_s3_object" in log
    for step in ("from=(none) to=RECEIVED", "from=RECEIVED to=PROCESSING",
                 "from=PROCESSING to=COMPLETED"):
        assert f"ingestion_id={rec['id']} {step}" in log, step


def test_audit_records_from_upload_event_csv_and_ndjson(make_worker, db, s3, migrated, prefix,
                                                        queues):
    w = start_worker(make_worker, queues, prefix)
    recs = audits(prefix, 120)
    key = f"{prefix}/audit_records/2026-11-22.csv"
    etag = upload(s3, key, to_csv(AUDIT_COLS, recs))
    (rec,) = wait_status(db, key, "COMPLETED")
    assert (rec["strategy"], rec["rows_loaded"], rec["rows_rejected"]) == ("audit_records", 120,
                                                                           0)
    check_audits(rows(db, "audit_record", key), recs, etag)
    # the same events as NDJSON: another file kind, another strategy entry, same table
    recs2 = audits(prefix + "-nd", 40)
    key2 = f"{prefix}/exports/audit_records_20261122.ndjson"
    body2 = "".join(json.dumps({k: v for k, v in r.items() if v != ""}) + "\n" for r in recs2)
    etag2 = upload(s3, key2, body2)
    (rec2,) = wait_status(db, key2, "COMPLETED")
    assert (rec2["strategy"], rec2["rows_loaded"]) == ("audit_records_ndjson", 40)
    check_audits(rows(db, "audit_record", key2), recs2, etag2)
    assert w.proc.poll() is None


# ---------------------------------------------------------------- acceptance 2


def run(app, q, key, **kw):
    return app.send_task("ingest.process_s3_object", args=[BUCKET, key], kwargs=kw,
                         queue=q).get(timeout=90)


def test_bad_rows_under_threshold_partial_load(make_worker, celery_app, db, s3, migrated,
                                               prefix, queues):
    """Triggered by a Celery task. 3 bad rows of 80 (3.75% <= 5%): the rest is loaded and each
    reject is recorded with its line and reason."""
    w = start_worker(make_worker, queues, prefix, events=False)
    recs = claims(prefix, 80, override={
        9: {"ndc": "12345"},                               # line 11: pattern
        30: {"quantity": "-2"},                            # line 32: minimum
        50: {"claim_id": f"{prefix}-C00007"},              # line 52: duplicates line 9
    })
    key = f"{prefix}/pharmacy_claim_partial.csv"
    etag = upload(s3, key, to_csv(CLAIM_COLS, recs))
    res = run(celery_app, w.queues[0], key)
    (rec,) = records(db, key)
    assert res["status"] == "COMPLETED" and res["ingestion_id"] == rec["id"]
    assert (res["rows"], res["rows_loaded"], res["rows_rejected"]) == (80, 77, 3)
    assert (rec["status"], rec["rows_loaded"], rec["rows_rejected"]) == ("COMPLETED", 77, 3)
    assert res["format"] == "csv" and res["target"] == "ingest.pharmacy_claim"
    rj = rejects(db, rec["id"])
    assert [r[0] for r in rj] == [11, 32, 52]
    assert rj[0][1] == "field 'ndc': '12345' does not match pattern \"[0-9]{11}\""
    assert rj[1][1] == "field 'quantity': '-2' violates minimum 0"
    assert rj[2][1] == "duplicate conflict key (claim_id) of line 9"
    assert rj[0][2].startswith(f"{prefix}-C00009,") and ",12345," in rj[0][2]
    good = [r for i, r in enumerate(recs) if i not in (9, 30, 50)]
    got = rows(db, "pharmacy_claim", key)
    assert [g["claim_id"] for g in got] == [r["claim_id"] for r in good]
    # the first of the duplicated key wins; the later line is the reject
    assert next(g for g in got if g["claim_id"] == f"{prefix}-C00007")["source_line"] == 9
    assert etag == got[0]["source_etag"]


def test_bad_rows_over_threshold_fail_whole_file(make_worker, celery_app, db, s3, migrated,
                                                 prefix, queues, mgmt):
    w = start_worker(make_worker, queues, prefix, events=False)
    recs = claims(prefix, 20, override={
        2: {"fill_date": "2026-02-30"}, 5: {"paid_amount": ""},
        7: {"days_supply": "99999999999"}, 8: {"claim_status": "PENDING"}})
    key = f"{prefix}/pharmacy_claim_bad.csv"
    upload(s3, key, to_csv(CLAIM_COLS, recs))
    with pytest.raises(ValueError, match=r"4 of 20 rows rejected \(20\.00%\), above the reject "
                                         r"threshold 5\.00% of strategy pharmacy_claims: "
                                         r"nothing loaded"):
        run(celery_app, w.queues[0], key)
    (rec,) = records(db, key)
    assert (rec["status"], rec["rows_loaded"], rec["rows_rejected"]) == ("FAILED", 0, 4)
    assert "nothing loaded" in rec["error"]
    assert rows(db, "pharmacy_claim", key) == []
    rj = rejects(db, rec["id"])
    assert [(r[0], r[1]) for r in rj] == [
        (4, "field 'fill_date': '2026-02-30' is not a valid date"),
        (7, "field 'paid_amount' is required but missing"),
        (9, "field 'days_supply' -> column 'days_supply': '99999999999' is out of range for "
            "integer"),
        (10, "field 'claim_status': 'PENDING' is not one of the enum values")]
    # the file fails permanently: its message ends in the dead-letter queue with the reason
    (m,) = dead_letters(mgmt, queues[1])
    assert "above the reject threshold" in m["properties"]["headers"]["x-celeriac-reason"]


# ---------------------------------------------------------------- acceptance 3


def test_same_event_twice_and_management_requeue_no_duplicates(make_worker, celery_app, db, s3,
                                                               migrated, prefix, queues, mgmt):
    recs = claims(prefix, 30)
    key = f"{prefix}/pharmacy_claims_twice.csv"
    etag = upload(s3, key, to_csv(CLAIM_COLS, recs))
    # 1. a management-UI requeue before any worker runs it: the message comes back redelivered
    q = f"e2e-{uuid.uuid4().hex[:10]}"
    with Connection(BROKER) as conn:
        conn.default_channel.queue_declare(q, durable=True, auto_delete=False)
    r0 = celery_app.send_task("ingest.process_s3_object", args=[BUCKET, key], queue=q)
    wait_for(lambda: (mgmt.queue(q) or {}).get("messages", 0) >= 1, timeout=30,
             what="message visible in the management API")
    got = mgmt._req("POST", f"/queues/%2F/{q}/get", {"count": 1, "ackmode": "ack_requeue_true",
                                                     "encoding": "auto"})
    assert got and got[0]["redelivered"] is False
    events, dlq = queues
    w = make_worker(queues=[q], env={"CELERIAC_EVENTS_QUEUE": events,
                                     "CELERIAC_DEAD_LETTER_QUEUE": dlq,
                                     "CELERIAC_S3_EVENT_ROUTES": f"{prefix}/=ingest."
                                                                 "process_s3_object"})
    first = r0.get(timeout=90)
    assert first["rows_loaded"] == 30
    # 2. the upload's own notification arrives too (same etag): whichever of the two runs
    #    second loads nothing
    def runs():
        log = w.log()
        return log.count(" ingest.loaded "), log.count(" ingest.already_loaded ")
    wait_for(lambda: runs() == (1, 1), timeout=60, what="one load and one already-loaded answer")
    # 3. the same notification delivered twice more, as a broker would on a lost ack
    ev = {"EventName": "s3:ObjectCreated:Put", "Key": f"{BUCKET}/{key}",
          "Records": [{"eventVersion": "2.0", "eventSource": "minio:s3",
                       "eventTime": "2026-11-22T10:00:00.000Z",
                       "eventName": "s3:ObjectCreated:Put",
                       "s3": {"bucket": {"name": BUCKET},
                              "object": {"key": key, "size": 1, "eTag": etag}}}]}
    with Connection(BROKER) as conn:
        p = conn.Producer()
        for _ in range(2):
            p.publish(ev, routing_key=events, exchange="", serializer="json")
    wait_for(lambda: runs() == (1, 3), timeout=60,
             what="both re-deliveries answered as already loaded")
    again = run(celery_app, q, key)
    assert again["already_loaded"] is True and again["rows_loaded"] == 30
    assert again["ingestion_id"] == first["ingestion_id"]
    (rec,) = records(db, key)
    assert (rec["status"], rec["attempts"], rec["rows_loaded"]) == ("COMPLETED", 1, 30)
    check_claims(rows(db, "pharmacy_claim", key), recs, etag, key, rec["id"])
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM ingest.pharmacy_claim WHERE claim_id LIKE %s",
                    (prefix + "-%",))
        assert cur.fetchone()[0] == 30
    mgmt.delete_queue(q)


def test_new_version_replaces_old_rows(make_worker, celery_app, db, s3, migrated, prefix,
                                       queues):
    w = start_worker(make_worker, queues, prefix, events=False)
    key = f"{prefix}/pharmacy_claims_versioned.csv"
    v1 = claims(prefix, 6)                                     # C0..C5
    etag1 = upload(s3, key, to_csv(CLAIM_COLS, v1))
    r1 = run(celery_app, w.queues[0], key)
    assert r1["rows_loaded"] == 6 and r1["rows_replaced"] == 0
    v2 = claims(prefix, 5, start=3, override={0: {"paid_amount": "999.99"}})   # C3..C7, C3 changed
    etag2 = upload(s3, key, to_csv(CLAIM_COLS, v2))
    assert etag2 != etag1
    r2 = run(celery_app, w.queues[0], key)
    assert (r2["rows_loaded"], r2["rows_replaced"], r2["etag"]) == (5, 3, etag2)
    recs = records(db, key)
    assert [(r["etag"], r["status"]) for r in recs] == [(etag1, "COMPLETED"),
                                                        (etag2, "COMPLETED")]
    got = rows(db, "pharmacy_claim", key)
    check_claims(got, v2, etag2, key, recs[1]["id"])
    assert got[0]["paid_amount"] == decimal.Decimal("999.99")
    # an old notification of version 1 arriving late loads nothing (HEAD says version 2)
    r3 = run(celery_app, w.queues[0], key, etag=etag1)
    assert r3["already_loaded"] is True and r3["etag"] == etag2
    assert len(records(db, key)) == 2


# ---------------------------------------------------------------- acceptance 4


def test_unknown_kind_and_malformed_event_dead_lettered(make_worker, celery_app, db, s3,
                                                        migrated, prefix, queues, mgmt):
    events, dlq = queues
    w = start_worker(make_worker, queues, prefix)
    key = f"{prefix}/inbox/mystery_report.xlsx"
    upload(s3, key, b"PK\x03\x04 not a strategy's file")
    (rec,) = wait_status(db, key, "DEAD_LETTERED")
    assert rec["strategy"] is None and rec["rows_loaded"] == 0
    assert rec["error"].startswith(f"unknown file kind: no ingestion strategy matches "
                                   f"s3://{BUCKET}/{key}")
    (m,) = dead_letters(mgmt, dlq)
    h = m["properties"]["headers"]
    assert h["x-celeriac-reason"].startswith("LookupError: unknown file kind: no ingestion "
                                             f"strategy matches s3://{BUCKET}/{key}")
    assert h["x-celeriac-error"] == "task_failed"
    assert h["task"] == "ingest.process_s3_object"     # the task message itself, replayable
    assert json.loads(m["payload"])[0] == [BUCKET, key]
    # malformed notifications: not JSON at all, and JSON of no known shape
    with Connection(BROKER) as conn:
        p = conn.Producer()
        p.publish(b"\x00\x01 not json", routing_key=events, exchange="",
                  content_type="application/json", content_encoding="binary")
        p.publish({"neither": "shape"}, routing_key=events, exchange="", serializer="json")
    got = dead_letters(mgmt, dlq, n=2)
    reasons = sorted(g["properties"]["headers"]["x-celeriac-reason"] for g in got)
    assert all(g["properties"]["headers"]["x-celeriac-error"] == "s3_event" for g in got)
    assert any("not an S3 event notification" in r for r in reasons), reasons
    assert any("JSON" in r or "json" in r for r in reasons), reasons
    # a poison task message (no bucket/key): FAILURE to the caller, then the dead-letter queue
    with pytest.raises(TypeError, match="needs two non-empty strings"):
        celery_app.send_task("ingest.process_s3_object", args=[], queue=w.queues[0]).get(
            timeout=60)
    (m,) = dead_letters(mgmt, dlq)
    assert m["properties"]["headers"]["x-celeriac-reason"].startswith("TypeError: ")


def test_permanent_failures_dead_lettered(make_worker, celery_app, db, s3, migrated, prefix,
                                          queues, mgmt):
    """A file the reader can't parse and an object that is gone: DEAD_LETTERED at once (no
    retries), reason in the record and in the dead-letter headers."""
    events, dlq = queues
    w = start_worker(make_worker, queues, prefix, events=False)
    key = f"{prefix}/pharmacy_claim_broken.csv"
    upload(s3, key, ",".join(CLAIM_COLS) + '\nC1,"never closed\n')
    with pytest.raises(ValueError, match="cannot be read as csv: CSV line 2"):
        run(celery_app, w.queues[0], key)
    (rec,) = records(db, key)
    assert rec["status"] == "DEAD_LETTERED" and "unterminated" in rec["error"]
    gone = f"{prefix}/pharmacy_claim_gone.csv"
    with pytest.raises(FileNotFoundError):
        run(celery_app, w.queues[0], gone, etag="abc")
    (rec,) = records(db, gone)
    assert (rec["status"], rec["etag"], rec["strategy"]) == ("DEAD_LETTERED", "abc",
                                                             "pharmacy_claims")
    got = dead_letters(mgmt, dlq, n=2)
    reasons = [g["properties"]["headers"]["x-celeriac-reason"] for g in got]
    assert any(r.startswith("ValueError: ") and "cannot be read" in r for r in reasons)
    assert any(r.startswith("FileNotFoundError: ") for r in reasons)
    assert "task.retried" not in w.log()


def test_transient_failure_retried_then_dead_lettered_then_replayed(make_worker, celery_app, db,
                                                                    s3, migrated, prefix, queues,
                                                                    mgmt, tmp_path):
    """The target table is locked by someone else: each attempt times out on the lock (a
    transient error), is retried once (CELERIAC_INGEST_MAX_RETRIES=1), then dead-lettered with
    the reason; after the lock is gone, moving the message back from the dead-letter queue
    loads the file. The strategy and its table are this test's own (a custom strategies
    file: adding a file kind is configuration)."""
    events, dlq = queues
    table = f"ingest_e2e_{uuid.uuid4().hex[:8]}"
    with db.cursor() as cur:
        cur.execute(f"""CREATE TABLE public.{table} (id text PRIMARY KEY, v integer NOT NULL,
                        b text, k text, e text, ln bigint)""")
    strategies = {"strategies": [{
        "name": "e2e_locked", "key_pattern": f"{prefix}/**.csv", "format": "csv",
        "schema": {"fields": [{"name": "id", "type": "string"}, {"name": "v", "type": "integer"}],
                   "primaryKey": ["id"]},
        "target": {"table": f"public.{table}",
                   "columns": {"id": "id", "v": "v", "b": "$bucket", "k": "$key", "e": "$etag",
                               "ln": "$line"},
                   "conflict_key": ["id"]}}]}
    path = tmp_path / "strategies.json"
    path.write_text(json.dumps(strategies))
    w = start_worker(make_worker, queues, prefix, CELERIAC_INGEST_STRATEGIES=str(path),
                     CELERIAC_INGEST_MAX_RETRIES="1", CELERIAC_INGEST_RETRY_DELAY="0.2",
                     CELERIAC_INGEST_LOCK_TIMEOUT_MS="300")
    key = f"{prefix}/numbers.csv"
    upload(s3, key, "id,v\na,1\nb,2\n")
    locker = psycopg2.connect(os.environ["DATABASE_URL"])
    try:
        with locker.cursor() as cur:
            cur.execute(f"LOCK TABLE public.{table} IN ACCESS EXCLUSIVE MODE")
            (rec,) = wait_status(db, key, "DEAD_LETTERED", timeout=90)
        assert rec["attempts"] == 2 and rec["strategy"] == "e2e_locked"
        assert rec["error"].startswith("gave up after 2 attempts: ")
        assert "55P03" in rec["error"]
        assert w.log().count("task.retried") == 1
        peek = wait_for(lambda: mgmt._req("POST", f"/queues/%2F/{dlq}/get",
                                          {"count": 1, "ackmode": "ack_requeue_true",
                                           "encoding": "auto"}),
                        timeout=30, what="the dead-lettered task")
        assert peek[0]["properties"]["headers"]["x-celeriac-reason"].startswith(
            "ConnectionError: gave up after 2 attempts")
    finally:
        locker.rollback()
        locker.close()
    # replay: the dead-lettered message moved back to the task queue as it is (over AMQP:
    # the management API's JSON rendering of headers is lossy)
    with Connection(BROKER) as conn:
        ch = conn.default_channel
        raw = wait_for(lambda: ch.basic_get(dlq, no_ack=False), timeout=30,
                       what="basic.get from the dead-letter queue")
        ch.basic_publish(raw, exchange="", routing_key=w.queues[0])
        ch.basic_ack(raw.delivery_tag)
    (rec,) = wait_status(db, key, "COMPLETED", timeout=60)
    assert (rec["attempts"], rec["rows_loaded"], rec["error"]) == (3, 2, None)
    with db.cursor() as cur:
        cur.execute(f"SELECT id, v, ln FROM public.{table} ORDER BY id")
        assert cur.fetchall() == [("a", 1, 2), ("b", 2, 3)]
        cur.execute(f"DROP TABLE public.{table}")
    assert "from=DEAD_LETTERED to=PROCESSING" in w.log()
